import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { uuidV5 } from '../../src/adapters/vector-index-shared.ts';
import {
  chunkTermFrequencies,
  documentChunkTermFrequencies,
  queryTermFrequencies,
  termId,
} from '../../src/search/sparse-terms.ts';

const chunk = (chunkIndex: number, text: string) => ({ title: 'Vaccine study', sectionPath: [], text, chunkIndex });

describe('sparse terms', () => {
  test('a chunk’s terms include its title once and its text', () => {
    assert.deepEqual([...chunkTermFrequencies(chunk(0, 'Antibody levels rose'))].sort(), [
      ['antibodi', 1],
      ['level', 1],
      ['rose', 1],
      ['studi', 1],
      ['vaccin', 1],
    ]);
  });

  test('adjacent chunks lend their words at the neighbour weight, distant chunks do not', () => {
    const [first, second, third] = documentChunkTermFrequencies(
      [chunk(0, 'antibody levels'), chunk(1, 'placebo group'), chunk(2, 'mortality outcome')],
      { neighbourWeight: 0.3 },
    );
    assert.equal(first?.get('placebo'), 0.3);
    assert.equal(first?.get('mortal'), undefined);
    assert.equal(second?.get('antibodi'), 0.3);
    assert.equal(second?.get('mortal'), 0.3);
    assert.equal(second?.get('placebo'), 1);
    assert.equal(third?.get('antibodi'), undefined);
  });

  test('a heading, a text and a query all carry the letter and digit runs of mixed tokens', () => {
    const terms = chunkTermFrequencies({ title: 'IL6 review', sectionPath: ['GATA3'], text: 'TP53 loss' });
    for (const term of ['il6', 'il', '6', 'gata3', 'gata', '3', 'tp53', 'tp', '53']) assert.equal(terms.get(term), 1);
    assert.deepEqual([...queryTermFrequencies('Does IL-6 bind?').keys()], ['doe', 'il', '6', 'bind']);
    assert.deepEqual([...queryTermFrequencies('Does IL6 bind?').keys()], ['doe', 'il6', 'il', '6', 'bind']);
  });

  test('with neighbour weight 0 each chunk stands alone', () => {
    const [first] = documentChunkTermFrequencies([chunk(0, 'antibody'), chunk(1, 'placebo')], { neighbourWeight: 0 });
    assert.equal(first?.get('placebo'), undefined);
  });

  test('term ids are stable 32-bit FNV-1a hashes', () => {
    assert.equal(termId('a'), 0xe40c292c);
    assert.equal(termId('vaccin'), termId('vaccin'));
    assert.notEqual(termId('vaccin'), termId('vaccine'));
  });

  test('uuidV5 matches the RFC 4122 example', () => {
    assert.equal(
      uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });
});
