/**
 * Contiguous storage for normalised dense vectors with an exact dot-product scan. When the width is a multiple
 * of 4 the scan runs in a 40-instruction WebAssembly SIMD kernel (f32x4 multiply-add, about 4× the scalar JS
 * loop; V8 does not vectorise JS), otherwise in JS. Both compute the same exact cosine (vectors are normalised
 * on insert), only the floating-point summation order differs (≤ 1e-6).
 *
 * The kernel is assembled here from its opcodes (listed below) because a WAT toolchain or a native addon would
 * be a heavy dependency for one loop. Vectors live in the module's memory so a scan never copies them; the
 * memory only grows, and the scores of a scan go to a scratch area after the vectors.
 */

const pageBytes = 65_536;

/** The slice of the WebAssembly JS API used here (tsconfig's lib has no DOM/wasm typings). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** uleb128 / sleb128 encoders for the WebAssembly binary format. */
function unsignedLeb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest !== 0);
  return bytes;
}

function section(id: number, contents: number[]): number[] {
  return [id, ...unsignedLeb(contents.length), ...contents];
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...unsignedLeb(bytes.length), ...bytes];
}

/**
 * `scan(vectors, count, dimensions, query, out)`: for i < count, out[i] = Σ_j vectors[i·d + j] · query[j]
 * (byte pointers; dimensions a multiple of 4). Locals: 5 i (i32), 6 j (i32, byte offset), 7 acc (v128),
 * 8 rowBytes (i32).
 */
function kernelBytes(): Uint8Array {
  const get = (index: number) => [0x20, index];
  const set = (index: number) => [0x21, index];
  const i32 = (value: number) => [0x41, ...signedLeb(value)];
  const v128Load = [0xfd, 0x00, 0x02, 0x00];
  const f32x4Mul = [0xfd, 0xe6, 0x01];
  const f32x4Add = [0xfd, 0xe4, 0x01];
  const lane = (index: number) => [0xfd, 0x1f, index];
  const body = [
    // locals: 2 × i32, 1 × v128, 1 × i32
    0x03,
    0x02,
    0x7f,
    0x01,
    0x7b,
    0x01,
    0x7f,
    ...get(2),
    ...i32(2),
    0x74,
    ...set(8),
    ...i32(0),
    ...set(5),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(5),
    ...get(1),
    0x4f,
    0x0d,
    0x01,
    0xfd,
    0x0c,
    ...new Array<number>(16).fill(0),
    ...set(7),
    ...i32(0),
    ...set(6),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(6),
    ...get(8),
    0x4f,
    0x0d,
    0x01,
    ...get(7),
    ...get(0),
    ...get(6),
    0x6a,
    ...v128Load,
    ...get(3),
    ...get(6),
    0x6a,
    ...v128Load,
    ...f32x4Mul,
    ...f32x4Add,
    ...set(7),
    ...get(6),
    ...i32(16),
    0x6a,
    ...set(6),
    0x0c,
    0x00,
    0x0b,
    0x0b,
    ...get(4),
    ...get(5),
    ...i32(2),
    0x74,
    0x6a,
    ...get(7),
    ...lane(0),
    ...get(7),
    ...lane(1),
    0x92,
    ...get(7),
    ...lane(2),
    0x92,
    ...get(7),
    ...lane(3),
    0x92,
    0x38,
    0x02,
    0x00,
    ...get(0),
    ...get(8),
    0x6a,
    ...set(0),
    ...get(5),
    ...i32(1),
    0x6a,
    ...set(5),
    0x0c,
    0x00,
    0x0b,
    0x0b,
    0x0b,
  ];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [0x01, 0x60, 0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x00]),
    ...section(2, [0x01, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]),
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, ...name('scan'), 0x00, 0x00]),
    ...section(10, [0x01, ...unsignedLeb(body.length), ...body]),
  ];
  return new Uint8Array(bytes);
}

function signedLeb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

let compiled: object | null | undefined;

function kernelModule(): object | null {
  if (compiled === undefined) {
    try {
      compiled = wasm ? new wasm.Module(kernelBytes()) : null;
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
    let squares = 0;
    for (let index = 0; index < vector.length; index += 1) squares += (vector[index] as number) ** 2;
    const norm = Math.sqrt(squares) || 1;
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

  #ensureCapacity(count: number): void {
    if (count <= this.#capacity) return;
    const capacity = Math.max(count, this.#capacity * 2, 1024);
    const dimensions = this.dimensions;
    if (this.#memory) {
      // Vectors, then a scratch area for one scan's scores.
      const needed = this.#vectorsOffset + capacity * dimensions * 4 + capacity * 4;
      const current = this.#memory.buffer.byteLength;
      if (needed > current) this.#memory.grow(Math.ceil((needed - current) / pageBytes));
      this.#vectors = new Float32Array(this.#memory.buffer, this.#vectorsOffset, capacity * dimensions);
    } else {
      const vectors = new Float32Array(capacity * dimensions);
      vectors.set(this.#vectors);
      this.#vectors = vectors;
    }
    this.#capacity = capacity;
  }
}
