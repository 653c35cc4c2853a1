/**
 * `findSensitiveSpans`: every piece of personal data or secret in a text that the policy masks, as non-overlapping
 * spans in text order. Detectors run independently; where their findings overlap, the kind listed first in
 * `redactionKinds` wins (a secret over a card, a card over an IBAN, an email or a phone), then the earlier span.
 * Linear in the text: each detector is, and overlaps are settled by marking covered characters once.
 */
import { findCardNumbers, findIbans } from './detect-account-numbers.ts';
import { findEmails, findPhones } from './detect-contact.ts';
import { findSecrets } from './detect-secrets.ts';
import { type RedactionKind, type RedactionPolicy, redactionKinds } from './redaction-policy.ts';

export interface SensitiveSpan {
  start: number;
  end: number;
  kind: RedactionKind;
  /** What makes two findings the same value (lower-cased email, digits of a number): same key, same placeholder. */
  key: string;
}

const detectors: Record<RedactionKind, (text: string) => SensitiveSpan[]> = {
  secret: findSecrets,
  card: findCardNumbers,
  iban: findIbans,
  email: findEmails,
  phone: findPhones,
};

export function findSensitiveSpans(text: string, policy: RedactionPolicy): SensitiveSpan[] {
  const covered = new Uint8Array(text.length);
  const chosen: SensitiveSpan[] = [];
  for (const kind of redactionKinds) {
    if (!policy.has(kind)) continue;
    for (const span of detectors[kind](text)) {
      let free = span.end > span.start;
      for (let at = span.start; at < span.end && free; at++) if (covered[at] === 1) free = false;
      if (!free) continue;
      covered.fill(1, span.start, span.end);
      chosen.push(span);
    }
  }
  return chosen.sort((left, right) => left.start - right.start);
}
