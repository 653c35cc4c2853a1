/**
 * `DenseIndex`: the dense side of the embedded index, by slot — store a vector, read it back, and find the best
 * accepted slots for a query by exact cosine. Two modes behind one shape:
 * - 'exact' (`DenseVectorStore`): every float vector resident, every accepted slot scored exactly. For tests and
 *   small indexes; its results are the reference the quantized mode is measured against.
 * - 'quantized' (`QuantizedVectorStore`, the default): int8 codes resident, float vectors in an unlinked file,
 *   candidates by int8 score (optionally after a sign-bit prefilter) rescored exactly. About 4× less resident
 *   memory and a faster scan; see that file for how close to exact it stays.
 * In both, `accept` is consulted before a slot can rank, and returned scores are exact cosines.
 */
import { tmpdir } from 'node:os';
import { DenseVectorStore } from './dense-vector-store.ts';
import { QuantizedVectorStore } from './quantized-vector-store.ts';

export interface DenseIndex {
  readonly dimensions: number;
  set(slot: number, vector: Float32Array): void;
  /** The stored (normalised) vector of a slot, as a fresh array. */
  get(slot: number): Float32Array;
  search(
    query: Float32Array,
    count: number,
    limit: number,
    accept: (slot: number) => boolean,
  ): { slot: number; score: number }[];
  close(): void;
}

export type DenseIndexOptions =
  | { mode: 'exact' }
  | {
      mode: 'quantized';
      /** Directory for the float file (default: the OS temporary directory). */
      directory?: string;
      /** Minimum candidates rescored exactly (default 64; never fewer than twice the limit). */
      rescore?: number;
      /** 'binary': a sign-bit prefilter before the int8 stage (default 'none'). */
      prefilter?: 'none' | 'binary';
      /** Share of rows the binary prefilter keeps (default 0.1). */
      binaryFraction?: number;
    };

export function createDenseIndex(dimensions: number, options: DenseIndexOptions = { mode: 'quantized' }): DenseIndex {
  if (options.mode === 'exact') return new DenseVectorStore(dimensions);
  return new QuantizedVectorStore(dimensions, {
    directory: options.directory ?? tmpdir(),
    ...(options.rescore === undefined ? {} : { rescore: options.rescore }),
    ...(options.prefilter === undefined ? {} : { prefilter: options.prefilter }),
    ...(options.binaryFraction === undefined ? {} : { binaryFraction: options.binaryFraction }),
  });
}
