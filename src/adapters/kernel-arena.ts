/**
 * `KernelArena`: one WebAssembly memory laid out for a row-scanning kernel — a query area, fixed-width rows by
 * number, then scratch (an i32 or f32 per row for a scan's output, an i32 per row for a row list). Rows keep
 * their bytes when the arena grows (the memory only grows and the rows area starts at a fixed offset); the
 * scratch area moves and is never preserved. Views handed out are valid until the next `ensureCapacity`.
 */
import { quantizedKernelBytes } from './quantized-kernel-bytes.ts';
import { type WasmApi, type WasmMemory, wasm, wasmPageBytes } from './wasm-api.ts';

export interface QuantizedKernel {
  dotInt8(codes: number, count: number, rowBytes: number, query: number, out: number): void;
  dotInt8Rows(codes: number, rows: number, n: number, rowBytes: number, query: number, out: number): void;
  hamming(bits: number, count: number, rowBytes: number, query: number, out: number): void;
}

let compiled: { module: object; relaxed: boolean } | undefined;

/** The relaxed-SIMD build where the engine compiles it (Node 24 does), else the plain-SIMD one. */
function kernelModule(api: WasmApi): { module: object; relaxed: boolean } {
  if (!compiled) {
    try {
      compiled = { module: new api.Module(quantizedKernelBytes({ relaxed: true })), relaxed: true };
    } catch {
      compiled = { module: new api.Module(quantizedKernelBytes({ relaxed: false })), relaxed: false };
    }
  }
  return compiled;
}

export class KernelArena {
  readonly rowBytes: number;
  readonly kernel: QuantizedKernel;
  readonly queryOffset = 0;
  readonly rowsOffset: number;
  #memory: WasmMemory;
  #capacity = 0;

  /** Whether the int8 kernel is the relaxed-SIMD build (for the benchmark's report). */
  readonly relaxed: boolean;

  /**
   * `rowBytes` must be a multiple of 32 (int8 rows) or 8 (bit rows), as the kernel requires; `simd: 'plain'`
   * forces the plain-SIMD build (tests compare both).
   */
  constructor(rowBytes: number, options: { simd?: 'relaxed' | 'plain' } = {}) {
    if (!wasm) throw new Error('WebAssembly is not available');
    const { module, relaxed } =
      options.simd === 'plain'
        ? { module: new wasm.Module(quantizedKernelBytes({ relaxed: false })), relaxed: false }
        : kernelModule(wasm);
    this.relaxed = relaxed;
    this.rowBytes = rowBytes;
    this.rowsOffset = Math.ceil(rowBytes / 32) * 32;
    this.#memory = new wasm.Memory({ initial: 1 });
    const instance = new wasm.Instance(module, { env: { memory: this.#memory } });
    this.kernel = instance.exports as unknown as QuantizedKernel;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Byte offset of the scratch area (after `capacity` rows): one 4-byte value per row, then a 4-byte row list. */
  get scratchOffset(): number {
    return this.rowsOffset + this.#capacity * this.rowBytes;
  }

  get buffer(): ArrayBuffer {
    return this.#memory.buffer;
  }

  ensureCapacity(count: number): void {
    if (count <= this.#capacity) return;
    const capacity = Math.max(count, this.#capacity * 2, 1024);
    const needed = this.rowsOffset + capacity * this.rowBytes + capacity * 8;
    const current = this.#memory.buffer.byteLength;
    if (needed > current) this.#memory.grow(Math.ceil((needed - current) / wasmPageBytes));
    this.#capacity = capacity;
  }
}
