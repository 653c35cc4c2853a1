/**
 * Relevance cutoff relative to the best score: keeps the hits scoring at least `ratio` × the top score. Unlike
 * a fixed top-k it adapts to the query: a question with one clear answer keeps one or two chunks, a broad one
 * keeps many. The ratios are chosen on the SciFact dev split from the recall/token curve the eval prints.
 */
import type { RetrievalMode, SearchHit } from '../../../ports/vector-index.ts';

/**
 * Per-mode defaults. Sparse 0.6, chosen by 5-fold cross-validation on the SciFact dev split together with the
 * compression settings (`eval:retrieval --cv 5`, folds by query-id hash): the setting whose packed context recalls
 * the judged documents at least as well as the naive top-5 chunks on every fold with the fewest tokens was cutoff
 * 0.65, then one step lower as a margin, because a cutoff fitted on one split lost recall on another (0.75, the
 * earlier dev-fitted default, fell below naive on SciFact test: 0.720 vs 0.740). At 0.6 every dev fold keeps
 * recall 0.020–0.036 above naive; per-fold picks made on the other folds (0.65 or 0.7) were 0.0008 below naive on
 * one held fold. Hybrid scores are RRF sums whose
 * top-to-tail ratio is compressed (rank 1 in both lists ≈ 0.033, rank 10 in one ≈ 0.014), hence a lower ratio;
 * dense cosine scores are compressed near the top, hence a high one. Hybrid and dense are not measured here
 * (no embedding provider), so those two are reasoned defaults, not tuned ones.
 */
export const defaultCutoffRatios: Record<RetrievalMode, number> = {
  sparse: 0.6,
  hybrid: 0.5,
  dense: 0.9,
};

/** Hits (in their given order) whose score is at least `ratio` × the highest score; never empties a non-empty list. */
export function relativeCutoff<T extends Pick<SearchHit, 'score'>>(hits: readonly T[], ratio: number): T[] {
  if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`Cutoff ratio must be within 0..1, got ${ratio}`);
  if (hits.length === 0) return [];
  const top = Math.max(...hits.map((hit) => hit.score));
  if (!(top > 0)) return [...hits];
  return hits.filter((hit) => hit.score >= ratio * top);
}
