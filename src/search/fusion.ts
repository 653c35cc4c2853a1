/**
 * Reciprocal Rank Fusion (Cormack, Clarke & Büttcher, SIGIR 2009): score(d) = Σ_lists 1 / (k + rank(d)),
 * ranks from 1. It uses ranks only, so a cosine list and a BM25 list fuse without calibrating their scores.
 */

/** The constant from the RRF paper; larger k flattens the advantage of the very top ranks. */
export const defaultRrfK = 60;

export interface FusedItem<T> {
  item: T;
  score: number;
  /** 1-based rank of the item in each input list, undefined where it is absent. */
  ranks: (number | undefined)[];
}

/**
 * Fuses ranked lists (best first) by `key`. Items in several lists are merged (the first occurrence's item
 * is kept); the result is sorted by fused score, ties by best single rank then by key for determinism.
 */
export function reciprocalRankFusion<T>(
  lists: readonly (readonly T[])[],
  key: (item: T) => string,
  options: { k?: number; weights?: readonly number[] } = {},
): FusedItem<T>[] {
  const k = options.k ?? defaultRrfK;
  if (!(k > 0)) throw new RangeError(`RRF k must be positive, got ${k}`);
  const fused = new Map<string, FusedItem<T>>();
  lists.forEach((list, listIndex) => {
    const weight = options.weights?.[listIndex] ?? 1;
    const seen = new Set<string>();
    list.forEach((item, position) => {
      const id = key(item);
      if (seen.has(id)) return;
      seen.add(id);
      const rank = position + 1;
      let entry = fused.get(id);
      if (!entry) {
        entry = { item, score: 0, ranks: new Array<number | undefined>(lists.length).fill(undefined) };
        fused.set(id, entry);
      }
      entry.score += weight / (k + rank);
      entry.ranks[listIndex] = rank;
    });
  });
  const bestRank = (entry: FusedItem<T>) => Math.min(...entry.ranks.map((rank) => rank ?? Number.POSITIVE_INFINITY));
  return [...fused.entries()]
    .sort(
      ([leftKey, left], [rightKey, right]) =>
        right.score - left.score || bestRank(left) - bestRank(right) || (leftKey < rightKey ? -1 : 1),
    )
    .map(([, entry]) => entry);
}
