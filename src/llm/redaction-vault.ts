/**
 * `RedactionVault`: the placeholders of one model call, and the way back.
 *
 * - `redact` replaces every span the policy masks with `<EMAIL_1>`, `<PHONE_2>`, `<CARD_1>`, `<IBAN_1>`,
 *   `<SECRET_1>`; the same value (same detector key: an email in any case, a number with any grouping) gets the same
 *   placeholder wherever it occurs in the call, and numbers are given in order of first appearance, so a conversation
 *   that grows by appending (a thread, the agent's steps) keeps its earlier placeholders from call to call.
 * - A placeholder-shaped text someone typed (`<EMAIL_1>` in a message) is noted first (`noteLiterals`) and its number
 *   is never given out, so it is never "restored" into someone's value.
 * - `restore` puts back what Deskhand may show: emails, phones and IBANs as written; a card as its last four digits
 *   (`•••• 1111`) and a secret as `[secret removed]` — those two are never shown again, whatever the policy.
 *   Unknown placeholders stay as they are.
 * - `StreamRestorer` restores a streamed reply chunk by chunk, holding back a tail that may be the start of a
 *   placeholder split across chunks (at most 16 characters), so the reader never sees half a placeholder.
 * Scans are linear: placeholders are read by hand (no regular expression) and are at most 16 characters long.
 */
import type { RedactionKind, RedactionPolicy } from './redaction-policy.ts';
import { findSensitiveSpans } from './sensitive-span.ts';

const labels: Record<RedactionKind, string> = {
  email: 'EMAIL',
  phone: 'PHONE',
  card: 'CARD',
  iban: 'IBAN',
  secret: 'SECRET',
};

/** `<` + up to 6 capitals + `_` + up to 7 digits + `>`. */
const maxPlaceholderLength = 16;

interface Placeholder {
  start: number;
  end: number;
  text: string;
}

function isCapital(code: number): boolean {
  return code >= 65 && code <= 90;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The placeholder-shaped token starting at `start` (which holds `<`), or undefined. */
function placeholderAt(text: string, start: number): Placeholder | undefined {
  let at = start + 1;
  while (at < text.length && at - start <= 7 && isCapital(text.charCodeAt(at))) at++;
  if (at === start + 1 || text[at] !== '_') return undefined;
  at++;
  const digitsStart = at;
  while (at < text.length && at - digitsStart < 7 && isDigit(text.charCodeAt(at))) at++;
  if (at === digitsStart || text[at] !== '>') return undefined;
  return { start, end: at + 1, text: text.slice(start, at + 1) };
}

/** Every placeholder-shaped token in a text. */
function placeholdersIn(text: string): Placeholder[] {
  const found: Placeholder[] = [];
  for (let at = text.indexOf('<'); at !== -1; at = text.indexOf('<', at + 1)) {
    const placeholder = placeholderAt(text, at);
    if (placeholder) found.push(placeholder);
  }
  return found;
}

function displayOf(kind: RedactionKind, original: string): string {
  if (kind === 'card') return `•••• ${original.replace(/\D/g, '').slice(-4)}`;
  if (kind === 'secret') return '[secret removed]';
  return original;
}

export class RedactionVault {
  readonly policy: RedactionPolicy;
  /** Occurrences replaced, by kind (what the metric counts; never the values). */
  readonly counts: Record<RedactionKind, number> = { email: 0, phone: 0, card: 0, iban: 0, secret: 0 };
  private readonly byKey = new Map<string, string>();
  private readonly shown = new Map<string, string>();
  private readonly next: Record<RedactionKind, number> = { email: 1, phone: 1, card: 1, iban: 1, secret: 1 };
  private readonly literals = new Set<string>();

  constructor(policy: RedactionPolicy) {
    this.policy = policy;
  }

  /** Placeholders minted so far. */
  get size(): number {
    return this.shown.size;
  }

  /** Notes placeholder-shaped text already present, so its numbers are skipped. Call on every text before `redact`. */
  noteLiterals(text: string): void {
    for (const placeholder of placeholdersIn(text)) this.literals.add(placeholder.text);
  }

  /** The text with every masked span replaced by its placeholder. */
  redact(text: string): string {
    const spans = findSensitiveSpans(text, this.policy);
    if (spans.length === 0) return text;
    let out = '';
    let at = 0;
    for (const span of spans) {
      out += text.slice(at, span.start) + this.placeholderFor(span.kind, span.key, text.slice(span.start, span.end));
      this.counts[span.kind]++;
      at = span.end;
    }
    return out + text.slice(at);
  }

  /** The text with every placeholder of this vault replaced by what may be shown. */
  restore(text: string): string {
    if (this.shown.size === 0) return text;
    let out = '';
    let at = 0;
    for (const placeholder of placeholdersIn(text)) {
      const value = this.shown.get(placeholder.text);
      if (value === undefined) continue;
      out += text.slice(at, placeholder.start) + value;
      at = placeholder.end;
    }
    return out + text.slice(at);
  }

  /** `restore` on every string inside a JSON value (keys included), so escaping stays right. */
  restoreValue<T>(value: T): T {
    if (typeof value === 'string') return this.restore(value) as T;
    if (Array.isArray(value)) return value.map((item) => this.restoreValue(item)) as T;
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [this.restore(key), this.restoreValue(item)]),
      ) as T;
    }
    return value;
  }

  /** `redact` on every string inside a JSON value. */
  redactValue(value: unknown): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (Array.isArray(value)) return value.map((item) => this.redactValue(item));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [this.redact(key), this.redactValue(item)]));
    }
    return value;
  }

  /** JSON text (tool arguments, a structured reply) with its strings redacted; not JSON: redacted as text. */
  redactJson(json: string): string {
    try {
      return JSON.stringify(this.redactValue(JSON.parse(json)));
    } catch {
      return this.redact(json);
    }
  }

  /** JSON text with its strings restored; not JSON: restored as text. */
  restoreJson(json: string): string {
    if (this.shown.size === 0) return json;
    try {
      return JSON.stringify(this.restoreValue(JSON.parse(json)));
    } catch {
      return this.restore(json);
    }
  }

  private placeholderFor(kind: RedactionKind, key: string, original: string): string {
    const known = this.byKey.get(`${kind}:${key}`);
    if (known) return known;
    let placeholder = '';
    do placeholder = `<${labels[kind]}_${this.next[kind]++}>`;
    while (this.literals.has(placeholder));
    this.byKey.set(`${kind}:${key}`, placeholder);
    this.shown.set(placeholder, displayOf(kind, original));
    return placeholder;
  }
}

/** Whether `tail` (starting with `<`) could still grow into a placeholder. */
function couldBePlaceholder(tail: string): boolean {
  if (tail.length >= maxPlaceholderLength) return false;
  let at = 1;
  while (at < tail.length && isCapital(tail.charCodeAt(at))) at++;
  if (at === tail.length) return true;
  if (tail[at] !== '_' || at === 1) return false;
  at++;
  while (at < tail.length && isDigit(tail.charCodeAt(at))) at++;
  return at === tail.length;
}

/** Restores a stream of text chunks; `end` emits what is held back. */
export class StreamRestorer {
  private pending = '';
  private readonly vault: RedactionVault;

  constructor(vault: RedactionVault) {
    this.vault = vault;
  }

  /** The restored text that can be shown now. */
  push(delta: string): string {
    const text = this.pending + delta;
    const lastOpen = text.lastIndexOf('<', text.length - 1);
    if (lastOpen !== -1 && text.length - lastOpen < maxPlaceholderLength && couldBePlaceholder(text.slice(lastOpen))) {
      this.pending = text.slice(lastOpen);
      return this.vault.restore(text.slice(0, lastOpen));
    }
    this.pending = '';
    return this.vault.restore(text);
  }

  /** Whatever was held back (an incomplete placeholder stays as written). */
  end(): string {
    const rest = this.pending;
    this.pending = '';
    return this.vault.restore(rest);
  }
}
