/**
 * What the sparse (BM25) side indexes for a chunk, shared by both adapters so they score the same text:
 * the document title, the section path and the chunk text, analysed by one analyzer.
 */
import type { ChunkPayload } from '../ports/vector-index.ts';
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
  for (const term of analyzer.indexTerms(heading)) frequencies.set(term, (frequencies.get(term) ?? 0) + titleWeight);
  return frequencies;
}

/**
 * Sparse terms for every chunk of one document: each chunk's own terms (`chunkTermFrequencies`) plus its
 * adjacent chunks' text terms times `neighbourWeight`, so a chunk cut from the middle of a passage still
 * matches the words just before and after it. Only direct neighbours count, so chunks of a long manual stay
 * distinct. `chunks` may be in any order; neighbours are by `chunkIndex`.
 */
export function documentChunkTermFrequencies(
  chunks: readonly Pick<ChunkPayload, 'title' | 'sectionPath' | 'text' | 'chunkIndex'>[],
  options: SparseTermOptions & { neighbourWeight?: number } = {},
): Map<string, number>[] {
  const analyzer = options.analyzer ?? defaultAnalyzer;
  const neighbourWeight = options.neighbourWeight ?? defaultNeighbourWeight;
  const own = chunks.map((chunk) => chunkTermFrequencies(chunk, options));
  if (neighbourWeight <= 0 || chunks.length < 2) return own;
  const byIndex = new Map(chunks.map((chunk) => [chunk.chunkIndex, chunk]));
  const textTerms = new Map<number, Map<string, number>>();
  const termsOf = (chunkIndex: number) => {
    let terms = textTerms.get(chunkIndex);
    const chunk = byIndex.get(chunkIndex);
    if (!terms && chunk) {
      terms = analyzer.termFrequencies(chunk.text);
      textTerms.set(chunkIndex, terms);
    }
    return terms;
  };
  return chunks.map((chunk, position) => {
    const frequencies = own[position] as Map<string, number>;
    for (const neighbour of [chunk.chunkIndex - 1, chunk.chunkIndex + 1]) {
      const terms = termsOf(neighbour);
      if (!terms) continue;
      for (const [term, frequency] of terms) {
        frequencies.set(term, (frequencies.get(term) ?? 0) + frequency * neighbourWeight);
      }
    }
    return frequencies;
  });
}

/**
 * Default weight of adjacent chunks' terms: off. SciFact dev nDCG@10 through the chunker: 0 → 0.8587, 0.2 → 0.8614,
 * 0.3 → 0.8609, 0.4 → 0.8590, 0.6 → 0.8591 (README). 0.2 is the measured best, but it makes a term unique to one
 * chunk also match its neighbours (at a fifth of the weight), which other tests and callers currently rely on
 * not happening; enable it (`neighbourWeight` on either adapter) once they agree.
 */
export const defaultNeighbourWeight = 0;

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
