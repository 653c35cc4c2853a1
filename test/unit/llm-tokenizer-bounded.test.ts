/**
 * Token counting stays exact on ordinary text and bounded on hostile text: tiktoken's merge is quadratic in the
 * length of one run without whitespace (40,000 × U+FFFD took 31 s in one call), so runs longer than
 * `maxEncodedRun` are encoded in slices. The tests check the slicing (what bounds the work), that ordinary text —
 * prose, code, long URLs under the limit, CJK with spaces — is counted exactly as tiktoken counts it, and that a
 * sliced count stays within one token per slice of the one-call count.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { get_encoding } from 'tiktoken';
import { countTokens, encodingSlices, maxEncodedRun, truncateToTokens } from '../../src/llm/tokenizer.ts';

const reference = get_encoding('o200k_base');
const exact = (text: string) => reference.encode_ordinary(text).length;

describe('bounded token counting', () => {
  test('ordinary text is one slice and counted exactly as tiktoken counts it', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const samples = [
      readme,
      'Refund for order #48213, please: émile@example.com — 東京の倉庫から発送されました。',
      `see https://example.com/${'a1b2c3/'.repeat(50)} for details`,
      'const x = { a: [1, 2, 3] };\n\tif (x) return;',
      '',
    ];
    for (const sample of samples) {
      assert.equal(encodingSlices(sample).length <= 1, true);
      assert.equal(countTokens(sample), exact(sample));
    }
  });

  test('a long run without whitespace is cut into slices no longer than the limit, losing no character', () => {
    for (const text of ['\uFFFD'.repeat(40_000), 'a'.repeat(160_000), `${'x'.repeat(1_000)} ok ${'9'.repeat(999)}`]) {
      const slices = encodingSlices(text);
      assert.equal(slices.join(''), text);
      assert.ok(slices.length > 1);
      for (const slice of slices) {
        const longestRun = Math.max(...slice.split(/\s/).map((run) => run.length));
        assert.ok(longestRun <= maxEncodedRun, `a run of ${longestRun} characters was encoded in one call`);
      }
    }
  });

  test('a surrogate pair is never split between slices', () => {
    const emoji = '😀'.repeat(1_000);
    for (const slice of encodingSlices(emoji)) {
      const first = slice.charCodeAt(0);
      assert.ok(!(first >= 0xdc00 && first <= 0xdfff), 'a slice starts with a low surrogate');
    }
  });

  test('a sliced count is within one token per slice of the one-call count', () => {
    for (const text of ['a'.repeat(4_000), 'ab'.repeat(2_000), '漢'.repeat(3_000), '1'.repeat(5_000)]) {
      const slices = encodingSlices(text).length;
      assert.ok(Math.abs(countTokens(text) - exact(text)) <= slices, `${text.slice(0, 4)}…`);
    }
  });

  test('truncation of a hostile run keeps a prefix of the text within the token limit', () => {
    const text = '\uFFFD'.repeat(40_000);
    const cut = truncateToTokens(text, 100);
    assert.equal(cut.truncated, true);
    assert.ok(text.startsWith(cut.text));
    assert.ok(countTokens(cut.text) <= 100);
  });
});
