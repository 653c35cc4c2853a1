/**
 * `findSensitiveSpans`: every piece of personal data or secret in a text that the policy masks, as non-overlapping
 * spans in text order. Detectors run independently; where their findings overlap, the kind listed first in
 * `redactionKinds` wins (a secret over a card, a card over an IBAN, an email or a phone), then the earlier span.
 * A detector sees what an earlier one took as NUL characters, so its findings stop there (`+1 555 010 2345` before
 * a card number is still a phone). Linear in the text: each detector is, and covered characters are marked once.
 */
import { findCardNumbers, findIbans } from './detect-account-numbers.ts';
import { findEmails, findPhones } from './detect-contact.ts';
import { findSecrets } from './detect-secrets.ts';
import { type RedactionKind, type RedactionPolicy, redactionKinds, type SensitiveSpan } from './redaction-policy.ts';

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
  let seen = text;
  for (const kind of redactionKinds) {
    if (!policy.has(kind)) continue;
    const before = chosen.length;
    for (const span of detectors[kind](seen)) {
      let free = span.end > span.start;
      for (let at = span.start; at < span.end && free; at++) if (covered[at] === 1) free = false;
      if (!free) continue;
      covered.fill(1, span.start, span.end);
      chosen.push(span);
    }
    // Later detectors see what was taken as NUL characters, so a phone stops where a card begins.
    if (chosen.length > before) seen = blankOut(text, covered);
  }
  return chosen.sort((left, right) => left.start - right.start);
}

function blankOut(text: string, covered: Uint8Array): string {
  let out = '';
  let at = 0;
  while (at < text.length) {
    let end = at;
    const value = covered[at];
    while (end < text.length && covered[end] === value) end++;
    out += value === 1 ? '\u0000'.repeat(end - at) : text.slice(at, end);
    at = end;
  }
  return out;
}
