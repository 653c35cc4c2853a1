/**
 * Detectors for contact data: email addresses and phone numbers. Hand-written scans, not regular expressions, so each
 * is linear in the text whatever it holds: every character is looked at a bounded number of times (an email's local
 * part is read leftwards from its `@` only as far as the previous `@` or a character no address contains; a phone
 * candidate is read once from its first character and never re-read).
 *
 * What counts as a phone (false positives cost a placeholder the model sees, false negatives a leak; order ids and
 * dates are the usual look-alikes):
 * - `+` or `00` then 8–15 digits (E.164), grouped or not;
 * - a North American shape: `(555) 123-4567`, `555-123-4567`, `555.123.4567`, `555 123 4567`, with an optional `1`;
 * - a national number with a trunk `0` in at least two groups: `030 1234567`, `0151 1234 5678`, `06 12 34 56 78`;
 * - any 7–15 digits right after a word such as "phone", "call", "mobile", "tel" or "whatsapp".
 * A bare run of digits with no such cue is not a phone (it reads as an order id), nor is a date (`2024-01-15 10`).
 */
import type { SensitiveSpan } from './redaction-policy.ts';

const maxLocalPart = 64;
const maxDomain = 253;

function isAsciiAlphanumeric(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

const letterOrNumber = /[\p{L}\p{N}]/u;

/** A letter or digit of any script (one character, so the check is constant time). */
function isWordCharacter(character: string | undefined): boolean {
  if (character === undefined) return false;
  const code = character.charCodeAt(0);
  return code < 128 ? isAsciiAlphanumeric(code) : letterOrNumber.test(character);
}

function isLocalPartCharacter(character: string | undefined): boolean {
  return character !== undefined && (isWordCharacter(character) || "._%+-'".includes(character));
}

function isDomainCharacter(character: string | undefined): boolean {
  return character !== undefined && (isWordCharacter(character) || character === '-' || character === '.');
}

/** Every email address: `local@domain.tld`, the top-level label being two or more letters. */
export function findEmails(text: string): SensitiveSpan[] {
  const spans: SensitiveSpan[] = [];
  let previousAt = -1;
  let lastEnd = 0;
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    const floor = Math.max(previousAt + 1, lastEnd);
    previousAt = at;
    let start = at;
    while (start > floor && isLocalPartCharacter(text[start - 1])) start--;
    while (start < at && (text[start] === '.' || text[start] === "'")) start++;
    if (start === at || at - start > maxLocalPart) continue;
    let end = at + 1;
    while (end < text.length && end - at <= maxDomain && isDomainCharacter(text[end])) end++;
    while (end > at + 1 && (text[end - 1] === '.' || text[end - 1] === '-')) end--;
    const domain = text.slice(at + 1, end);
    const lastDot = domain.lastIndexOf('.');
    if (lastDot <= 0) continue;
    const topLevel = domain.slice(lastDot + 1);
    if (topLevel.length < 2 || [...topLevel].some((character) => !/\p{L}/u.test(character))) continue;
    spans.push({ start, end, kind: 'email', key: text.slice(start, end).toLowerCase() });
    lastEnd = end;
  }
  return spans;
}

const phoneCues = ['phone', 'call', 'mobile', 'cell', 'tel', 'whatsapp', 'fax', 'telefon', 'handy', 'ring', 'text me'];

/** Whether a phone cue word ends at most 14 characters before `start`, with no digit between it and the number. */
function hasPhoneCue(text: string, start: number): boolean {
  const before = text.slice(Math.max(0, start - 30), start).toLowerCase();
  return phoneCues.some((cue) => {
    const at = before.lastIndexOf(cue);
    if (at === -1) return false;
    const between = before.slice(at + cue.length);
    return between.length <= 14 && ![...between].some((character) => character >= '0' && character <= '9');
  });
}

interface PhoneCandidate {
  start: number;
  end: number;
  plus: boolean;
  groups: number[];
  /** Where each group ends, so a shorter candidate (fewer groups) can be tried. */
  groupEnds: number[];
}

/** Reads digits and single separators (space, dash, dot, parentheses) from `start`; stops at anything else. */
function readPhoneCandidate(text: string, start: number): PhoneCandidate {
  let at = start;
  const plus = text[at] === '+';
  if (plus) at++;
  const groups: number[] = [];
  const groupEnds: number[] = [];
  let current = 0;
  let end = at;
  let digits = 0;
  while (at < text.length && digits <= 16) {
    const code = text.charCodeAt(at);
    if (isDigit(code)) {
      current++;
      digits++;
      at++;
      end = at;
      continue;
    }
    // Separators between digit groups: at most two characters, e.g. ") " or " (" or "-".
    let gap = at;
    while (gap < text.length && gap - at < 2 && ' -.()'.includes(text[gap] as string)) gap++;
    if (gap === at || !isDigit(text.charCodeAt(gap))) break;
    if (current > 0) {
      groups.push(current);
      groupEnds.push(at);
    }
    current = 0;
    at = gap;
  }
  if (current > 0) {
    groups.push(current);
    groupEnds.push(end);
  }
  return { start, end, plus, groups, groupEnds };
}

/** The candidate cut after its first `count` groups. */
function firstGroups(candidate: PhoneCandidate, count: number): PhoneCandidate {
  return {
    ...candidate,
    groups: candidate.groups.slice(0, count),
    groupEnds: candidate.groupEnds.slice(0, count),
    end: candidate.groupEnds[count - 1] ?? candidate.start,
  };
}

function isPhone(candidate: PhoneCandidate, cue: boolean, text: string): boolean {
  const digits = candidate.groups.reduce((sum, group) => sum + group, 0);
  if (digits < 7 || digits > 15) return false;
  const first = text[candidate.start + (candidate.plus ? 1 : 0)] === '(' ? 1 : 0;
  const leading = text.slice(candidate.start + (candidate.plus ? 1 : 0) + first, candidate.end);
  if (candidate.plus) return digits >= 8;
  if (leading.startsWith('00')) return digits >= 11;
  const groups = candidate.groups[0] === 1 && leading.startsWith('1') ? candidate.groups.slice(1) : candidate.groups;
  if (groups.length === 3 && groups[0] === 3 && groups[1] === 3 && groups[2] === 4) return true;
  if (leading.startsWith('0') && candidate.groups.length >= 2 && digits >= 9 && digits <= 12) {
    const [head = 0] = candidate.groups;
    const french = candidate.groups.length === 5 && candidate.groups.every((group) => group === 2);
    if (head >= 3 || french) return true;
  }
  return cue;
}

/** Every phone number by the shapes above. */
export function findPhones(text: string): SensitiveSpan[] {
  const spans: SensitiveSpan[] = [];
  let at = 0;
  while (at < text.length) {
    const character = text[at] as string;
    const startsNumber =
      isDigit(character.charCodeAt(0)) ||
      ((character === '+' || character === '(') && isDigit(text.charCodeAt(at + 1))) ||
      (character === '+' && text[at + 1] === '(' && isDigit(text.charCodeAt(at + 2)));
    const before = text[at - 1];
    const attached = isWordCharacter(before) || (before !== undefined && '-_/.#@+$€£'.includes(before));
    if (!startsNumber || attached) {
      at++;
      continue;
    }
    const candidate = readPhoneCandidate(text, at);
    const cue = hasPhoneCue(text, at);
    // The longest run of whole groups that reads as a phone ("+1 555 010 2345" before "4111 1111 …").
    let found: PhoneCandidate | undefined;
    for (let count = candidate.groups.length; count > 0 && !found; count--) {
      const shorter = firstGroups(candidate, count);
      if (!isWordCharacter(text[shorter.end]) && isPhone(shorter, cue, text)) found = shorter;
    }
    if (found) {
      const digits = text.slice(found.start, found.end).replace(/\D/g, '');
      spans.push({ start: found.start, end: found.end, kind: 'phone', key: digits });
    }
    at = Math.max(found?.end ?? candidate.end, at + 1);
    // Skip the rest of a run of word characters so a candidate never starts inside one.
    while (at < text.length && isWordCharacter(text[at])) at++;
  }
  return spans;
}
