/**
 * Maximal Marginal Relevance (Carbonell & Goldstein, SIGIR 1998) with near-duplicate removal: candidates are
 * re-ordered so each next pick balances its relevance against its similarity to what is already picked, and
 * a candidate nearly identical to a picked one is dropped (the same paragraph indexed twice, or a document
 * uploaded in two channels, would otherwise fill the context with copies).
 *
 * Similarity is the cosine of the chunks' dense vectors when both have one, otherwise the Jaccard overlap of
 * their analysed terms (so sparse-only retrieval de-duplicates too).
 */
import type { SearchHit } from '../../../ports/vector-index.ts';
import { type Analyzer, defaultAnalyzer } from '../../../search/analyzer.ts';

export interface MmrOptions {
  /** Weight of relevance against novelty, 0..1 (1 = relevance order only). Default 0.75. */
  lambda?: number;
  /** Similarity at or above which a candidate counts as a duplicate of a picked one and is dropped. Default 0.9. */
  duplicateThreshold?: number;
  analyzer?: Analyzer;
  /**
   * Only the best `window` hits are re-ordered (MMR is quadratic); the rest follow in their given order.
   * Default 40: far more than a relative cutoff and a context budget ever keep.
   */
  window?: number;
}

export const defaultMmrLambda = 0.75;
export const defaultDuplicateThreshold = 0.9;

/** Re-orders `hits` (best first) by MMR and removes near-duplicates; scores are left as they were. */
export function maximalMarginalRelevance(hits: readonly SearchHit[], options: MmrOptions = {}): SearchHit[] {
  const lambda = options.lambda ?? defaultMmrLambda;
  const duplicateThreshold = options.duplicateThreshold ?? defaultDuplicateThreshold;
  const analyzer = options.analyzer ?? defaultAnalyzer;
  const window = options.window ?? 40;
  if (hits.length > window) {
    return [...maximalMarginalRelevance(hits.slice(0, window), options), ...hits.slice(window)];
  }
  if (hits.length <= 1) return [...hits];
  const top = Math.max(...hits.map((hit) => hit.score));
  const bottom = Math.min(...hits.map((hit) => hit.score));
  const range = top - bottom;
  const relevance = hits.map((hit) => (range > 0 ? (hit.score - bottom) / range : 1));
  const termSets: (Set<string> | undefined)[] = new Array(hits.length).fill(undefined);
  const termsOf = (index: number): Set<string> => {
    let terms = termSets[index];
    if (!terms) {
      terms = cachedTermSet((hits[index] as SearchHit).chunk, analyzer);
      termSets[index] = terms;
    }
    return terms;
  };
  const similarity = (left: number, right: number): number => {
    const leftDense = (hits[left] as SearchHit).chunk.dense;
    const rightDense = (hits[right] as SearchHit).chunk.dense;
    if (leftDense && rightDense && leftDense.length === rightDense.length) return cosine(leftDense, rightDense);
    return jaccard(termsOf(left), termsOf(right));
  };

  const remaining = hits.map((_, index) => index);
  const maxSimilarity = new Array<number>(hits.length).fill(0);
  const picked: SearchHit[] = [];
  while (remaining.length > 0) {
    let bestPosition = 0;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (let position = 0; position < remaining.length; position += 1) {
      const index = remaining[position] as number;
      const value = lambda * (relevance[index] as number) - (1 - lambda) * (maxSimilarity[index] as number);
      if (value > bestValue) {
        bestValue = value;
        bestPosition = position;
      }
    }
    const [chosen] = remaining.splice(bestPosition, 1) as [number];
    picked.push(hits[chosen] as SearchHit);
    for (let position = remaining.length - 1; position >= 0; position -= 1) {
      const index = remaining[position] as number;
      const value = similarity(chosen, index);
      if (value >= duplicateThreshold) remaining.splice(position, 1);
      else if (value > (maxSimilarity[index] as number)) maxSimilarity[index] = value;
    }
  }
  return picked;
}

const termSetCache = new Map<string, Set<string>>();

/** Term sets by content hash: the same chunks come back query after query, analysing them again is waste. */
function cachedTermSet(chunk: SearchHit['chunk'], analyzer: Analyzer): Set<string> {
  const key = analyzer === defaultAnalyzer ? chunk.contentHash : undefined;
  const cached = key === undefined ? undefined : termSetCache.get(key);
  if (cached) return cached;
  const terms = new Set(analyzer.analyze(chunk.text));
  if (key !== undefined) {
    if (termSetCache.size >= 20_000) termSetCache.clear();
    termSetCache.set(key, terms);
  }
  return terms;
}

export function cosine(left: Float32Array, right: Float32Array): number {
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  for (let index = 0; index < left.length; index += 1) {
    const a = left[index] as number;
    const b = right[index] as number;
    dot += a * b;
    leftNorm += a * a;
    rightNorm += b * b;
  }
  return leftNorm === 0 || rightNorm === 0 ? 0 : dot / Math.sqrt(leftNorm * rightNorm);
}

export function jaccard(left: ReadonlySet<string>, right: ReadonlySet<string>): number {
  if (left.size === 0 && right.size === 0) return 1;
  let shared = 0;
  for (const term of left) if (right.has(term)) shared += 1;
  return shared / (left.size + right.size - shared);
}
