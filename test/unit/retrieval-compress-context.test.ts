import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assignFolds, crossValidate, type QueryMeasurement, settingKey } from '../../scripts/retrieval-cv.ts';
import { compressContext, splitSentences } from '../../src/capabilities/documents/retrieval/compress-context.ts';
import type { PackedContext, PackedPassage } from '../../src/capabilities/documents/retrieval/pack-context.ts';
import { countTokens } from '../../src/llm/tokenizer.ts';

function passage(documentId: string, text: string, extra: Partial<PackedPassage> = {}): PackedPassage {
  return {
    documentId,
    title: `Title ${documentId}`,
    sectionPath: [],
    source: `${documentId}.md`,
    chunkIndexes: [0],
    text,
    tokenCount: countTokens(text),
    score: 1,
    truncated: false,
    ...extra,
  };
}

function context(...passages: PackedPassage[]): PackedContext {
  return { passages, tokenCount: passages.reduce((sum, p) => sum + p.tokenCount, 0), droppedForBudget: 0 };
}

const abstract = [
  'Invoices are emailed on the first day of each month.',
  'Customers on the annual plan pay once a year.',
  'Refunds for duplicate charges are issued within five business days.',
  'The finance team reviews every refund request.',
  'Office hours are nine to five.',
  'Parking is free for visitors.',
].join(' ');

describe('compressContext', () => {
  test('keeps the evidence sentence and its neighbours in order, drops the rest, keeps the citation fields', () => {
    const packed = context(passage('a', abstract, { sectionPath: ['Billing'], chunkIndexes: [2, 3], page: 4 }));
    const compressed = compressContext(packed, 'how long do refunds for duplicate charges take', {
      sentenceRatio: 0.5,
      neighbours: 1,
    });
    const [only] = compressed.passages;
    assert.ok(only);
    assert.equal(
      only.text,
      '… Customers on the annual plan pay once a year. Refunds for duplicate charges are issued within five business days. The finance team reviews every refund request. …',
    );
    assert.equal(only.droppedSentences, 3);
    assert.deepEqual(
      [only.documentId, only.sectionPath, only.chunkIndexes, only.page, only.title],
      ['a', ['Billing'], [2, 3], 4, 'Title a'],
    );
    assert.equal(only.tokenCount, countTokens(only.text));
    assert.equal(compressed.tokenCount, only.tokenCount);
    assert.ok(compressed.tokenCount < packed.tokenCount);
  });

  test('neighbours 0 keeps only the scoring sentences', () => {
    const compressed = compressContext(context(passage('a', abstract)), 'refunds duplicate charges', {
      sentenceRatio: 0.5,
      neighbours: 0,
    });
    assert.equal(
      compressed.passages[0]?.text,
      '… Refunds for duplicate charges are issued within five business days. …',
    );
  });

  test('every passage stays; one without a query term keeps its first sentence', () => {
    const packed = context(passage('a', abstract), passage('b', 'Lunch is served at noon. The menu changes weekly.'));
    const compressed = compressContext(packed, 'duplicate charges refunds', { sentenceRatio: 1, neighbours: 0 });
    assert.deepEqual(
      compressed.passages.map((p) => p.documentId),
      ['a', 'b'],
    );
    assert.equal(compressed.passages[1]?.text, 'Lunch is served at noon. …');
  });

  test('headings are always kept, in place', () => {
    // A sentence with the query term outscores those that only sit under the heading that has it (half weight).
    const text = '## Refund policy\nOffice hours are nine to five. Refunds take five days. Parking is free.';
    const compressed = compressContext(context(passage('a', text, { sectionPath: ['Refund policy'] })), 'refunds', {
      sentenceRatio: 0.7,
      neighbours: 0,
    });
    assert.equal(compressed.passages[0]?.text, '## Refund policy\n… Refunds take five days. …');
  });

  // The demo's first question: a hard-wrapped Markdown handbook (examples/handbook/refunds-and-returns.md), whose
  // answer shares one word with the question but sits under a heading that is the question. Before, each wrapped
  // line was a "sentence" and the answer was dropped for a line of the next section that says "refunded … takes".
  const handbook = [
    '## How long refunds take',
    '',
    'Refunds are issued to the original payment method **within 3 business days of the return being scanned at the',
    'warehouse**. The customer gets an email when the refund is issued. Their bank then usually needs **5 to 10',
    'business days** to show it, so tell customers to allow up to two weeks in total from the day the parcel reaches',
    'us.',
    '',
    '## Damaged or faulty items',
    '',
    'Ask the customer for a photo of the item and of the parcel label. Items that cost less than $25 do not need to',
    'be sent back: refund or replace them straight away. More expensive items are returned with a prepaid label and',
    'refunded or replaced after inspection, which takes 2 business days.',
  ].join('\n');

  test('a hard-wrapped paragraph is split into sentences, not lines, and the answer under its heading is kept', () => {
    const packed = context(
      passage('refunds', handbook, { sectionPath: ['Refunds and returns', 'How long refunds take'] }),
    );
    const compressed = compressContext(packed, 'how long do refunds take?', { sentenceRatio: 0.7, neighbours: 0 });
    const text = compressed.passages[0]?.text ?? '';
    assert.match(
      text,
      /Refunds are issued to the original payment method \*\*within 3 business days of the return being scanned at the\nwarehouse\*\*\./,
    );
    assert.match(text, /\*\*5 to 10\nbusiness days\*\*/);
    assert.doesNotMatch(text, /Ask the customer for a photo/);
    assert.ok(compressed.tokenCount < packed.tokenCount);
  });

  test('a passage whose every sentence is kept is returned unchanged', () => {
    const packed = context(passage('a', 'Refunds take five days. Refunds are reviewed.'));
    const compressed = compressContext(packed, 'refunds', { sentenceRatio: 0.5, neighbours: 0 });
    assert.equal(compressed.passages[0]?.text, packed.passages[0]?.text);
    assert.equal(compressed.passages[0]?.droppedSentences, 0);
  });

  test('rejects out-of-range settings', () => {
    assert.throws(() => compressContext(context(), 'q', { sentenceRatio: 1.5, neighbours: 0 }), RangeError);
    assert.throws(() => compressContext(context(), 'q', { sentenceRatio: 0.5, neighbours: 9 }), RangeError);
  });
});

describe('splitSentences', () => {
  test('splits on sentence ends and lines, not on abbreviations or decimals', () => {
    assert.deepEqual(
      splitSentences('Doses of 2.5 mg were used, e.g. in mice. Results (n = 7) differed! "Quoted." Next\n# Head').map(
        (segment) => [segment.text, segment.heading],
      ),
      [
        ['Doses of 2.5 mg were used, e.g. in mice.', false],
        ['Results (n = 7) differed!', false],
        ['"Quoted."', false],
        ['Next', false],
        ['# Head', true],
      ],
    );
  });

  test('a line break inside a paragraph is a soft wrap; one before a list item, table row or heading ends a segment', () => {
    const text =
      'First sentence runs\nonto a second line. Second one.\n- item one\n  wraps here\n| a | b |\n| 1 | 2 |\nLast';
    assert.deepEqual(
      splitSentences(text).map((segment) => segment.text),
      [
        'First sentence runs\nonto a second line.',
        'Second one.',
        '- item one\n  wraps here',
        '| a | b |',
        '| 1 | 2 |',
        'Last',
      ],
    );
  });

  test('is bounded: past the limit the rest is one segment, and a long input splits in linear time', () => {
    const many = 'A b. '.repeat(1000);
    assert.equal(splitSentences(many, [], 10).length, 10);
    const huge = `${'x.'.repeat(200_000)} End. ${'Ab. '.repeat(100_000)}`;
    const started = performance.now();
    splitSentences(huge, [], 1_000_000);
    assert.ok(performance.now() - started < 2000);
  });
});

describe('crossValidate', () => {
  // Cutoff 0.8 loses recall on half the queries; 0.6 never does; compression "c" saves tokens at full coverage,
  // "x" saves more but loses coverage.
  const rows: QueryMeasurement[] = Array.from({ length: 40 }, (_, index) => {
    const points = new Map();
    for (const [ratio, recall, tokens] of [
      [0.6, 1, 100],
      [0.7, 1, 80],
      [0.8, index % 2 === 0 ? 0 : 1, 60],
    ] as const) {
      points.set(settingKey(ratio, 'off'), { tokens, recall, coverage: 1 });
      points.set(settingKey(ratio, 'c'), { tokens: tokens / 2, recall, coverage: 1 });
      points.set(settingKey(ratio, 'x'), { tokens: tokens / 4, recall, coverage: 0.5 });
    }
    return { id: `q${index}`, naiveTokens: 100, naiveRecall: 1, points };
  });

  test('picks per fold on the others, proposes the all-fold setting one cutoff step lower', () => {
    const report = crossValidate(rows, {
      k: 4,
      ratios: [0.6, 0.7, 0.8],
      compressions: ['off', 'c', 'x'],
      minCoverage: 0.9,
      marginSteps: 1,
    });
    for (const fold of report.folds) {
      assert.deepEqual(fold.chosen, { ratio: 0.7, compression: 'c' });
      assert.equal(fold.held?.tokenRatio, 0.4);
      assert.equal(fold.held?.recall, 1);
    }
    assert.deepEqual(report.proposed, { ratio: 0.6, compression: 'c' });
    assert.equal(report.proposedPerFold.length, 4);
    assert.ok(report.proposedPerFold.every((fold) => fold.tokenRatio === 0.5 && fold.recall === 1));
  });

  test('folds are deterministic, disjoint and cover every query', () => {
    const folds = assignFolds(rows, 5);
    assert.deepEqual(folds, assignFolds([...rows].reverse(), 5));
    assert.equal(new Set(folds.flat().map((row) => row.id)).size, 40);
    assert.ok(folds.every((fold) => fold.length === 8));
  });
});
