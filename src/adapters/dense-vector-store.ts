/**
 * Contiguous storage for normalised dense vectors with an exact dot-product scan. When the width is a multiple
 * of 4 the scan runs in a 40-instruction WebAssembly SIMD kernel (f32x4 multiply-add, about 4× the scalar JS
 * loop; V8 does not vectorise JS), otherwise in JS. Both compute the same exact cosine (vectors are normalised
 * on insert), only the floating-point summation order differs (≤ 1e-6).
 *
 * The kernel is assembled from its opcodes in scan-kernel-bytes.ts (a WAT toolchain or a native addon would be
 * a heavy dependency for one loop). Vectors live in the module's memory so a scan never copies them; the
 * memory only grows, and the scores of a scan go to a scratch area after the vectors.
 *
 * This is the exact mode of the embedded index's dense side (`DenseIndex`, dense-index.ts): `search` ranks every
 * accepted slot by its exact cosine. A vector already of unit length (within 1e-6) is stored as given, so
 * storing a stored vector again (a snapshot replayed) keeps its bytes.
 */

import { TopK } from '../search/bm25.ts';
import { scanKernelBytes } from './scan-kernel-bytes.ts';
import { type WasmMemory, wasm, wasmPageBytes } from './wasm-api.ts';

let compiled: object | null | undefined;

function kernelModule(): object | null {
  if (compiled === undefined) {
    try {
      compiled = wasm ? new wasm.Module(scanKernelBytes()) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

type ScanFunction = (vectors: number, count: number, dimensions: number, query: number, out: number) => void;

/** Normalised vectors by slot, with an exact scan. */
export class DenseVectorStore {
  readonly dimensions: number;
  readonly simd: boolean;
  #capacity = 0;
  #memory: WasmMemory | undefined;
  #scan: ScanFunction | undefined;
  #vectors = new Float32Array(0);
  readonly #queryOffset = 0;
  readonly #vectorsOffset: number;

  constructor(dimensions: number, options: { simd?: boolean } = {}) {
    this.dimensions = dimensions;
    this.#vectorsOffset = Math.ceil((dimensions * 4) / 16) * 16;
    const module = options.simd === false || dimensions % 4 !== 0 ? null : kernelModule();
    if (module && wasm) {
      this.#memory = new wasm.Memory({ initial: 1 });
      const instance = new wasm.Instance(module, { env: { memory: this.#memory } });
      this.#scan = instance.exports.scan as ScanFunction;
    }
    this.simd = this.#scan !== undefined;
    this.#ensureCapacity(1024);
  }

  /** Stores `vector` normalised to unit length at `slot`. */
  set(slot: number, vector: Float32Array): void {
    if (vector.length !== this.dimensions) throw new RangeError(`expected ${this.dimensions} dimensions`);
    this.#ensureCapacity(slot + 1);
    const norm = unitDivisor(vector);
    const offset = slot * this.dimensions;
    for (let index = 0; index < vector.length; index += 1)
      this.#vectors[offset + index] = (vector[index] as number) / norm;
  }

  /** The stored (normalised) vector of a slot, copied. */
  get(slot: number): Float32Array {
    return this.#vectors.slice(slot * this.dimensions, (slot + 1) * this.dimensions);
  }

  /** Cosine of `query` with every slot below `count`; the returned view is valid until the next call. */
  scores(query: Float32Array, count: number): Float32Array {
    if (query.length !== this.dimensions) throw new RangeError(`expected ${this.dimensions} dimensions`);
    this.#ensureCapacity(count);
    let squares = 0;
    for (let index = 0; index < query.length; index += 1) squares += (query[index] as number) ** 2;
    const norm = Math.sqrt(squares) || 1;
    const dimensions = this.dimensions;
    if (this.#scan && this.#memory) {
      const scoresOffset = this.#vectorsOffset + this.#capacity * dimensions * 4;
      const buffer = this.#memory.buffer;
      const queryView = new Float32Array(buffer, this.#queryOffset, dimensions);
      for (let index = 0; index < dimensions; index += 1) queryView[index] = (query[index] as number) / norm;
      this.#scan(this.#vectorsOffset, count, dimensions, this.#queryOffset, scoresOffset);
      return new Float32Array(buffer, scoresOffset, count);
    }
    const normalised = new Float32Array(dimensions);
    for (let index = 0; index < dimensions; index += 1) normalised[index] = (query[index] as number) / norm;
    const result = new Float32Array(count);
    const vectors = this.#vectors;
    const unrolled = dimensions - (dimensions % 4);
    for (let slot = 0; slot < count; slot += 1) {
      const offset = slot * dimensions;
      // Four accumulators let V8 overlap the multiply-adds; measurably faster than one.
      let sum0 = 0;
      let sum1 = 0;
      let sum2 = 0;
      let sum3 = 0;
      let index = 0;
      for (; index < unrolled; index += 4) {
        sum0 += (vectors[offset + index] as number) * (normalised[index] as number);
        sum1 += (vectors[offset + index + 1] as number) * (normalised[index + 1] as number);
        sum2 += (vectors[offset + index + 2] as number) * (normalised[index + 2] as number);
        sum3 += (vectors[offset + index + 3] as number) * (normalised[index + 3] as number);
      }
      for (; index < dimensions; index += 1)
        sum0 += (vectors[offset + index] as number) * (normalised[index] as number);
      result[slot] = sum0 + sum1 + sum2 + sum3;
    }
    return result;
  }

  /** The best `limit` slots below `count` that `accept` admits, by exact cosine, best first. */
  search(
    query: Float32Array,
    count: number,
    limit: number,
    accept: (slot: number) => boolean,
  ): { slot: number; score: number }[] {
    const scores = this.scores(query, count);
    const heap = new TopK(limit);
    for (let slot = 0; slot < count; slot += 1) {
      const score = scores[slot] as number;
      if (score > heap.threshold && accept(slot)) heap.offer(slot, score);
    }
    return heap.sorted();
  }

  /** Nothing to release (the vectors are in memory); present for `DenseIndex`. */
  close(): void {}

  #ensureCapacity(count: number): void {
    if (count <= this.#capacity) return;
    const capacity = Math.max(count, this.#capacity * 2, 1024);
    const dimensions = this.dimensions;
    if (this.#memory) {
      // Vectors, then a scratch area for one scan's scores.
      const needed = this.#vectorsOffset + capacity * dimensions * 4 + capacity * 4;
      const current = this.#memory.buffer.byteLength;
      if (needed > current) this.#memory.grow(Math.ceil((needed - current) / wasmPageBytes));
      this.#vectors = new Float32Array(this.#memory.buffer, this.#vectorsOffset, capacity * dimensions);
    } else {
      const vectors = new Float32Array(capacity * dimensions);
      vectors.set(this.#vectors);
      this.#vectors = vectors;
    }
    this.#capacity = capacity;
  }
}

/** The norm to divide by: 1 when the vector is already of unit length within 1e-6 (or zero), else its norm. */
export function unitDivisor(vector: Float32Array): number {
  let squares = 0;
  for (let index = 0; index < vector.length; index += 1) squares += (vector[index] as number) ** 2;
  const norm = Math.sqrt(squares);
  return norm === 0 || Math.abs(norm - 1) < 1e-6 ? 1 : norm;
}
