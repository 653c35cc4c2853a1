/**
 * The scorers and analyzers behind `npm run eval:sparse-variants`' newer families (scripts/sparse-variant-scoring.ts):
 * the light stemmers and scientific-token handling do what their names say, the flat scorer reproduces the shipped
 * `Bm25Index` ranking exactly (so a variant's gain is the variant's, not a re-implementation's), and the length
 * models and query-side options move scores the way their formulas say.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  FieldedBm25,
  inflectionStem,
  spellGreek,
  sStem,
  VariantAnalyzer,
} from '../../scripts/sparse-variant-scoring.ts';
import { defaultAnalyzer } from '../../src/search/analyzer.ts';
import { Bm25Index } from '../../src/search/bm25.ts';
import { scifactSample } from '../support/fixtures.ts';

const keys = (terms: Map<string, number>) => [...terms.keys()];

describe('sparse variant scoring', () => {
  test('the S-stemmer strips plural endings only (Harman 1991, rules as written)', () => {
    assert.deepEqual(['cells', 'studies', 'aries', 'glasses', 'virus', 'shoes', 'running', 'is'].map(sStem), [
      'cell',
      'study',
      'ary',
      'glasse',
      'virus',
      'shoe',
      'running',
      'is',
    ]);
  });

  test('the inflection stemmer strips an ending only when the rest is a known word', () => {
    const vocabulary = new Set(['cell', 'stop', 'make', 'study', 'analysi']);
    assert.deepEqual(
      ['cells', 'stopped', 'making', 'studies', 'analysis', 'running'].map((word) => inflectionStem(word, vocabulary)),
      ['cell', 'stop', 'make', 'study', 'analysis', 'running'],
    );
  });

  test('Greek letters are spelled out, μ is left as a unit prefix', () => {
    assert.equal(spellGreek('β-cell TNFα NF-κB 5 μm'), 'beta-cell TNFalpha NF-kappaB 5 μm');
  });

  test('variant analyzers: the default variant is the shipped analyzer without runs; split 1 is the shipped one', () => {
    const text = 'IL6 and IL-6 in β-cells of the 1990s';
    assert.deepEqual(
      keys(new VariantAnalyzer().frequencies(text)),
      keys(new Map(defaultAnalyzer.analyze(text).map((term) => [term, 1]))),
    );
    assert.deepEqual(new VariantAnalyzer({ split: 1 }).frequencies(text), defaultAnalyzer.termFrequencies(text));
    assert.deepEqual(keys(new VariantAnalyzer({ join: 1 }).frequencies('IL-6 and 1990-2000')), [
      'il',
      '6',
      '1990',
      '2000',
      'il6',
    ]);
    assert.deepEqual(keys(new VariantAnalyzer({ greek: true }).frequencies('β-cells')), ['beta', 'cell']);
    assert.deepEqual(
      [...new VariantAnalyzer({ raw: 0.5 }).frequencies('cells')],
      [
        ['cell', 1],
        ['=cells', 0.5],
      ],
    );
  });

  test('the flat scorer ranks the sample exactly like the shipped Bm25Index', () => {
    const rows = readFileSync(scifactSample.corpus, 'utf8')
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line) as { title: string; text: string });
    const titles = rows.map((row) => defaultAnalyzer.termFrequencies(row.title));
    const bodies = rows.map((row) => defaultAnalyzer.termFrequencies(row.text));
    const shipped = new Bm25Index({ k1: 0.9, b: 0.4, luceneNorms: true });
    rows.forEach((_, slot) => {
      const terms = new Map(bodies[slot]);
      for (const [term, count] of titles[slot] ?? []) terms.set(term, (terms.get(term) ?? 0) + count);
      shipped.add(terms);
    });
    const fielded = new FieldedBm25(titles, bodies);
    for (const query of ['IL-6 signalling in atherosclerosis', 'vitamin D deficiency and fractures', 'stem cells']) {
      const terms = defaultAnalyzer.termFrequencies(query);
      assert.deepEqual(
        fielded.rank(terms, { k1: 0.9, b: 0.4 }),
        shipped.search(terms, 100).map((hit) => hit.slot),
      );
    }
  });

  test('BM25+ lifts every matching document by the same idf × delta/(k1+1); query options reweight terms', () => {
    const titles = [new Map(), new Map(), new Map()];
    const bodies = [
      new Map([['rare', 1]]),
      new Map([
        ['rare', 1],
        ['common', 3],
      ]),
      new Map([['common', 1]]),
    ];
    const index = new FieldedBm25(titles, bodies);
    const plain = index.scores(new Map([['rare', 1]]), { k1: 0.9, b: 0.4 });
    const plus = index.scores(new Map([['rare', 1]]), { k1: 0.9, b: 0.4, model: 'bm25+', delta: 1 });
    for (const slot of [0, 1]) {
      assert.ok(Math.abs((plus.get(slot) ?? 0) - (plain.get(slot) ?? 0) - index.idf('rare') / 1.9) < 1e-12);
    }
    const twice = new Map([['common', 2]]);
    const counted = index.scores(twice, { k1: 0.9, b: 0.4 }).get(2) ?? 0;
    const binary = index.scores(twice, { k1: 0.9, b: 0.4, queryWeight: 'binary' }).get(2) ?? 0;
    const saturated = index.scores(twice, { k1: 0.9, b: 0.4, queryWeight: { k3: 4 } }).get(2) ?? 0;
    assert.ok(Math.abs(counted - 2 * binary) < 1e-12);
    assert.ok(Math.abs(saturated - (10 / 6) * binary) < 1e-12);
    assert.equal(index.scores(twice, { k1: 0.9, b: 0.4, idfCut: index.idf('common') + 0.01 }).size, 0);
  });
});
