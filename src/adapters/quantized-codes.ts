/**
 * The codes of the quantized dense index, as pure functions over typed arrays.
 *
 * - `quantizeInt8`: symmetric per-vector scalar quantization. A vector's scale is max|v| / 127 and each component
 *   becomes round(v / scale), so every code lies in [−127, 127] (never −128, which the int8 kernel's exact i16
 *   pair sums rely on) and |v − code · scale| ≤ scale / 2 for every component. A zero vector gets scale 0 and
 *   all-zero codes. Per-vector rather than per-dimension: vectors arrive one document at a time, so a
 *   per-dimension range would have to be fixed before the data is seen (or every code redone when it moves);
 *   the benchmark's quantizer comparison shows the choice keeps recall on clustered data.
 * - `quantizeQuery`: the query's side of the int8 dot product — 7-bit codes round(v / scale) in [−63, 63] with
 *   scale = max|v| / 63, stored offset by +64 so every byte lies in [1, 127] (the relaxed-SIMD kernel needs its
 *   second operand's top bit clear). Σ code·(q + 64) = Σ code·q + 64 · Σ code, so a row's code sum (`codeSum`)
 *   turns the kernel's result back into the signed dot product.
 * - `signBits`: one bit per component (1 when the component is > 0), least significant bit first, for the
 *   binary prefilter; Hamming distance between two sign codes estimates their angle (θ ≈ π · hamming / d).
 * Both write into a caller's buffer at an offset and never allocate.
 */

export const int8Limit = 127;

/** Writes the int8 codes of `vector` at `codes[offset…]` and returns the scale (code · scale ≈ component). */
export function quantizeInt8(vector: Float32Array, codes: Int8Array, offset: number): number {
  let largest = 0;
  for (let index = 0; index < vector.length; index += 1) {
    const magnitude = Math.abs(vector[index] as number);
    if (magnitude > largest) largest = magnitude;
  }
  if (!(largest > 0) || !Number.isFinite(largest)) {
    codes.fill(0, offset, offset + vector.length);
    return 0;
  }
  const inverse = int8Limit / largest;
  for (let index = 0; index < vector.length; index += 1) {
    const code = Math.round((vector[index] as number) * inverse);
    codes[offset + index] = Math.min(int8Limit, Math.max(-int8Limit, code));
  }
  return largest / int8Limit;
}

export const queryLimit = 63;
export const queryOffset = 64;

/** Writes the query's offset 7-bit codes at `codes[offset…]` (each in [1, 127]). */
export function quantizeQuery(vector: Float32Array, codes: Uint8Array, offset: number): void {
  let largest = 0;
  for (let index = 0; index < vector.length; index += 1) {
    const magnitude = Math.abs(vector[index] as number);
    if (magnitude > largest) largest = magnitude;
  }
  const inverse = largest > 0 && Number.isFinite(largest) ? queryLimit / largest : 0;
  for (let index = 0; index < vector.length; index += 1) {
    const code = Math.round((vector[index] as number) * inverse);
    codes[offset + index] = Math.min(queryLimit, Math.max(-queryLimit, code)) + queryOffset;
  }
}

/** The sum of a row's codes (the correction for the query's +64 offset). */
export function codeSum(codes: Int8Array, offset: number, length: number): number {
  let sum = 0;
  for (let index = 0; index < length; index += 1) sum += codes[offset + index] as number;
  return sum;
}

/** The approximate vector the codes stand for. */
export function dequantizeInt8(codes: Int8Array, offset: number, length: number, scale: number): Float32Array {
  const vector = new Float32Array(length);
  for (let index = 0; index < length; index += 1) vector[index] = (codes[offset + index] as number) * scale;
  return vector;
}

/** Writes the sign bits of `vector` at `bits[offset…]` (⌈length / 8⌉ bytes; the caller zeroes any padding). */
export function signBits(vector: Float32Array, bits: Uint8Array, offset: number): void {
  for (let byte = 0; byte < Math.ceil(vector.length / 8); byte += 1) {
    let value = 0;
    for (let bit = 0; bit < 8; bit += 1) {
      const index = byte * 8 + bit;
      if (index < vector.length && (vector[index] as number) > 0) value |= 1 << bit;
    }
    bits[offset + byte] = value;
  }
}
