/**
 * `QuantizedVectorStore`: the quantized mode of the embedded index's dense side (`DenseIndex`, dense-index.ts).
 * Resident: one int8 code per component plus a float scale per vector (about a quarter of the float vectors),
 * and with the binary prefilter one sign bit per component more. The float vectors live in a `FloatVectorFile`
 * (on disk, through the page cache), read back only for the candidates a search rescores.
 *
 * Search, for the slots `accept` admits (the access filter, applied before any ranking, so a slot outside the
 * caller's scope never becomes a candidate however near it is):
 * 1. (prefilter 'binary' only) Hamming distance of every row's sign bits to the query's; the `binaryCandidates`
 *    nearest accepted rows go on (a counting selection: distances are integers ≤ dimensions).
 * 2. int8 dot product (WebAssembly SIMD, exact integer sums) of every row (or of the prefiltered rows) with the
 *    query's codes, times the row's scale; the best `max(rescore, 2 · limit)` accepted rows are candidates.
 * 3. Exact float cosine of each candidate, from the file; the best `limit` are returned with that score.
 * So every returned score is the exact cosine, and the result equals the exact scan's whenever the exact top
 * `limit` are among the candidates (the benchmark measures how often: recall@10 against the exact scan).
 *
 * Vectors are stored normalised (a vector already of unit length within 1e-6 as given). `close` releases the
 * file; the store is unusable afterwards.
 */
import { TopK } from '../search/bm25.ts';
import { unitDivisor } from './dense-vector-store.ts';
import { FloatVectorFile } from './float-vector-file.ts';
import { KernelArena } from './kernel-arena.ts';
import { codeSum, quantizeInt8, quantizeQuery, queryOffset, signBits } from './quantized-codes.ts';

export interface QuantizedVectorStoreOptions {
  /** Where the float file is created (and at once unlinked). */
  directory: string;
  /** Minimum candidates rescored with float vectors (default 64; at least twice the limit is always rescored). */
  rescore?: number;
  /** 'binary': the sign-bit prefilter before the int8 stage (default 'none': int8 over every accepted row). */
  prefilter?: 'none' | 'binary';
  /** Rows kept by the binary prefilter, as a fraction of the rows scanned (default 0.1), at least 20 × the limit. */
  binaryFraction?: number;
}

type ScoredSlot = { slot: number; score: number };

export class QuantizedVectorStore {
  readonly dimensions: number;
  readonly #options: QuantizedVectorStoreOptions;
  readonly #codes: KernelArena;
  readonly #bits: KernelArena | undefined;
  readonly #file: FloatVectorFile;
  #scales = new Float32Array(1024);
  #codeSums = new Int32Array(1024);
  readonly #row: Float32Array;

  constructor(dimensions: number, options: QuantizedVectorStoreOptions) {
    this.dimensions = dimensions;
    this.#options = options;
    this.#codes = new KernelArena(Math.ceil(dimensions / 32) * 32);
    this.#bits = options.prefilter === 'binary' ? new KernelArena(Math.ceil(dimensions / 64) * 8) : undefined;
    this.#file = new FloatVectorFile(options.directory, dimensions);
    this.#row = new Float32Array(dimensions);
  }

  /** Stores `vector` normalised at `slot`: floats to the file, codes (and sign bits) in memory. */
  set(slot: number, vector: Float32Array): void {
    if (vector.length !== this.dimensions) throw new RangeError(`expected ${this.dimensions} dimensions`);
    const norm = unitDivisor(vector);
    const unit = norm === 1 ? vector : vector.map((value) => value / norm);
    this.#file.write(slot, unit);
    this.#ensureCapacity(slot + 1);
    const codes = new Int8Array(this.#codes.buffer);
    const rowOffset = this.#codes.rowsOffset + slot * this.#codes.rowBytes;
    codes.fill(0, rowOffset, rowOffset + this.#codes.rowBytes);
    this.#scales[slot] = quantizeInt8(unit, codes, rowOffset);
    this.#codeSums[slot] = codeSum(codes, rowOffset, this.dimensions);
    if (this.#bits) {
      const bits = new Uint8Array(this.#bits.buffer);
      const bitsOffset = this.#bits.rowsOffset + slot * this.#bits.rowBytes;
      bits.fill(0, bitsOffset, bitsOffset + this.#bits.rowBytes);
      signBits(unit, bits, bitsOffset);
    }
  }

  /** The stored (normalised) vector of a slot, read from the file. */
  get(slot: number): Float32Array {
    return this.#file.read(slot);
  }

  /** The best `limit` accepted slots below `count` by exact cosine, found through the codes (see the top). */
  search(query: Float32Array, count: number, limit: number, accept: (slot: number) => boolean): ScoredSlot[] {
    if (query.length !== this.dimensions) throw new RangeError(`expected ${this.dimensions} dimensions`);
    if (limit <= 0 || count <= 0) return [];
    this.#ensureCapacity(count);
    const norm = unitDivisor(query);
    const unit = norm === 1 ? query : query.map((value) => value / norm);
    const candidates = this.#bits
      ? this.#int8Candidates(unit, this.#binaryRows(unit, count, limit, accept), limit)
      : this.#int8Candidates(unit, undefined, limit, count, accept);
    return this.#rescore(unit, candidates, limit);
  }

  close(): void {
    this.#file.close();
  }

  /** Rows (ascending) whose sign bits are nearest the query's, among accepted rows. */
  #binaryRows(unit: Float32Array, count: number, limit: number, accept: (slot: number) => boolean): Int32Array {
    const arena = this.#bits as KernelArena;
    const query = new Uint8Array(arena.buffer, arena.queryOffset, arena.rowBytes);
    query.fill(0);
    signBits(unit, query, 0);
    const out = arena.scratchOffset;
    arena.kernel.hamming(arena.rowsOffset, count, arena.rowBytes, arena.queryOffset, out);
    const distances = new Int32Array(arena.buffer, out, count);
    const wanted = Math.max(limit * 20, Math.ceil(count * (this.#options.binaryFraction ?? 0.1)));
    // Counting selection: a histogram of accepted rows' distances, then the largest cut keeping ≤ wanted rows
    // below it, topped up with rows at the cut distance in slot order.
    const histogram = new Int32Array(this.dimensions + 2);
    const accepted = new Uint8Array(count);
    for (let slot = 0; slot < count; slot += 1) {
      if (!accept(slot)) continue;
      accepted[slot] = 1;
      histogram[distances[slot] as number] = (histogram[distances[slot] as number] as number) + 1;
    }
    let cut = 0;
    let below = 0;
    while (cut <= this.dimensions && below + (histogram[cut] as number) <= wanted) {
      below += histogram[cut] as number;
      cut += 1;
    }
    let atCut = wanted - below;
    const rows = new Int32Array(Math.min(wanted, count));
    let length = 0;
    for (let slot = 0; slot < count; slot += 1) {
      if (accepted[slot] !== 1) continue;
      const distance = distances[slot] as number;
      if (distance < cut || (distance === cut && atCut > 0)) {
        if (distance === cut) atCut -= 1;
        rows[length] = slot;
        length += 1;
      }
    }
    return rows.subarray(0, length);
  }

  /** The best candidates by int8 score: over `rows` when given (all accepted already), else every accepted row. */
  #int8Candidates(
    unit: Float32Array,
    rows: Int32Array | undefined,
    limit: number,
    count = 0,
    accept: (slot: number) => boolean = () => true,
  ): ScoredSlot[] {
    const arena = this.#codes;
    // Padding lanes of the query must be 0 (not the +64 offset): row padding is 0 and stays out of the sum.
    const query = new Uint8Array(arena.buffer, arena.queryOffset, arena.rowBytes);
    query.fill(0);
    quantizeQuery(unit, query, 0);
    const out = arena.scratchOffset;
    const scales = this.#scales;
    const sums = this.#codeSums;
    const heap = new TopK(Math.max(this.#options.rescore ?? 64, 2 * limit));
    if (rows) {
      const list = arena.scratchOffset + arena.capacity * 4;
      new Int32Array(arena.buffer, list, rows.length).set(rows);
      arena.kernel.dotInt8Rows(arena.rowsOffset, list, rows.length, arena.rowBytes, arena.queryOffset, out);
      const dots = new Int32Array(arena.buffer, out, rows.length);
      for (let index = 0; index < rows.length; index += 1) {
        const slot = rows[index] as number;
        heap.offer(slot, ((dots[index] as number) - queryOffset * (sums[slot] as number)) * (scales[slot] as number));
      }
      return heap.sorted();
    }
    arena.kernel.dotInt8(arena.rowsOffset, count, arena.rowBytes, arena.queryOffset, out);
    const dots = new Int32Array(arena.buffer, out, count);
    for (let slot = 0; slot < count; slot += 1) {
      const score = ((dots[slot] as number) - queryOffset * (sums[slot] as number)) * (scales[slot] as number);
      if (score > heap.threshold && accept(slot)) heap.offer(slot, score);
    }
    return heap.sorted();
  }

  #rescore(unit: Float32Array, candidates: ScoredSlot[], limit: number): ScoredSlot[] {
    const heap = new TopK(limit);
    const row = this.#row;
    const dimensions = this.dimensions;
    for (const { slot } of candidates) {
      this.#file.read(slot, row);
      let sum0 = 0;
      let sum1 = 0;
      let index = 0;
      for (; index + 1 < dimensions; index += 2) {
        sum0 += (row[index] as number) * (unit[index] as number);
        sum1 += (row[index + 1] as number) * (unit[index + 1] as number);
      }
      if (index < dimensions) sum0 += (row[index] as number) * (unit[index] as number);
      heap.offer(slot, sum0 + sum1);
    }
    return heap.sorted();
  }

  #ensureCapacity(count: number): void {
    this.#codes.ensureCapacity(count);
    this.#bits?.ensureCapacity(count);
    if (count > this.#scales.length) {
      const capacity = Math.max(count, this.#scales.length * 2);
      const scales = new Float32Array(capacity);
      scales.set(this.#scales);
      this.#scales = scales;
      const sums = new Int32Array(capacity);
      sums.set(this.#codeSums);
      this.#codeSums = sums;
    }
  }
}
