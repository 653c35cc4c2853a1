import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SyntheticVectors } from '../../bench/retrieval/synthetic-vectors.ts';
import { DenseVectorStore } from '../../src/adapters/dense-vector-store.ts';
import { KernelArena } from '../../src/adapters/kernel-arena.ts';
import {
  codeSum,
  dequantizeInt8,
  quantizeInt8,
  quantizeQuery,
  queryOffset,
  signBits,
} from '../../src/adapters/quantized-codes.ts';
import { QuantizedVectorStore } from '../../src/adapters/quantized-vector-store.ts';

const directory = mkdtempSync(join(tmpdir(), 'deskhand-quantized-'));
after(() => rmSync(directory, { recursive: true, force: true }));

function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function unit(vector: Float32Array): Float32Array {
  const norm = Math.hypot(...vector);
  return vector.map((value) => value / norm);
}

describe('quantized codes', () => {
  test('int8 codes stay in [−127, 127] and dequantize within half a step of every component', () => {
    const random = lcg(3);
    for (let round = 0; round < 200; round += 1) {
      const vector = Float32Array.from({ length: 37 }, () => (random() - 0.5) * (round % 7 === 0 ? 1e-3 : 2));
      if (round % 11 === 0) vector[5] = -Math.max(...vector.map(Math.abs)) * 1.5; // the extreme is negative
      const codes = new Int8Array(40);
      const scale = quantizeInt8(vector, codes, 2);
      assert.ok(scale > 0);
      const restored = dequantizeInt8(codes, 2, vector.length, scale);
      for (let index = 0; index < vector.length; index += 1) {
        const code = codes[2 + index] as number;
        assert.ok(code >= -127 && code <= 127, `code ${code} out of range`);
        assert.ok(Math.abs((restored[index] as number) - (vector[index] as number)) <= scale / 2 + 1e-9);
      }
      assert.equal(Math.max(...codes.slice(2, 39).map(Math.abs)), 127, 'the largest component uses the full range');
      assert.equal(codes[0], 0, 'nothing written before the offset');
    }
  });

  test('a zero vector gets scale 0 and zero codes; query codes are offset into [1, 127]', () => {
    const codes = new Int8Array(8).fill(9);
    assert.equal(quantizeInt8(new Float32Array(8), codes, 0), 0);
    assert.deepEqual([...codes], new Array(8).fill(0));
    const query = new Uint8Array(64);
    quantizeQuery(
      Float32Array.from({ length: 64 }, (_, index) => Math.sin(index) * (index === 3 ? -9 : 1)),
      query,
      0,
    );
    assert.ok(query.every((code) => code >= 1 && code <= 127));
    assert.equal(query[3], 1, 'the most negative component maps to −63 + 64');
  });

  test('sign bits set one bit per positive component, least significant first', () => {
    const bits = new Uint8Array(3);
    signBits(Float32Array.from([1, -1, 0, 2, -3, 4, 5, 6, -1, 7]), bits, 1);
    assert.deepEqual([...bits], [0, 0b1110_1001, 0b10]);
  });
});

describe('int8 and Hamming kernels', () => {
  for (const simd of ['relaxed', 'plain'] as const) {
    test(`the ${simd} int8 kernel equals the scalar integer dot product at the extremes of both ranges`, () => {
      const arena = new KernelArena(96, { simd });
      if (simd === 'plain') assert.equal(arena.relaxed, false);
      const rows = 300;
      arena.ensureCapacity(rows);
      const random = lcg(simd === 'plain' ? 5 : 6);
      const codes = new Int8Array(arena.buffer, arena.rowsOffset, rows * 96);
      for (let index = 0; index < codes.length; index += 1) {
        codes[index] = index % 97 === 0 ? 127 : index % 89 === 0 ? -127 : Math.round(random() * 254) - 127;
      }
      const query = new Uint8Array(arena.buffer, arena.queryOffset, 96);
      for (let index = 0; index < 96; index += 1) query[index] = index % 5 === 0 ? 127 : Math.floor(random() * 128);
      const out = arena.scratchOffset;
      arena.kernel.dotInt8(arena.rowsOffset, rows, 96, arena.queryOffset, out);
      const dots = new Int32Array(arena.buffer, out, rows).slice();
      codes.fill(127, 0, 96); // row 0 at the maximum: 96 · 127 · 127 still exact
      arena.kernel.dotInt8(arena.rowsOffset, 1, 96, arena.queryOffset, out);
      const maximum = new Int32Array(arena.buffer, out, 1)[0];
      let expectedMaximum = 0;
      for (let index = 0; index < 96; index += 1) expectedMaximum += 127 * (query[index] as number);
      assert.equal(maximum, expectedMaximum);
      for (let row = 1; row < rows; row += 1) {
        let expected = 0;
        for (let index = 0; index < 96; index += 1)
          expected += (codes[row * 96 + index] as number) * (query[index] as number);
        assert.equal(dots[row], expected, `row ${row}`);
      }
      const list = arena.scratchOffset + rows * 4;
      new Int32Array(arena.buffer, list, 3).set([299, 7, 1]);
      arena.kernel.dotInt8Rows(arena.rowsOffset, list, 3, 96, arena.queryOffset, out);
      assert.deepEqual([...new Int32Array(arena.buffer, out, 3)], [dots[299], dots[7], dots[1]]);
    });
  }

  test('the Hamming kernel counts differing bits like a scalar popcount', () => {
    const arena = new KernelArena(24);
    arena.ensureCapacity(100);
    const random = lcg(8);
    const bits = new Uint8Array(arena.buffer, arena.rowsOffset, 100 * 24);
    for (let index = 0; index < bits.length; index += 1) bits[index] = Math.floor(random() * 256);
    const query = new Uint8Array(arena.buffer, arena.queryOffset, 24);
    for (let index = 0; index < 24; index += 1) query[index] = Math.floor(random() * 256);
    arena.kernel.hamming(arena.rowsOffset, 100, 24, arena.queryOffset, arena.scratchOffset);
    const distances = new Int32Array(arena.buffer, arena.scratchOffset, 100);
    for (let row = 0; row < 100; row += 1) {
      let expected = 0;
      for (let index = 0; index < 24; index += 1) {
        let value = (bits[row * 24 + index] as number) ^ (query[index] as number);
        for (; value > 0; value >>= 1) expected += value & 1;
      }
      assert.equal(distances[row], expected);
    }
  });

  test('codeSum undoes the query offset: Σ code·(q + 64) − 64·Σ code = Σ code·q', () => {
    const codes = Int8Array.from([127, -127, 3, 0, -5]);
    const signed = [63, -63, 1, 9, -2];
    const offset = signed.map((value) => value + queryOffset);
    const raw = offset.reduce((sum, value, index) => sum + value * (codes[index] as number), 0);
    const expected = signed.reduce((sum, value, index) => sum + value * (codes[index] as number), 0);
    assert.equal(raw - queryOffset * codeSum(codes, 0, 5), expected);
  });
});

describe('QuantizedVectorStore', () => {
  const exactTop = (store: DenseVectorStore, query: Float32Array, count: number, accept: (slot: number) => boolean) =>
    store.search(query, count, 10, accept).map(({ slot }) => slot);

  for (const prefilter of ['none', 'binary'] as const) {
    test(`int8 candidates rescored with floats find the exact top 10 on clustered data (prefilter ${prefilter})`, () => {
      const vectors = new SyntheticVectors(96, 'clustered', 99);
      const exact = new DenseVectorStore(96);
      const quantized = new QuantizedVectorStore(96, { directory, rescore: 20, prefilter });
      const count = 4000;
      for (let slot = 0; slot < count; slot += 1) {
        const vector = vectors.next();
        exact.set(slot, vector);
        quantized.set(slot, vector);
      }
      let found = 0;
      for (let round = 0; round < 30; round += 1) {
        const query = vectors.next();
        const hits = quantized.search(query, count, 10, () => true);
        const truth = exactTop(exact, query, count, () => true);
        // int8 alone: the exact top 10 in order. The sign-bit prefilter (not the default) may miss a few: 96 signs
        // are a coarse sketch (the benchmark measures it at full width).
        if (prefilter === 'none')
          assert.deepEqual(
            hits.map(({ slot }) => slot),
            truth,
          );
        found += hits.filter(({ slot }) => truth.includes(slot)).length;
        for (const hit of hits) {
          assert.ok(Math.abs(hit.score - exact.scores(query, count)[hit.slot]!) < 1e-5, 'scores are exact cosines');
        }
      }
      assert.ok(found / 300 >= (prefilter === 'none' ? 1 : 0.9), `recall@10 ${found / 300}`);
      quantized.close();
    });
  }

  test('the scope filter applies before ranking: out-of-scope vectors nearer than any in scope are never returned', () => {
    const random = lcg(11);
    const query = unit(Float32Array.from({ length: 64 }, () => random() - 0.5));
    for (const prefilter of ['none', 'binary'] as const) {
      const store = new QuantizedVectorStore(64, { directory, rescore: 8, prefilter });
      // 500 near-copies of the query in odd slots (out of scope), 500 unrelated vectors in even slots.
      for (let slot = 0; slot < 1000; slot += 1) {
        const noise = Float32Array.from({ length: 64 }, () => random() - 0.5);
        store.set(slot, slot % 2 === 1 ? query.map((value, index) => value + 0.01 * (noise[index] as number)) : noise);
      }
      const inScope = (slot: number) => slot % 2 === 0;
      const hits = store.search(query, 1000, 10, inScope);
      assert.equal(hits.length, 10, `a full page from the scope (${prefilter})`);
      assert.ok(hits.every(({ slot }) => inScope(slot)));
      assert.equal(store.search(query, 1000, 10, () => false).length, 0, 'nothing accepted, nothing returned');
      store.close();
    }
  });

  test('get reads the normalised vector back from the float file, which leaves nothing on disk', () => {
    const own = mkdtempSync(join(directory, 'file-'));
    const store = new QuantizedVectorStore(8, { directory: own });
    store.set(3, Float32Array.from([3, 4, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual([...store.get(3)], [0.6000000238418579, 0.800000011920929, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...store.get(1)], new Array(8).fill(0), 'a row never written reads as zeros');
    assert.deepEqual(readdirSync(own), [], 'the float file is unlinked once opened');
    store.close();
    assert.throws(() => store.get(3), /closed/);
  });
});
