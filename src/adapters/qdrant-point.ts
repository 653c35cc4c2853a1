/**
 * How a chunk is stored as a Qdrant point and read back.
 *
 * Writing (`qdrantPoint`): the point id is a UUIDv5 of workspace and chunk id, so re-ingesting a chunk overwrites
 * its point; the dense vector goes under `dense` when the chunk has one; the sparse vector holds only the BM25
 * term-frequency part (Qdrant's `idf` modifier multiplies in the inverse document frequency at query time), with
 * term ids from the stable FNV-1a `termId` of each analysed term; the payload is the chunk's payload plus
 * `chunkId`, the replace `generation` and the document's chunk count and ingestion time.
 *
 * Reading (`recordOf`, `summaryOf`): a point's payload becomes a `ChunkRecord` or a `DocumentSummary` again; a
 * missing field reads as empty or zero, never as `undefined`.
 */

import type { ChunkRecord, DocumentScope, DocumentSummary } from '../ports/vector-index.ts';
import { termId } from '../search/sparse-terms.ts';
import { denseName, sparseName } from './create-qdrant-collection.ts';
import { deskhandUuidNamespace, uuidV5 } from './vector-index-shared.ts';

type Payload = Record<string, unknown>;

/** A point as the SDK returns it from a scroll or a query. */
export interface PointResult {
  id: string | number;
  score?: number;
  payload?: Payload | null;
  vector?: unknown;
}

/** BM25 term-frequency parameters for the stored sparse values. */
export interface Bm25Parameters {
  k1: number;
  b: number;
  averageLength: number;
}

/** The point to upsert for `chunk`, given its analysed term frequencies and its document's summary. */
export function qdrantPoint(
  chunk: ChunkRecord,
  frequencies: Map<string, number>,
  generation: number,
  summary: DocumentSummary,
  bm25: Bm25Parameters,
) {
  let length = 0;
  for (const frequency of frequencies.values()) length += frequency;
  const { k1, b, averageLength } = bm25;
  const weighted = new Map<string, number>();
  for (const [term, frequency] of frequencies) {
    weighted.set(term, (frequency * (k1 + 1)) / (frequency + k1 * (1 - b + (b * length) / averageLength)));
  }
  const { dense, id, ...payload } = chunk;
  const vector: Record<string, unknown> = {};
  if (dense) vector[denseName] = Array.from(dense);
  const sparse = toSparseVector(weighted);
  if (sparse.indices.length > 0) vector[sparseName] = sparse;
  return {
    id: uuidV5(`${chunk.workspaceId}:${id}`, deskhandUuidNamespace),
    vector,
    payload: {
      ...payload,
      chunkId: id,
      generation,
      documentChunkCount: summary.chunkCount,
      documentIngestedAt: summary.ingestedAt,
    },
  };
}

/** Term weights as a Qdrant sparse vector: term ids ascending, weights of colliding ids summed. */
export function toSparseVector(weights: ReadonlyMap<string, number>): { indices: number[]; values: number[] } {
  const merged = new Map<number, number>();
  for (const [term, weight] of weights) {
    const id = termId(term);
    merged.set(id, (merged.get(id) ?? 0) + weight);
  }
  const entries = [...merged.entries()].sort(([left], [right]) => left - right);
  return { indices: entries.map(([id]) => id), values: entries.map(([, value]) => value) };
}

export function recordOf(point: PointResult): ChunkRecord {
  const payload = point.payload ?? {};
  const record: ChunkRecord = {
    id: String(payload.chunkId ?? point.id),
    documentId: String(payload.documentId),
    workspaceId: String(payload.workspaceId),
    scope: String(payload.scope) as DocumentScope,
    title: String(payload.title ?? ''),
    sectionPath: Array.isArray(payload.sectionPath) ? payload.sectionPath.map(String) : [],
    source: String(payload.source ?? ''),
    chunkIndex: Number(payload.chunkIndex),
    contentHash: String(payload.contentHash ?? ''),
    documentHash: String(payload.documentHash ?? ''),
    ingestedAt: String(payload.ingestedAt ?? ''),
    text: String(payload.text ?? ''),
    tokenCount: Number(payload.tokenCount ?? 0),
  };
  if (typeof payload.page === 'number') record.page = payload.page;
  if (typeof payload.overlapPrefixChars === 'number') record.overlapPrefixChars = payload.overlapPrefixChars;
  const vector = point.vector;
  const dense =
    vector && typeof vector === 'object' && !Array.isArray(vector)
      ? (vector as Record<string, unknown>)[denseName]
      : vector;
  if (Array.isArray(dense) && dense.every((value) => typeof value === 'number'))
    record.dense = Float32Array.from(dense);
  return record;
}

export function summaryOf(point: PointResult): DocumentSummary {
  const payload = point.payload ?? {};
  return {
    documentId: String(payload.documentId),
    workspaceId: String(payload.workspaceId),
    scope: String(payload.scope) as DocumentScope,
    title: String(payload.title ?? ''),
    source: String(payload.source ?? ''),
    documentHash: String(payload.documentHash ?? ''),
    chunkCount: Number(payload.documentChunkCount ?? 0),
    ingestedAt: String(payload.documentIngestedAt ?? payload.ingestedAt ?? ''),
  };
}
