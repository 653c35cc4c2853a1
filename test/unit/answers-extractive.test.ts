import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bestExcerpt, extractiveAnswer } from '../../src/capabilities/answers/extractive-answer.ts';
import { createStreamRelay, stablePrefixLength } from '../../src/capabilities/answers/stream-relay.ts';
import { defaultAnalyzer } from '../../src/search/analyzer.ts';
import { passage } from './answers-test-support.ts';

describe('extractiveAnswer', () => {
  test('quotes the sentences that share the most question terms, with a citation per passage', () => {
    const sources = [
      passage({
        documentId: 'a',
        text: 'Our office is in Berlin. Refunds are paid within five business days. We love our customers.',
      }),
      passage({ documentId: 'b', text: 'Card refunds can take up to ten days depending on the bank.' }),
    ];
    const answer = extractiveAnswer('How long do refunds take to be paid?', sources);
    assert.equal(answer.markdown.split('\n\n').length, 2);
    assert.match(answer.markdown, /^> … Refunds are paid within five business days\. … \[1\]/);
    assert.match(answer.markdown, /> Card refunds can take up to ten days depending on the bank\. \[2\]$/);
    assert.deepEqual(
      answer.cited.map((cited) => [cited.number, cited.source.documentId]),
      [
        [1, 'a'],
        [2, 'b'],
      ],
    );
  });

  test('a document cannot ping anyone through an extractive quote', () => {
    const answer = extractiveAnswer('refunds', [passage({ documentId: 'x', text: 'Refunds <!channel> <@U1> fast.' })]);
    assert.doesNotMatch(answer.mrkdwn, /<!|<@/);
  });

  test('quotes at most the requested number of passages and characters', () => {
    const sources = Array.from({ length: 6 }, (_, index) =>
      passage({ documentId: `d${index}`, text: `Refund rule ${index}. ${'More words here. '.repeat(80)}` }),
    );
    const answer = extractiveAnswer('refund rule', sources, { maxPassages: 2, maxCharactersPerPassage: 200 });
    assert.equal(answer.cited.length, 2);
    for (const quote of answer.markdown.split('\n\n')) assert.ok(quote.length < 260, String(quote.length));
  });

  test('bestExcerpt leaves Markdown headings out of the quote (the citation names the section)', () => {
    const text =
      '## How long refunds take\nRefunds are issued within 3 business days.\n### Exceptions\nGift cards are final.';
    const excerpt = bestExcerpt(text, new Set(defaultAnalyzer.analyze('how long do refunds take')), 600);
    assert.match(excerpt, /^Refunds are issued within 3 business days\./);
    assert.doesNotMatch(excerpt, /#/);
    const hashtag = bestExcerpt('#refunds are final.', new Set(defaultAnalyzer.analyze('refunds')), 600);
    assert.match(hashtag, /^#refunds are final/);
  });

  test('bestExcerpt cuts an overlong single sentence', () => {
    const excerpt = bestExcerpt('word '.repeat(500), new Set(defaultAnalyzer.analyze('word')), 100);
    assert.ok(excerpt.length <= 100);
    assert.ok(excerpt.endsWith('…'));
  });
});

describe('stream relay', () => {
  test('holds back a partial word, an unclosed bracket and an unclosed angle bracket', () => {
    assert.equal(stablePrefixLength('Hello wor'), 'Hello '.length);
    assert.equal(stablePrefixLength('Refunds [1'), 'Refunds '.length);
    assert.equal(stablePrefixLength('Hi <!chan nel '), 'Hi '.length);
  });

  test('deltas never show a mention or an unrenumbered citation, and add up to the final text', () => {
    const sources = [passage({ documentId: 'a', text: 'A' }), passage({ documentId: 'b', text: 'B' })];
    const deltas: string[] = [];
    const relay = createStreamRelay(sources, (delta) => deltas.push(delta));
    const raw = 'First <!here> point [2]. Second point [1] and [7]. End.';
    for (const character of raw) relay.push(character);
    relay.finish('First point [1]. Second point [2] and. End.');
    for (const delta of deltas) assert.doesNotMatch(delta, /<!|\[7\]/);
    assert.equal(deltas.join(''), 'First point [1]. Second point [2] and. End.');
  });
});
