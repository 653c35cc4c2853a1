/**
 * The reading half of the replace protocol (see `qdrant-vector-index.ts`): while a replace is between its upsert
 * and its delete, a read can receive points of both versions of a document; keeping, per document, only the points
 * of the highest generation received means a read sees the old version or the new one, never both.
 */
import type { PointResult } from './qdrant-point.ts';

/** Per document, only the points of its highest generation; order kept. */
export function latestGeneration(points: PointResult[]): PointResult[] {
  const newest = new Map<string, number>();
  for (const point of points) {
    const key = `${point.payload?.workspaceId}\u0000${point.payload?.documentId}`;
    const generation = Number(point.payload?.generation ?? 0);
    if (generation > (newest.get(key) ?? Number.NEGATIVE_INFINITY)) newest.set(key, generation);
  }
  return points.filter(
    (point) =>
      Number(point.payload?.generation ?? 0) ===
      newest.get(`${point.payload?.workspaceId}\u0000${point.payload?.documentId}`),
  );
}
