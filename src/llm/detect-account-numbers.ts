/**
 * Detectors for account numbers: payment card numbers and IBANs. Both are validated by their check digits, so a
 * random number of the right length is taken only when its checksum holds (one in ten for Luhn, one in 97 for IBAN).
 *
 * - A card number is 13–19 digits, written together or in groups separated by single spaces or dashes, whose Luhn
 *   checksum holds; it must not touch a letter or digit on either side, nor follow a `+` (a phone number). Inside a
 *   longer run of groups (`555 010 2345 4111 1111 1111 1111`), every window of whole groups is tried, and windows
 *   printed as cards are (one run, groups of four, 4-6-5) are preferred to longer ones, then longer to shorter.
 * - An IBAN is two letters, two check digits and 11–30 letters or digits, together or in groups separated by single
 *   spaces, whose ISO 13616 mod-97 remainder is 1; case is ignored.
 * Both scans read each character a bounded number of times: a candidate is read once, its windows are at most 19
 * groups long, and the scan resumes after the candidate.
 */
import type { SensitiveSpan } from './redaction-policy.ts';

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isAlphanumeric(code: number): boolean {
  return isDigit(code) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** Luhn's checksum over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let index = digits.length - 1; index >= 0; index--) {
    let value = digits.charCodeAt(index) - 48;
    if (double) {
      value *= 2;
      if (value > 9) value -= 9;
    }
    sum += value;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

interface Group {
  start: number;
  end: number;
}

/** Digit groups from `start`, joined by single spaces or dashes, up to the first other character. */
function readGroups(text: string, start: number): Group[] {
  const groups: Group[] = [];
  let at = start;
  while (at < text.length) {
    const groupStart = at;
    while (at < text.length && isDigit(text.charCodeAt(at))) at++;
    groups.push({ start: groupStart, end: at });
    const separator = text[at];
    if ((separator === ' ' || separator === '-') && isDigit(text.charCodeAt(at + 1))) at++;
    else break;
  }
  return groups;
}

function digitsOf(text: string, groups: Group[], from: number, to: number): string {
  let digits = '';
  for (let index = from; index <= to; index++) {
    const group = groups[index] as Group;
    digits += text.slice(group.start, group.end);
  }
  return digits;
}

/** How cards are printed: one run of digits, groups of four (the last may be shorter), or 4-6-5 / 4-6-4. */
function isCardShaped(groups: Group[], from: number, to: number): boolean {
  if (from === to) return true;
  const sizes = groups.slice(from, to + 1).map((group) => group.end - group.start);
  if (sizes.length === 3 && sizes[0] === 4 && sizes[1] === 6 && (sizes[2] === 5 || sizes[2] === 4)) return true;
  return sizes.slice(0, -1).every((size) => size === 4) && (sizes.at(-1) ?? 0) <= 4;
}

interface Window {
  from: number;
  to: number;
  shaped: boolean;
  digits: number;
}

/** The Luhn-valid windows of whole groups in one candidate, card-shaped and longer ones first, without overlap. */
function cardWindows(text: string, groups: Group[], touching: boolean): Window[] {
  const windows: Window[] = [];
  for (let from = 0; from < groups.length; from++) {
    let digitCount = 0;
    for (let to = from; to < groups.length && to - from < 19; to++) {
      const group = groups[to] as Group;
      digitCount += group.end - group.start;
      if (digitCount > 19 || (to === groups.length - 1 && touching)) break;
      if (digitCount >= 13 && luhnValid(digitsOf(text, groups, from, to))) {
        windows.push({ from, to, shaped: isCardShaped(groups, from, to), digits: digitCount });
      }
    }
  }
  windows.sort(
    (left, right) => Number(right.shaped) - Number(left.shaped) || right.digits - left.digits || left.from - right.from,
  );
  const taken = new Uint8Array(groups.length);
  const chosen: Window[] = [];
  for (const window of windows) {
    if (taken.subarray(window.from, window.to + 1).some((value) => value === 1)) continue;
    taken.fill(1, window.from, window.to + 1);
    chosen.push(window);
  }
  return chosen;
}

/** Every Luhn-valid card number. */
export function findCardNumbers(text: string): SensitiveSpan[] {
  const spans: SensitiveSpan[] = [];
  let at = 0;
  while (at < text.length) {
    const code = text.charCodeAt(at);
    if (!isDigit(code) || (at > 0 && (isAlphanumeric(text.charCodeAt(at - 1)) || text[at - 1] === '+'))) {
      at++;
      continue;
    }
    const groups = readGroups(text, at);
    const last = groups.at(-1) as Group;
    const touching = last.end < text.length && isAlphanumeric(text.charCodeAt(last.end));
    for (const window of cardWindows(text, groups, touching)) {
      spans.push({
        start: (groups[window.from] as Group).start,
        end: (groups[window.to] as Group).end,
        kind: 'card',
        key: digitsOf(text, groups, window.from, window.to),
      });
    }
    at = last.end + 1;
  }
  return spans.sort((left, right) => left.start - right.start);
}

/** ISO 13616: move the first four characters to the end, letters as 10–35, remainder mod 97 must be 1. */
export function ibanValid(compact: string): boolean {
  if (compact.length < 15 || compact.length > 34) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const character of rearranged) {
    const code = character.charCodeAt(0);
    const value = isDigit(code) ? code - 48 : code - 55;
    remainder = value > 9 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

function isLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** Every IBAN whose check digits hold, grouped or not. */
export function findIbans(text: string): SensitiveSpan[] {
  const spans: SensitiveSpan[] = [];
  let at = 0;
  while (at + 4 <= text.length) {
    const starts =
      isLetter(text.charCodeAt(at)) &&
      isLetter(text.charCodeAt(at + 1)) &&
      isDigit(text.charCodeAt(at + 2)) &&
      isDigit(text.charCodeAt(at + 3)) &&
      (at === 0 || !isAlphanumeric(text.charCodeAt(at - 1)));
    if (!starts) {
      at++;
      continue;
    }
    // Read up to 34 letters or digits with single spaces between groups, remembering where each group ends.
    const groupEnds: number[] = [];
    let compact = '';
    let cursor = at;
    while (cursor < text.length && compact.length < 34) {
      const code = text.charCodeAt(cursor);
      if (isAlphanumeric(code)) {
        compact += text[cursor]?.toUpperCase();
        cursor++;
        continue;
      }
      if (text[cursor] === ' ' && isAlphanumeric(text.charCodeAt(cursor + 1)) && compact.length >= 4) {
        groupEnds.push(cursor);
        cursor++;
        continue;
      }
      break;
    }
    groupEnds.push(cursor);
    let matched = false;
    for (let index = groupEnds.length - 1; index >= 0 && !matched; index--) {
      const end = groupEnds[index] as number;
      if (end < text.length && isAlphanumeric(text.charCodeAt(end))) continue;
      const candidate = text.slice(at, end).replaceAll(' ', '').toUpperCase();
      if (ibanValid(candidate)) {
        spans.push({ start: at, end, kind: 'iban', key: candidate });
        at = end;
        matched = true;
      }
    }
    if (!matched) at += 4;
  }
  return spans;
}
