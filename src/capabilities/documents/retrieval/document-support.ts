/**
 * Document-level evidence for chunk hits. Chunking splits a long document, so a document whose answer spans two
 * chunks scores only its best chunk's share of the evidence; whole-document BM25 would have seen both. Each hit
 * therefore gains `share` × the best score among its document's *other* candidate chunks, and the list is
 * re-sorted. A document's best chunk stays its best (its gain is the smaller one), so a document ranks by
 * best chunk + share × second-best chunk. Only the runner-up counts, not the sum of every other chunk, so a long
 * manual with many weakly matching chunks is not lifted over a short document that answers the question.
 */
import type { RetrievalMode, SearchHit } from '../../../ports/vector-index.ts';

/**
 * Per-mode default share. Sparse 0.05 is the best of 0.02–0.5 on the SciFact dev split through the default
 * chunker (nDCG@10 0.8587 → 0.8626; runner-up 0.03 → 0.8607, 0.07 → 0.8616, 0.1 → 0.8606, 0.2 → 0.8566;
 * summing all other chunks instead of the runner-up: 0.05 → 0.8617). Dense and hybrid are not measured here (no
 * embedding provider), so they keep pure best-chunk ranking.
 */
export const defaultDocumentSupportShares: Record<RetrievalMode, number> = {
  sparse: 0.05,
  hybrid: 0,
  dense: 0,
};

/**
 * Returns new hits (inputs untouched) whose `score` includes `share` × the best other same-document score, in
 * descending score order (ties keep input order). `share` 0 returns the hits unchanged in order.
 */
export function addDocumentSupport(hits: readonly SearchHit[], share: number): SearchHit[] {
  if (!(share >= 0 && share <= 1)) throw new RangeError(`Document support share must be within 0..1, got ${share}`);
  if (share === 0 || hits.length < 2) return [...hits];
  const best = new Map<string, { first: number; second: number }>();
  for (const hit of hits) {
    const key = documentKey(hit);
    const top = best.get(key);
    if (!top) best.set(key, { first: hit.score, second: Number.NEGATIVE_INFINITY });
    else if (hit.score > top.first) {
      top.second = top.first;
      top.first = hit.score;
    } else if (hit.score > top.second) top.second = hit.score;
  }
  return hits
    .map((hit, position) => {
      const top = best.get(documentKey(hit)) as { first: number; second: number };
      // The best other chunk: the runner-up for the document's top chunk, the top chunk for every other one.
      const other = hit.score === top.first ? top.second : top.first;
      return { hit: other > 0 ? { ...hit, score: hit.score + share * other } : hit, position };
    })
    .sort((left, right) => right.hit.score - left.hit.score || left.position - right.position)
    .map(({ hit }) => hit);
}

function documentKey(hit: SearchHit): string {
  return `${hit.chunk.workspaceId}\u0000${hit.chunk.documentId}`;
}
