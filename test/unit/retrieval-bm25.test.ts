import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultAnalyzer } from '../../src/search/analyzer.ts';
import { Bm25Index, luceneNormLength, TopK } from '../../src/search/bm25.ts';

const terms = (text: string) => defaultAnalyzer.termFrequencies(text);

describe('Bm25Index', () => {
  test('scores a document with Lucene’s BM25 formula', () => {
    const index = new Bm25Index({ k1: 0.9, b: 0.4, luceneNorms: false });
    index.add(
      new Map([
        ['apple', 2],
        ['pie', 1],
      ]),
    );
    index.add(new Map([['banana', 1]]));
    const [hit] = index.search(new Map([['apple', 1]]), 10);
    const idf = Math.log(1 + (2 - 1 + 0.5) / (1 + 0.5));
    const averageLength = (3 + 1) / 2;
    const expected = (idf * 2) / (2 + 0.9 * (1 - 0.4 + (0.4 * 3) / averageLength));
    assert.equal(hit?.slot, 0);
    assert.ok(Math.abs((hit?.score ?? 0) - expected) < 1e-9);
  });

  test('ranks the document that matches more rare query terms first', () => {
    const index = new Bm25Index();
    index.add(terms('the cat sat on the mat'));
    index.add(terms('a dog chased the cat across the garden'));
    index.add(terms('stock markets fell sharply today'));
    const hits = index.search(terms('dog chasing cats'), 10);
    assert.deepEqual(
      hits.map((hit) => hit.slot),
      [1, 0],
    );
  });

  test('removed documents disappear from results and from document frequencies', () => {
    const index = new Bm25Index();
    const first = index.add(terms('vaccine trial results'));
    index.add(terms('vaccine storage'));
    const before = index.idf('vaccin');
    index.remove(first);
    assert.equal(index.size, 1);
    assert.ok(index.idf('vaccin') !== before);
    assert.deepEqual(
      index.search(terms('vaccine trial'), 10).map((hit) => hit.slot),
      [1],
    );
  });

  test('the accept predicate filters slots before they are ranked', () => {
    const index = new Bm25Index();
    index.add(terms('alpha beta'));
    index.add(terms('alpha gamma'));
    assert.deepEqual(
      index.search(terms('alpha'), 10, (slot) => slot === 1).map((hit) => hit.slot),
      [1],
    );
  });

  test('compaction after many removals keeps results identical', () => {
    const index = new Bm25Index();
    const keep: number[] = [];
    for (let round = 0; round < 3000; round += 1) {
      const slot = index.add(terms(`document number ${round} about topic${round % 7} and shared words`));
      if (round % 10 === 0) keep.push(slot);
      else index.remove(slot);
    }
    const hits = index.search(terms('topic3 shared'), 1000);
    assert.ok(hits.length > 0);
    assert.ok(hits.every((hit) => keep.includes(hit.slot)));
  });

  test('quantises document lengths like Lucene’s one-byte norms', () => {
    assert.equal(luceneNormLength(10), 10);
    assert.equal(luceneNormLength(23), 23);
    assert.equal(luceneNormLength(100), 96);
    assert.equal(luceneNormLength(1000), 984);
  });
});

describe('TopK', () => {
  test('keeps the highest scores, ties broken by lower slot', () => {
    const heap = new TopK(3);
    for (const [slot, score] of [
      [0, 1],
      [1, 5],
      [2, 3],
      [3, 5],
      [4, 0.5],
      [5, 4],
    ] as const)
      heap.offer(slot, score);
    assert.deepEqual(
      heap.sorted().map((entry) => entry.slot),
      [1, 3, 5],
    );
  });
});
