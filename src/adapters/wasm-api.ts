/**
 * The slice of the WebAssembly JS API the scan kernels use (tsconfig's lib has no DOM/wasm typings), and the
 * engine's `WebAssembly` when there is one. Shared by the exact float scan (dense-vector-store.ts) and the
 * quantized kernels (kernel-arena.ts).
 */

export const wasmPageBytes = 65_536;

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}

export const wasm: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
