/**
 * The redaction policy: which kinds of personal data the gateway replaces with placeholders before a model sees a
 * request (`REDACT=emails,phones,ibans`). Card numbers (Luhn-valid) and secrets (API keys, tokens, private keys,
 * `password=` values) are masked whatever the list says: `policyFrom` always adds them, so no configuration and no
 * caller can turn them off.
 */

/** Every kind a detector finds, in the order overlaps are resolved (a secret wins over a card, a card over a phone). */
export const redactionKinds = ['secret', 'card', 'iban', 'email', 'phone'] as const;
export type RedactionKind = (typeof redactionKinds)[number];

/** The kinds masked whatever `REDACT` says. */
export const alwaysRedacted: readonly RedactionKind[] = ['card', 'secret'];

/** The names `REDACT` accepts, as people write them (plural), and the kind each selects. */
export const redactionNames: Readonly<Record<string, RedactionKind>> = {
  emails: 'email',
  phones: 'phone',
  ibans: 'iban',
  cards: 'card',
  secrets: 'secret',
};

export type RedactionPolicy = ReadonlySet<RedactionKind>;

/** One finding of a detector: a range of the text and what it is. */
export interface SensitiveSpan {
  start: number;
  end: number;
  kind: RedactionKind;
  /** What makes two findings the same value (lower-cased email, digits of a number): same key, same placeholder. */
  key: string;
}

/** The policy for the kinds chosen, cards and secrets included whatever was chosen. */
export function policyFrom(kinds: Iterable<RedactionKind> = []): RedactionPolicy {
  return new Set<RedactionKind>([...alwaysRedacted, ...kinds]);
}

/**
 * Parses a `REDACT` value: comma-separated names, case and spaces ignored, `none` or empty for the default (cards and
 * secrets only). Returns the kinds, or the problem in words naming the unknown entries and the accepted names.
 */
export function parseRedactList(
  text: string | undefined,
): { ok: true; kinds: RedactionKind[] } | { ok: false; problem: string } {
  const names = (text ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0 && name !== 'none');
  const unknown = names.filter((name) => !Object.hasOwn(redactionNames, name));
  if (unknown.length > 0) {
    return {
      ok: false,
      problem: `unknown ${unknown.length === 1 ? 'name' : 'names'} ${unknown.map((name) => `"${name.slice(0, 40)}"`).join(', ')}; use any of ${Object.keys(redactionNames).join(', ')} (cards and secrets are always masked)`,
    };
  }
  return { ok: true, kinds: [...new Set(names.map((name) => redactionNames[name] as RedactionKind))] };
}
