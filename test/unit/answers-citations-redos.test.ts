/**
 * Issue 14, linear-time text handling: model text with 40k `[` took 11 s in `sanitizeModelText` (the markdown
 * link label ran over every later bracket, from every bracket). Each case runs the real function on 40k
 * characters and must finish far below that; links and images are still reduced to their labels as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sanitizeModelText } from '../../src/capabilities/answers/citations.ts';

const size = 40_000;
const bound = 200;

describe('sanitizeModelText on hostile input (ReDoS)', () => {
  for (const [name, text] of [
    ['open brackets', '['.repeat(size)],
    ['empty links without a close', '[]('.repeat(size / 3)],
    ['image openers', '!['.repeat(size / 2)],
    ['a link target of tabs', `[a](${'\t'.repeat(size)}`],
    ['a link target of spaces then text', `[a](${' '.repeat(size)}x`],
    ['a link target of newlines', `[](${'\n'.repeat(size)}`],
  ] as const) {
    it(`is linear on ${name}`, () => {
      const start = performance.now();
      sanitizeModelText(text);
      const ms = performance.now() - start;
      assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
    });
  }

  it('still reduces links and images to their labels', () => {
    assert.equal(sanitizeModelText('See [the guide](https://x.test/a) now'), 'See the guide now');
    assert.equal(sanitizeModelText('See [the guide]( <https://x.test/a> ) now'), 'See the guide now');
    assert.equal(sanitizeModelText('Pic ![a cat](https://x.test/c.png) here'), 'Pic a cat here');
    assert.equal(sanitizeModelText('Ref [see [1]](https://x.test/a)'), 'Ref see [1]');
  });
});
