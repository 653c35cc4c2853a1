import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { relativeCutoff } from '../../src/capabilities/documents/retrieval/cutoff.ts';
import { addDocumentSupport } from '../../src/capabilities/documents/retrieval/document-support.ts';
import { maximalMarginalRelevance } from '../../src/capabilities/documents/retrieval/mmr.ts';
import { joinChunks, packContext } from '../../src/capabilities/documents/retrieval/pack-context.ts';
import { countTokens } from '../../src/llm/tokenizer.ts';
import type { ChunkRecord, SearchHit } from '../../src/ports/vector-index.ts';
import { reciprocalRankFusion } from '../../src/search/fusion.ts';

function chunk(documentId: string, chunkIndex: number, text: string, extra: Partial<ChunkRecord> = {}): ChunkRecord {
  return {
    id: `${documentId}-${chunkIndex}`,
    documentId,
    workspaceId: 'W1',
    scope: 'workspace',
    title: `Title ${documentId}`,
    sectionPath: [],
    source: `${documentId}.md`,
    chunkIndex,
    contentHash: `${documentId}:${chunkIndex}:${text}`,
    documentHash: `hash-${documentId}`,
    ingestedAt: '2026-01-01T00:00:00.000Z',
    text,
    tokenCount: countTokens(text),
    ...extra,
  };
}

const hit = (record: ChunkRecord, score: number): SearchHit => ({ chunk: record, score });

describe('reciprocalRankFusion', () => {
  test('scores items by the sum of 1/(k + rank) over the lists', () => {
    const fused = reciprocalRankFusion(
      [
        ['a', 'b', 'c'],
        ['b', 'c', 'd'],
      ],
      (item) => item,
      { k: 60 },
    );
    assert.deepEqual(
      fused.map((entry) => entry.item),
      ['b', 'c', 'a', 'd'],
    );
    assert.ok(Math.abs((fused[0]?.score ?? 0) - (1 / 62 + 1 / 61)) < 1e-12);
    assert.deepEqual(fused[0]?.ranks, [2, 1]);
  });

  test('breaks equal fused scores by the best single rank', () => {
    const fused = reciprocalRankFusion(
      [
        ['a', 'x'],
        ['y', 'a'],
      ],
      (item) => item,
    );
    assert.equal(fused[0]?.item, 'a');
    assert.equal(fused[1]?.item, 'y');
  });

  test('rejects a non-positive k', () => {
    assert.throws(() => reciprocalRankFusion([['a']], (item) => item, { k: 0 }), RangeError);
  });
});

describe('maximalMarginalRelevance', () => {
  test('drops a near-duplicate of a better hit', () => {
    const hits = [
      hit(chunk('a', 0, 'Reset your password from the account settings page.'), 3),
      hit(chunk('b', 0, 'Reset your password from the account settings page!'), 2.9),
      hit(chunk('c', 0, 'Invoices are emailed on the first day of each month.'), 1),
    ];
    assert.deepEqual(
      maximalMarginalRelevance(hits).map((entry) => entry.chunk.documentId),
      ['a', 'c'],
    );
  });

  test('prefers a diverse hit over a similar one of slightly higher score', () => {
    const vector = (values: number[]) => new Float32Array(values);
    const hits = [
      hit(chunk('a', 0, 'one', { dense: vector([1, 0, 0]) }), 1),
      hit(chunk('b', 0, 'two', { dense: vector([0.8, 0.6, 0]) }), 0.95),
      hit(chunk('c', 0, 'three', { dense: vector([0, 0, 1]) }), 0.9),
    ];
    assert.deepEqual(
      maximalMarginalRelevance(hits, { lambda: 0.5 }).map((entry) => entry.chunk.documentId),
      ['a', 'c', 'b'],
    );
  });

  test('with lambda 1 keeps the relevance order', () => {
    const hits = [hit(chunk('a', 0, 'alpha'), 3), hit(chunk('b', 0, 'beta'), 2), hit(chunk('c', 0, 'gamma'), 1)];
    assert.deepEqual(
      maximalMarginalRelevance(hits, { lambda: 1 }).map((entry) => entry.chunk.documentId),
      ['a', 'b', 'c'],
    );
  });
});

describe('relativeCutoff', () => {
  test('keeps hits scoring at least the ratio of the top score', () => {
    const hits = [{ score: 10 }, { score: 7 }, { score: 6.9 }, { score: 2 }];
    assert.deepEqual(relativeCutoff(hits, 0.7), [{ score: 10 }, { score: 7 }]);
  });

  test('never empties a non-empty list and rejects ratios outside 0..1', () => {
    assert.equal(relativeCutoff([{ score: 1 }], 1).length, 1);
    assert.throws(() => relativeCutoff([{ score: 1 }], 1.5), RangeError);
  });
});

describe('packContext', () => {
  test('merges adjacent chunks of one document and drops their overlap', () => {
    const first = chunk('a', 0, 'Step one: open settings. Step two: click reset.');
    const second = chunk('a', 1, 'Step two: click reset. Step three: confirm.', { overlapPrefixChars: 23 });
    const packed = packContext([hit(first, 2), hit(second, 1)], { budgetTokens: 1000 });
    assert.equal(packed.passages.length, 1);
    assert.deepEqual(packed.passages[0]?.chunkIndexes, [0, 1]);
    assert.equal(packed.passages[0]?.text, 'Step one: open settings. Step two: click reset. Step three: confirm.');
    assert.equal(packed.tokenCount, countTokens(packed.passages[0]?.text ?? ''));
  });

  test('keeps one chunk per document unless the next one is adjacent', () => {
    const packed = packContext(
      [hit(chunk('a', 0, 'first part'), 3), hit(chunk('a', 5, 'far away part'), 2), hit(chunk('b', 0, 'other'), 1)],
      { budgetTokens: 1000 },
    );
    assert.deepEqual(
      packed.passages.map((passage) => [passage.documentId, passage.chunkIndexes]),
      [
        ['a', [0]],
        ['b', [0]],
      ],
    );
  });

  test('stops at the budget without pulling a later, shorter hit forward', () => {
    const long = 'word '.repeat(60).trim();
    const packed = packContext(
      [hit(chunk('a', 0, long), 3), hit(chunk('b', 0, long), 2), hit(chunk('c', 0, 'short'), 1)],
      { budgetTokens: 100 },
    );
    assert.deepEqual(
      packed.passages.map((passage) => passage.documentId),
      ['a'],
    );
    assert.ok(packed.tokenCount <= 100);
    assert.equal(packed.droppedForBudget, 2);
  });

  test('cuts a first hit larger than the whole budget so the context is never empty', () => {
    const packed = packContext([hit(chunk('a', 0, 'token '.repeat(500)), 1)], { budgetTokens: 50 });
    assert.equal(packed.passages.length, 1);
    assert.equal(packed.passages[0]?.truncated, true);
    assert.ok(packed.tokenCount <= 50 && packed.tokenCount > 0);
  });

  test('joinChunks separates non-consecutive chunks with an ellipsis line', () => {
    assert.equal(joinChunks([chunk('a', 0, 'one'), chunk('a', 2, 'three')]), 'one\n…\nthree');
  });
});

describe('addDocumentSupport', () => {
  test('a document with a second matching chunk overtakes a one-chunk document that scored slightly higher', () => {
    const hits = [
      hit(chunk('single', 0, 'one strong chunk'), 10),
      hit(chunk('split', 0, 'first half'), 9.8),
      hit(chunk('split', 1, 'second half'), 6),
    ];
    const supported = addDocumentSupport(hits, 0.05);
    assert.deepEqual(
      supported.map((entry) => `${entry.chunk.documentId}:${entry.chunk.chunkIndex}`),
      ['split:0', 'single:0', 'split:1'],
    );
    assert.ok(Math.abs((supported[0]?.score ?? 0) - (9.8 + 0.05 * 6)) < 1e-9);
    assert.equal(supported[1]?.score, 10);
    assert.ok(Math.abs((supported[2]?.score ?? 0) - (6 + 0.05 * 9.8)) < 1e-9);
    assert.equal(hits[1]?.score, 9.8, 'the input hits are not mutated');
  });

  test('counts only the runner-up chunk, so many weak chunks of a long document add little', () => {
    const manual = Array.from({ length: 40 }, (_, index) => hit(chunk('manual', index + 1, `weak ${index}`), 2));
    const hits = [
      hit(chunk('answer', 0, 'the answer'), 10),
      hit(chunk('manual', 0, 'closest manual chunk'), 9.85),
      ...manual,
    ];
    const supported = addDocumentSupport(hits, 0.05);
    assert.equal(supported[0]?.chunk.documentId, 'answer');
    assert.ok(Math.abs((supported[1]?.score ?? 0) - (9.85 + 0.05 * 2)) < 1e-9);
  });

  test('keeps the document best chunk first among its chunks and leaves other workspaces apart', () => {
    const hits = [
      hit(chunk('doc', 0, 'best'), 8),
      hit(chunk('doc', 0, 'other workspace', { workspaceId: 'W2' }), 7),
      hit(chunk('doc', 1, 'runner-up'), 7.9),
    ];
    const supported = addDocumentSupport(hits, 0.5);
    assert.deepEqual(
      supported.map((entry) => `${entry.chunk.workspaceId}:${entry.chunk.chunkIndex}:${entry.score}`),
      ['W1:0:11.95', 'W1:1:11.9', 'W2:0:7'],
    );
  });

  test('share 0 keeps the index order and scores; a share outside 0..1 is rejected', () => {
    const hits = [hit(chunk('a', 0, 'x'), 3), hit(chunk('b', 0, 'y'), 3), hit(chunk('a', 1, 'z'), 2)];
    assert.deepEqual(addDocumentSupport(hits, 0), hits);
    assert.throws(() => addDocumentSupport(hits, 1.5), RangeError);
    assert.throws(() => addDocumentSupport(hits, Number.NaN), RangeError);
  });
});
