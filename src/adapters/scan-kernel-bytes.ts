/**
 * `scanKernelBytes()`: the binary of the WebAssembly SIMD module behind `DenseVectorStore`'s scan, assembled
 * from its opcodes because a WAT toolchain or a native addon would be a heavy dependency for one loop.
 *
 * Guarantees: the module imports `env.memory` (one page minimum) and exports one function,
 * `scan(vectors, count, dimensions, query, out)`: for i < count, out[i] = Σ_j vectors[i·d + j] · query[j]
 * (byte pointers into that memory; `dimensions` a multiple of 4; f32 values, summed 4 lanes at a time). The
 * bytes are the same on every call; nothing here touches the WebAssembly API. The binary-format encoders are
 * exported for the quantized kernels (quantized-kernel-bytes.ts).
 */

/** uleb128 / sleb128 encoders for the WebAssembly binary format. */
export function unsignedLeb(value: number): number[] {
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

export function signedLeb(value: number): number[] {
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

export function section(id: number, contents: number[]): number[] {
  return [id, ...unsignedLeb(contents.length), ...contents];
}

export function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...unsignedLeb(bytes.length), ...bytes];
}

// The parameters and locals of `scan`, by index.
const vectors = 0;
const count = 1;
const dimensions = 2;
const query = 3;
const out = 4;
const i = 5;
/** Byte offset within a row. */
const j = 6;
/** v128 accumulator of one row's four partial sums. */
const acc = 7;
const rowBytes = 8;

// The instructions used (WebAssembly core + SIMD opcodes).
const get = (index: number) => [0x20, index];
const set = (index: number) => [0x21, index];
const i32 = (value: number) => [0x41, ...signedLeb(value)];
const i32Add = 0x6a;
const i32Shl = 0x74;
const i32GeU = 0x4f;
const f32Add = 0x92;
/** f32.store, alignment 2^2, offset 0. */
const f32Store = [0x38, 0x02, 0x00];
/** v128.load, alignment 2^2, offset 0. */
const v128Load = [0xfd, 0x00, 0x02, 0x00];
const v128Zero = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const f32x4Mul = [0xfd, 0xe6, 0x01];
const f32x4Add = [0xfd, 0xe4, 0x01];
const lane = (index: number) => [0xfd, 0x1f, index];
/** `block` then `loop`, both without a result: `br_if 1` leaves the loop, `br 0` repeats it. */
const blockLoop = [0x02, 0x40, 0x03, 0x40];
const exitIf = [0x0d, 0x01];
const repeat = [0x0c, 0x00];
const endLoopBlock = [0x0b, 0x0b];
const end = 0x0b;

/** Locals 5–8: 2 × i32 (i, j), 1 × v128 (acc), 1 × i32 (rowBytes). */
const localDeclarations = [0x03, 0x02, 0x7f, 0x01, 0x7b, 0x01, 0x7f];

/** acc += v128(vectors + j) · v128(query + j), for j from 0 to rowBytes by 16. */
function rowDotProduct(): number[] {
  return [
    ...v128Zero,
    ...set(acc),
    ...i32(0),
    ...set(j),
    ...blockLoop,
    ...[...get(j), ...get(rowBytes), i32GeU, ...exitIf],
    ...[...get(acc), ...get(vectors), ...get(j), i32Add, ...v128Load, ...get(query), ...get(j), i32Add, ...v128Load],
    ...[...f32x4Mul, ...f32x4Add, ...set(acc)],
    ...[...get(j), ...i32(16), i32Add, ...set(j)],
    ...repeat,
    ...endLoopBlock,
  ];
}

/** out[i] = the sum of acc's four lanes. */
function storeRowScore(): number[] {
  return [
    ...[...get(out), ...get(i), ...i32(2), i32Shl, i32Add],
    ...[...get(acc), ...lane(0), ...get(acc), ...lane(1), f32Add],
    ...[...get(acc), ...lane(2), f32Add, ...get(acc), ...lane(3), f32Add],
    ...f32Store,
  ];
}

/** The body of `scan`: for each row i < count, its dot product with the query, then the next row. */
function scanBody(): number[] {
  return [
    ...localDeclarations,
    ...[...get(dimensions), ...i32(2), i32Shl, ...set(rowBytes)],
    ...[...i32(0), ...set(i)],
    ...blockLoop,
    ...[...get(i), ...get(count), i32GeU, ...exitIf],
    ...rowDotProduct(),
    ...storeRowScore(),
    ...[...get(vectors), ...get(rowBytes), i32Add, ...set(vectors)],
    ...[...get(i), ...i32(1), i32Add, ...set(i)],
    ...repeat,
    ...endLoopBlock,
    end,
  ];
}

export function scanKernelBytes(): Uint8Array {
  const body = scanBody();
  const magicAndVersion = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const bytes = [
    ...magicAndVersion,
    // type: (i32 × 5) → ()
    ...section(1, [0x01, 0x60, 0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x00]),
    // import: env.memory, at least one page
    ...section(2, [0x01, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]),
    // function 0 has type 0
    ...section(3, [0x01, 0x00]),
    // export: scan = function 0
    ...section(7, [0x01, ...name('scan'), 0x00, 0x00]),
    ...section(10, [0x01, ...unsignedLeb(body.length), ...body]),
  ];
  return new Uint8Array(bytes);
}
