/**
 * Issue 14, linear-time text handling: model text with 40k `[` took 11 s in `sanitizeModelText` (the markdown
 * link label ran over every later bracket, from every bracket). Each case runs the real function on 40k
 * characters and must finish far below that; links and images are still reduced to their labels as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnswerSource } from '../../src/capabilities/answers/answer-source.ts';
import { renumberCitations, sanitizeModelText, toSlackMrkdwn } from '../../src/capabilities/answers/citations.ts';
import { extractiveAnswer } from '../../src/capabilities/answers/extractive-answer.ts';
import { cleanRewrite, withoutOuterQuotes } from '../../src/capabilities/answers/rewrite-question.ts';

const size = 40_000;
const bound = 200;

function timed(run: () => unknown): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

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

describe('the other answer patterns on hostile input (ReDoS)', () => {
  for (const [name, text] of [
    ['reference definitions split by line separators', '\u2028['.repeat(size / 2)],
    ['blank lines without a bullet', `${'\n'.repeat(size)}x`],
    ['blank lines then text', `${' \n'.repeat(size / 2)}x`],
    ['a heading with a long run of spaces inside', `# x${' '.repeat(size)}y`],
    ['a heading that ends in spaces before a line break', `# a${' '.repeat(size)}\rb`],
  ] as const) {
    it(`sanitizeModelText and toSlackMrkdwn are linear on ${name}`, () => {
      const ms = timed(() => toSlackMrkdwn(sanitizeModelText(text)));
      assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
    });
  }

  it('renumberCitations is linear on a citation group of spaces', () => {
    const ms = timed(() => renumberCitations(`[1${' '.repeat(size)}x`, 3));
    assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
    assert.ok(timed(() => renumberCitations(`[1${' , 2'.repeat(size / 4)}]`, 3)) < bound);
  });

  it('withoutOuterQuotes and cleanRewrite are linear on runs of quote marks inside the text', () => {
    const text = `x${'"'.repeat(size)}y`;
    assert.ok(timed(() => withoutOuterQuotes(text)) < bound);
    assert.ok(timed(() => cleanRewrite(`«${'» a '.repeat(size / 4)}`, 'original')) < bound);
  });

  it('extractiveAnswer is linear on a passage of spaces', () => {
    const source: AnswerSource = {
      documentId: 'd1',
      title: 'Doc',
      sectionPath: [],
      source: 'doc.md',
      chunkIndexes: [0],
      text: `refund ${' '.repeat(size)} policy`,
      tokenCount: 10,
      score: 1,
    };
    const ms = timed(() => extractiveAnswer('refund policy', [source], { maxCharactersPerPassage: size * 2 }));
    assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
  });

  it('keeps what the old patterns did on ordinary text', () => {
    // Reference definitions, bullets, citation groups, quotes: compared with the patterns they replaced.
    const oldDefinition = /^\s{0,3}\[[^\]\n]+\]:\s*\S+.*$/gm;
    for (const text of [
      'Intro\n[1]: https://x.test/a "T"\nmore',
      '  [a b]:   https://x\n\n[c]:\n  d e',
      '[x]: y\n[z]:',
    ]) {
      assert.equal(sanitizeModelText(text), text.replace(oldDefinition, ''));
    }
    const oldBullet = /^(\s*)[*+]\s+/gm;
    for (const text of ['* one\n  + two\n\n* three', 'a\n\n\t*  b', '*bold* here']) {
      assert.equal(toSlackMrkdwn(text), toSlackMrkdwn(text.replace(oldBullet, '$1• ')));
    }
    assert.deepEqual(renumberCitations('See [1 , 2 and 3] and [source 1 – 2; 3]', 3).order, [1, 2, 3]);
    assert.equal(renumberCitations('A [2 ,1] B [3&1]', 3).text, 'A [1][2] B [3][2]');
    for (const text of ['"How do I reset?"', '「返品は？」', '«Quoi»', 'He said "hi"', '""', "'It's'"]) {
      assert.equal(withoutOuterQuotes(text), text.replace(/^["'“”«»「」]+|["'“”«»「」]+$/g, ''));
    }
    assert.equal(cleanRewrite('Standalone question: "How do refunds work?"', 'x'), 'How do refunds work?');
  });

  it('converts headings as before, one line each, keeping the blank lines around them', () => {
    assert.equal(toSlackMrkdwn('## Steps'), '*Steps*');
    assert.equal(toSlackMrkdwn('# Title #'), '*Title*');
    assert.equal(toSlackMrkdwn('   ###   Spaced  ##  '), '*Spaced*');
    assert.equal(toSlackMrkdwn('## a # b'), '*a # b*');
    assert.equal(toSlackMrkdwn('## #'), '*#*');
    assert.equal(toSlackMrkdwn('####### seven'), '####### seven');
    assert.equal(toSlackMrkdwn('#hashtag'), '#hashtag');
    // The old pattern ran its `\s` over line breaks: it ate these blank lines and glued the two headings together.
    assert.equal(toSlackMrkdwn('Intro\n\n## A\n\n## B\n\ntext'), 'Intro\n\n*A*\n\n*B*\n\ntext');
  });
});
