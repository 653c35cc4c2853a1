/**
 * `quantizedKernelBytes()`: the binary of the WebAssembly module behind `QuantizedVectorStore`'s scans, assembled
 * from opcodes like the float kernel (scan-kernel-bytes.ts) for the same reason: one loop does not justify a WAT
 * toolchain or a native addon.
 *
 * Guarantees: the module imports `env.memory` and exports three functions over byte pointers into it:
 * - `dotInt8(codes, count, rowBytes, query, out)`: for i < count, out[i] (i32) = Σ_j codes[i·rowBytes + j] ·
 *   query[j], codes signed int8 in [−127, 127] (the quantizer never emits −128) and query bytes in [0, 127].
 *   `rowBytes` is a multiple of 32. Two builds compute the same exact integer sum:
 *   - `relaxed: true` uses relaxed SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s (one VNNI/pmaddubsw-class
 *     instruction per 16 lanes), two accumulators 32 bytes a step. Relaxed SIMD leaves two things to the
 *     platform — whether b's bytes are signed (irrelevant when their top bit is clear, hence a query in [0, 127])
 *     and whether the i16 pair sums saturate (irrelevant when 2 · 127 · 127 < 2^15) — so within these ranges
 *     the result is deterministic.
 *   - `relaxed: false` (where relaxed SIMD does not compile): i16x8.extmul of 16 lanes, the two halves added in
 *     i16 (exact for the same reason), widened pairwise into an i32x4 accumulator.
 * - `dotInt8Rows(codes, rows, n, rowBytes, query, out)`: the same for the n rows listed (i32 row numbers at
 *   `rows`), out[k] for rows[k] — the int8 stage of the binary → int8 → float cascade.
 * - `hamming(bits, count, rowBytes, query, out)`: for i < count, out[i] (i32) = popcount(row i XOR query), 8 bytes
 *   at a time (`rowBytes` a multiple of 8).
 * The bytes are the same on every call; nothing here touches the WebAssembly API.
 */
import { name, section, signedLeb, unsignedLeb } from './scan-kernel-bytes.ts';

const get = (index: number) => [0x20, index];
const set = (index: number) => [0x21, index];
const tee = (index: number) => [0x22, index];
const i32 = (value: number) => [0x41, ...signedLeb(value)];
const i64Zero = [0x42, 0x00];
const i32Add = 0x6a;
const i32Mul = 0x6c;
const i32Shl = 0x74;
const i32GeU = 0x4f;
const i32WrapI64 = 0xa7;
const i64Xor = 0x85;
const i64Add = 0x7c;
const i64Popcnt = 0x7b;
/** Loads and stores with natural alignment, offset 0. */
const i32Load = [0x28, 0x02, 0x00];
const i32Store = [0x36, 0x02, 0x00];
const i64Load = [0x29, 0x03, 0x00];
const v128Load = [0xfd, 0x00, 0x04, 0x00];
const v128Zero = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const i16x8ExtmulLowI8x16S = [0xfd, 0x9c, 0x01];
const i16x8ExtmulHighI8x16S = [0xfd, 0x9d, 0x01];
const i16x8Add = [0xfd, 0x8e, 0x01];
const i32x4ExtaddPairwiseI16x8S = [0xfd, 0x7e];
const i32x4Add = [0xfd, 0xae, 0x01];
const i32x4Lane = (index: number) => [0xfd, 0x1b, index];
/** v128.load at a constant offset (alignment hint 2^4). */
const v128LoadAt = (offset: number) => [0xfd, 0x00, 0x04, ...unsignedLeb(offset)];
const i32x4RelaxedDotI8x16I7x16AddS = [0xfd, 0x93, 0x02];
const blockLoop = [0x02, 0x40, 0x03, 0x40];
const exitIf = [0x0d, 0x01];
const repeat = [0x0c, 0x00];
const endLoopBlock = [0x0b, 0x0b];
const end = 0x0b;

const i32Type = 0x7f;
const i64Type = 0x7e;
const v128Type = 0x7b;

/** Locals of one row's dot product: the row pointer, the byte index, and four v128 from `acc` on. */
interface RowLocals {
  base: number;
  rowBytes: number;
  query: number;
  j: number;
  acc: number;
}

/**
 * Σ over one row's int8 lanes of row · query, stored at the i32 address already on the stack. Uses v128 locals
 * acc and acc + 1 (accumulators), acc + 2 and acc + 3 (the extmul build's loaded lanes).
 */
function rowDotInt8(locals: RowLocals, relaxed: boolean): number[] {
  const { base, rowBytes, query, j, acc } = locals;
  const second = acc + 1;
  const left = acc + 2;
  const right = acc + 3;
  const step = relaxed
    ? [
        ...[...get(base), ...get(j), i32Add, ...v128Load, ...get(query), ...get(j), i32Add, ...v128Load],
        ...[...get(acc), ...i32x4RelaxedDotI8x16I7x16AddS, ...set(acc)],
        ...[...get(base), ...get(j), i32Add, ...v128LoadAt(16), ...get(query), ...get(j), i32Add, ...v128LoadAt(16)],
        ...[...get(second), ...i32x4RelaxedDotI8x16I7x16AddS, ...set(second)],
        ...[...get(j), ...i32(32), i32Add, ...set(j)],
      ]
    : [
        ...get(acc),
        ...[...get(base), ...get(j), i32Add, ...v128Load, ...tee(left)],
        ...[...get(query), ...get(j), i32Add, ...v128Load, ...tee(right)],
        ...i16x8ExtmulLowI8x16S,
        ...[...get(left), ...get(right), ...i16x8ExtmulHighI8x16S],
        ...[...i16x8Add, ...i32x4ExtaddPairwiseI16x8S, ...i32x4Add, ...set(acc)],
        ...[...get(j), ...i32(16), i32Add, ...set(j)],
      ];
  return [
    ...[...v128Zero, ...set(acc), ...v128Zero, ...set(second), ...i32(0), ...set(j)],
    ...blockLoop,
    ...[...get(j), ...get(rowBytes), i32GeU, ...exitIf],
    ...step,
    ...repeat,
    ...endLoopBlock,
    // The accumulators' eight lanes' sum (the second is all zeros in the extmul build).
    ...[...get(acc), ...get(second), ...i32x4Add, ...set(acc)],
    ...[...get(acc), ...i32x4Lane(0), ...get(acc), ...i32x4Lane(1), i32Add],
    ...[...get(acc), ...i32x4Lane(2), i32Add, ...get(acc), ...i32x4Lane(3), i32Add],
    ...i32Store,
  ];
}

/** dotInt8(codes 0, count 1, rowBytes 2, query 3, out 4); locals i 5, j 6, v128 7–10. */
function dotInt8Body(relaxed: boolean): number[] {
  const [codes, count, rowBytes, query, out, i, j, acc] = [0, 1, 2, 3, 4, 5, 6, 7];
  return [
    ...[0x02, 0x02, i32Type, 0x04, v128Type],
    ...[...i32(0), ...set(i)],
    ...blockLoop,
    ...[...get(i), ...get(count), i32GeU, ...exitIf],
    ...[...get(out), ...get(i), ...i32(2), i32Shl, i32Add],
    ...rowDotInt8({ base: codes, rowBytes, query, j, acc }, relaxed),
    ...[...get(codes), ...get(rowBytes), i32Add, ...set(codes)],
    ...[...get(i), ...i32(1), i32Add, ...set(i)],
    ...repeat,
    ...endLoopBlock,
    end,
  ];
}

/** dotInt8Rows(codes 0, rows 1, n 2, rowBytes 3, query 4, out 5); locals k 6, j 7, row 8, v128 9–12. */
function dotInt8RowsBody(relaxed: boolean): number[] {
  const [codes, rows, n, rowBytes, query, out, k, j, row, acc] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  return [
    ...[0x02, 0x03, i32Type, 0x04, v128Type],
    ...[...i32(0), ...set(k)],
    ...blockLoop,
    ...[...get(k), ...get(n), i32GeU, ...exitIf],
    // row = codes + rows[k] · rowBytes
    ...[...get(codes), ...get(rows), ...get(k), ...i32(2), i32Shl, i32Add, ...i32Load, ...get(rowBytes), i32Mul],
    ...[i32Add, ...set(row)],
    ...[...get(out), ...get(k), ...i32(2), i32Shl, i32Add],
    ...rowDotInt8({ base: row, rowBytes, query, j, acc }, relaxed),
    ...[...get(k), ...i32(1), i32Add, ...set(k)],
    ...repeat,
    ...endLoopBlock,
    end,
  ];
}

/** hamming(bits 0, count 1, rowBytes 2, query 3, out 4); locals i 5, j 6, sum 7 (i64). */
function hammingBody(): number[] {
  const [bits, count, rowBytes, query, out, i, j, sum] = [0, 1, 2, 3, 4, 5, 6, 7];
  return [
    ...[0x02, 0x02, i32Type, 0x01, i64Type],
    ...[...i32(0), ...set(i)],
    ...blockLoop,
    ...[...get(i), ...get(count), i32GeU, ...exitIf],
    ...[...i64Zero, ...set(sum), ...i32(0), ...set(j)],
    ...blockLoop,
    ...[...get(j), ...get(rowBytes), i32GeU, ...exitIf],
    ...get(sum),
    ...[...get(bits), ...get(j), i32Add, ...i64Load, ...get(query), ...get(j), i32Add, ...i64Load],
    ...[i64Xor, i64Popcnt, i64Add, ...set(sum)],
    ...[...get(j), ...i32(8), i32Add, ...set(j)],
    ...repeat,
    ...endLoopBlock,
    ...[...get(out), ...get(i), ...i32(2), i32Shl, i32Add, ...get(sum), i32WrapI64, ...i32Store],
    ...[...get(bits), ...get(rowBytes), i32Add, ...set(bits)],
    ...[...get(i), ...i32(1), i32Add, ...set(i)],
    ...repeat,
    ...endLoopBlock,
    end,
  ];
}

function code(body: number[]): number[] {
  return [...unsignedLeb(body.length), ...body];
}

export function quantizedKernelBytes(options: { relaxed: boolean }): Uint8Array {
  const { relaxed } = options;
  const functionType = (parameters: number) => [0x60, parameters, ...new Array<number>(parameters).fill(i32Type), 0];
  const exported = (text: string, index: number) => [...name(text), 0x00, index];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // types: 0 = (i32 × 5) → (), 1 = (i32 × 6) → ()
    ...section(1, [0x02, ...functionType(5), ...functionType(6)]),
    ...section(2, [0x01, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]),
    // functions: dotInt8 (type 0), dotInt8Rows (type 1), hamming (type 0)
    ...section(3, [0x03, 0x00, 0x01, 0x00]),
    ...section(7, [0x03, ...exported('dotInt8', 0), ...exported('dotInt8Rows', 1), ...exported('hamming', 2)]),
    ...section(10, [0x03, ...code(dotInt8Body(relaxed)), ...code(dotInt8RowsBody(relaxed)), ...code(hammingBody())]),
  ];
  return new Uint8Array(bytes);
}
