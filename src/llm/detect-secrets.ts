/**
 * Detector for secrets: credentials someone pasted into a message or a document, which must never reach a model.
 *
 * - Known key shapes, by prefix and length: OpenAI/Anthropic `sk-…`, Stripe `sk_live_…`/`rk_…`/`whsec_…`, Slack
 *   `xoxb-…`/`xoxp-…`/`xapp-…`, AWS access key ids `AKIA…`/`ASIA…`, GitHub `ghp_…`/`github_pat_…`, GitLab
 *   `glpat-…`, Google `AIza…`, Hugging Face `hf_…`, npm `npm_…`, and JSON Web Tokens (`eyJ….eyJ….…`).
 * - PEM private keys: from `-----BEGIN … PRIVATE KEY-----` to its `END` line (or the end of the text).
 * - The value after a credential word and `:` or `=` (`password: hunter2`, `api_key="…"`), when it has a digit or a
 *   symbol (so `password: reset` is left alone).
 * - Other high-entropy tokens: 24+ letters and digits mixing upper case, lower case and digits, switching between
 *   them often, with a Shannon entropy of at least 3.5 bits per character, and not word-like (over a third of
 *   the letters vowels, or 30 % and few digits). Words, camelCase names, slugs, hex ids, UUIDs and dates fail at least one of
 *   these, which keeps prose and code identifiers out; some random keys pass as word-like (about one in twenty).
 * The text is split once into runs of token characters; each run is classified in time linear in its length.
 */
import type { SensitiveSpan } from './redaction-policy.ts';

function isTokenCharacter(code: number): boolean {
  return (
    (code >= 48 && code <= 57) ||
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    code === 45 || // -
    code === 95 || // _
    code === 46 // .
  );
}

interface KnownShape {
  prefix: string;
  /** Characters after the prefix, at least. */
  minimum: number;
  /** Exactly this many after the prefix (AWS ids). */
  exact?: number;
}

const knownShapes: readonly KnownShape[] = [
  { prefix: 'sk-', minimum: 20 },
  { prefix: 'sk_live_', minimum: 16 },
  { prefix: 'sk_test_', minimum: 16 },
  { prefix: 'rk_live_', minimum: 16 },
  { prefix: 'whsec_', minimum: 16 },
  { prefix: 'xoxb-', minimum: 10 },
  { prefix: 'xoxp-', minimum: 10 },
  { prefix: 'xoxa-', minimum: 10 },
  { prefix: 'xoxe-', minimum: 10 },
  { prefix: 'xoxr-', minimum: 10 },
  { prefix: 'xoxs-', minimum: 10 },
  { prefix: 'xoxe.xoxp-', minimum: 10 },
  { prefix: 'xapp-', minimum: 10 },
  { prefix: 'AKIA', minimum: 16, exact: 16 },
  { prefix: 'ASIA', minimum: 16, exact: 16 },
  { prefix: 'ghp_', minimum: 30 },
  { prefix: 'gho_', minimum: 30 },
  { prefix: 'ghu_', minimum: 30 },
  { prefix: 'ghs_', minimum: 30 },
  { prefix: 'ghr_', minimum: 30 },
  { prefix: 'github_pat_', minimum: 22 },
  { prefix: 'glpat-', minimum: 20 },
  { prefix: 'AIza', minimum: 30 },
  { prefix: 'hf_', minimum: 30 },
  { prefix: 'npm_', minimum: 30 },
];

const credentialWords = [
  'password',
  'passwd',
  'passphrase',
  'pwd',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'api_key',
  'apikey',
  'api-key',
  'access_key',
  'secret_key',
  'private_key',
  'auth',
  'authorization',
  'bearer',
];

function matchesKnownShape(run: string): boolean {
  for (const shape of knownShapes) {
    if (!run.startsWith(shape.prefix)) continue;
    const rest = run.length - shape.prefix.length;
    if (shape.exact !== undefined ? rest === shape.exact : rest >= shape.minimum) return true;
  }
  return isJsonWebToken(run);
}

function isJsonWebToken(run: string): boolean {
  if (!run.startsWith('eyJ')) return false;
  const parts = run.split('.');
  return parts.length === 3 && parts[1]?.startsWith('eyJ') === true && parts.every((part) => part.length >= 10);
}

/** Mixed classes, frequent switches between them and high entropy: how random keys look and words do not. */
export function looksRandom(run: string): boolean {
  const core = run.replaceAll('-', '').replaceAll('_', '').replaceAll('.', '');
  if (core.length < 24) return false;
  let upper = 0;
  let lower = 0;
  let digit = 0;
  let switches = 0;
  let previous = '';
  const counts = new Map<string, number>();
  for (const character of core) {
    const code = character.charCodeAt(0);
    const kind = code <= 57 ? 'digit' : code <= 90 ? 'upper' : 'lower';
    if (kind === 'digit') digit++;
    else if (kind === 'upper') upper++;
    else lower++;
    if (previous !== '' && kind !== previous) switches++;
    previous = kind;
    counts.set(character, (counts.get(character) ?? 0) + 1);
  }
  if (upper === 0 || lower === 0 || digit === 0) return false;
  if (switches / core.length < 0.3) return false;
  // camelCase names and words carry vowels (about 38 % of English letters, 19 % of random ones) and few digits.
  const vowelShare = vowels(core) / (upper + lower);
  if (vowelShare >= 0.35 || (vowelShare >= 0.3 && digit / core.length < 0.15)) return false;
  let entropy = 0;
  for (const count of counts.values()) {
    const share = count / core.length;
    entropy -= share * Math.log2(share);
  }
  return entropy >= 3.5;
}

function vowels(text: string): number {
  let count = 0;
  for (const character of text) if ('aeiouAEIOU'.includes(character)) count++;
  return count;
}

/**
 * The value after a credential word ending at `wordEnd` (`: value`, `="value"`, and for `Bearer` a space), or -1.
 * Reads at most a few characters of punctuation and 512 of value.
 */
function credentialValue(text: string, wordEnd: number, bearer: boolean): { start: number; end: number } | -1 {
  let at = wordEnd;
  while (at < text.length && at - wordEnd < 3 && (text[at] === ' ' || text[at] === '"' || text[at] === "'")) at++;
  if (text[at] === ':' || text[at] === '=') at++;
  else if (!bearer || at === wordEnd) return -1;
  while (at < text.length && at - wordEnd < 8 && (text[at] === ' ' || text[at] === '"' || text[at] === "'")) at++;
  const start = at;
  while (at < text.length && at - start < 512 && !' \t\r\n"\'`,;<>'.includes(text[at] as string)) at++;
  let end = at;
  while (end > start && '.)]}'.includes(text[end - 1] as string)) end--;
  const value = text.slice(start, end);
  if (value.length < 6 || !/[\d\W_]/.test(value)) return -1;
  return { start, end };
}

function privateKeyBlocks(text: string, spans: SensitiveSpan[]): void {
  let from = 0;
  for (;;) {
    const begin = text.indexOf('-----BEGIN ', from);
    if (begin === -1) return;
    const headerEnd = text.indexOf('-----', begin + 11);
    const header = headerEnd === -1 ? '' : text.slice(begin, headerEnd);
    if (headerEnd === -1 || header.length > 60 || !header.endsWith('PRIVATE KEY')) {
      from = begin + 11;
      continue;
    }
    const endMarker = text.indexOf('-----END ', headerEnd + 5);
    const close = endMarker === -1 ? -1 : text.indexOf('-----', endMarker + 9);
    const end = close === -1 ? text.length : close + 5;
    spans.push({ start: begin, end, kind: 'secret', key: text.slice(begin, end) });
    from = end;
  }
}

/** Every secret found by the rules above, in text order. */
export function findSecrets(text: string): SensitiveSpan[] {
  const spans: SensitiveSpan[] = [];
  privateKeyBlocks(text, spans);
  let at = 0;
  while (at < text.length) {
    if (!isTokenCharacter(text.charCodeAt(at))) {
      at++;
      continue;
    }
    const start = at;
    while (at < text.length && isTokenCharacter(text.charCodeAt(at))) at++;
    let end = at;
    while (end > start && text[end - 1] === '.') end--;
    const run = text.slice(start, end);
    if (matchesKnownShape(run) || looksRandom(run)) {
      spans.push({ start, end, kind: 'secret', key: run });
      continue;
    }
    const word = run.toLowerCase();
    if (run.length <= 20 && credentialWords.includes(word)) {
      const value = credentialValue(text, end, word === 'bearer');
      if (value !== -1) {
        spans.push({ start: value.start, end: value.end, kind: 'secret', key: text.slice(value.start, value.end) });
        at = Math.max(at, value.end);
      }
    }
  }
  return spans.sort((left, right) => left.start - right.start);
}
