/**
 * What the sparse (BM25) side indexes for a chunk, shared by both adapters so they score the same text:
 * the document title, the section path and the chunk text, analysed by one analyzer.
 */
import type { ChunkPayload } from '../../../ports/vector-index.ts';
import { type Analyzer, defaultAnalyzer } from './analyzer.ts';

export interface SparseTermOptions {
  analyzer?: Analyzer;
  /**
   * How many times title terms count. 1 reproduces Pyserini's "title + text in one field"; the default is
   * tuned on the SciFact dev split (README).
   */
  titleWeight?: number;
}

/** Default title weight: 1 (a heavier title did not improve the SciFact dev split; see README). */
export const defaultTitleWeight = 1;

/** Term → (weighted) frequency for a chunk's sparse representation. */
export function chunkTermFrequencies(
  chunk: Pick<ChunkPayload, 'title' | 'sectionPath' | 'text'>,
  options: SparseTermOptions = {},
): Map<string, number> {
  const analyzer = options.analyzer ?? defaultAnalyzer;
  const titleWeight = options.titleWeight ?? defaultTitleWeight;
  const frequencies = analyzer.termFrequencies(chunk.text);
  const heading = [chunk.title, ...chunk.sectionPath.filter((section) => section !== chunk.title)].join('\n');
  for (const term of analyzer.analyze(heading)) frequencies.set(term, (frequencies.get(term) ?? 0) + titleWeight);
  return frequencies;
}

/** Term → count for a query. */
export function queryTermFrequencies(text: string, analyzer: Analyzer = defaultAnalyzer): Map<string, number> {
  return analyzer.termFrequencies(text);
}

/**
 * A stable 32-bit id for an analysed term (FNV-1a over its UTF-8 bytes), used as the sparse-vector index in
 * Qdrant. Collisions merge two terms' statistics; at 2^32 ids they are rare enough for ranking.
 */
export function termId(term: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(term)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
