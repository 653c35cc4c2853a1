import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DenseVectorStore } from '../../src/adapters/dense-vector-store.ts';

function vectors(count: number, dimensions: number): Float32Array[] {
  let seed = 7;
  const random = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  return Array.from({ length: count }, () => Float32Array.from({ length: dimensions }, random));
}

function exactCosine(left: Float32Array, right: Float32Array): number {
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  left.forEach((value, index) => {
    dot += value * (right[index] as number);
    leftNorm += value * value;
    rightNorm += (right[index] as number) ** 2;
  });
  return dot / Math.sqrt(leftNorm * rightNorm);
}

describe('DenseVectorStore', () => {
  test('the SIMD kernel and the JS scan both return the exact cosine of every stored vector', () => {
    const stored = vectors(3000, 64);
    const [query] = vectors(1, 64);
    const simd = new DenseVectorStore(64);
    const scalar = new DenseVectorStore(64, { simd: false });
    assert.equal(simd.simd, true, 'Node 24 supports WebAssembly SIMD');
    assert.equal(scalar.simd, false);
    stored.forEach((vector, slot) => {
      simd.set(slot, vector);
      scalar.set(slot, vector);
    });
    const fast = simd.scores(query!, stored.length).slice();
    const slow = scalar.scores(query!, stored.length);
    stored.forEach((vector, slot) => {
      const expected = exactCosine(vector, query!);
      assert.ok(Math.abs((fast[slot] as number) - expected) < 1e-5, `simd slot ${slot}`);
      assert.ok(Math.abs((slow[slot] as number) - expected) < 1e-5, `js slot ${slot}`);
    });
  });

  test('keeps stored vectors when it grows and falls back to JS for widths that are not a multiple of 4', () => {
    const odd = new DenseVectorStore(5);
    assert.equal(odd.simd, false);
    const store = new DenseVectorStore(8);
    const stored = vectors(5000, 8);
    stored.forEach((vector, slot) => {
      store.set(slot, vector);
    });
    const scores = store.scores(stored[0]!, 5000);
    assert.ok(Math.abs((scores[0] as number) - 1) < 1e-6, 'a vector is its own nearest neighbour');
    assert.ok(Math.abs((scores[4999] as number) - exactCosine(stored[4999]!, stored[0]!)) < 1e-5);
  });
});
