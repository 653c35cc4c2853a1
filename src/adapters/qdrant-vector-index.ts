/**
 * `QdrantVectorIndex`: the `VectorIndex` on Qdrant (REST, Query API; checked against the 1.19 OpenAPI spec).
 *
 * Layout: one collection; a named dense vector `dense` (cosine) and a named sparse vector `sparse` with
 * `modifier: "idf"`, so Qdrant multiplies in the inverse document frequency at query time and the app only
 * stores the BM25 term-frequency part, computed with the same analyzer as the embedded index (term ids are a
 * stable FNV-1a hash of the analysed term). Payload indexes: `workspaceId` (keyword, `is_tenant: true`),
 * `scope`, `documentId` (keyword), `chunkIndex`, `generation` (integer).
 *
 * Every read carries a `must` filter built here: workspace AND scope ∈ {workspace, channel:C}. A call without
 * an access scope throws before any request is made.
 *
 * Replace ("atomic enough"; Qdrant has no multi-point transactions): (1) upsert the new version's points
 * tagged with a new, larger `generation` (`wait: true`); (2) delete the document's points with a smaller
 * generation; (3) bump the index version. Between (1) and (2) a search can match both versions, so readers
 * keep, per document, only the points of the highest generation they received: a search sees the old version
 * or the new one, never both, and never neither (the new points exist before the old ones go). The version
 * bump comes last so an answer cached under the new version was built from the new chunks.
 *
 * Index version: the injected `IndexVersionCounter`. `RedisIndexVersionCounter` (INCR, atomic across
 * processes) is what the composition root uses when Redis is configured; `QdrantMetadataVersionCounter`
 * keeps the counter on a metadata point in the collection, which is atomic only within one process (writes
 * are serialised here) — fine for a single ingesting process, documented as such.
 *
 * The SDK client is injected (built in `src/main.ts` with `timeout` in milliseconds and
 * `checkCompatibility: false`); SDK errors are translated into `DeskhandError` exactly once, in `#call`.
 *
 * Parts: the collection layout (`create-qdrant-collection.ts`), chunks as points and back (`qdrant-point.ts`),
 * filters (`access-conditions.ts`), the readers' half of replace (`latest-generation.ts`), the version counters
 * (`index-version-counter.ts`) and SDK error translation (`translate-qdrant-error.ts`).
 */
import type { QdrantClient } from '@qdrant/js-client-rest';
import { DeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type {
  AccessScope,
  ChunkRecord,
  DocumentSummary,
  SearchHit,
  SearchRequest,
  VectorIndex,
} from '../ports/vector-index.ts';
import type { Analyzer } from '../search/analyzer.ts';
import { defaultAnalyzer } from '../search/analyzer.ts';
import { documentChunkTermFrequencies, queryTermFrequencies } from '../search/sparse-terms.ts';
import { accessConditions, documentConditions, type Filter } from './access-conditions.ts';
import { createQdrantCollection, denseName, sparseName } from './create-qdrant-collection.ts';
import { type IndexVersionCounter, QdrantMetadataVersionCounter } from './index-version-counter.ts';
import { latestGeneration } from './latest-generation.ts';
import { type PointResult, qdrantPoint, recordOf, summaryOf, toSparseVector } from './qdrant-point.ts';
import { translateQdrantError } from './translate-qdrant-error.ts';
import { assertAccessScope, prefetchLimit, summariseDocument, validateDocumentChunks } from './vector-index-shared.ts';

export interface QdrantVectorIndexOptions {
  client: QdrantClient;
  collection: string;
  /** Dense vector size (the embedding model's dimensions). */
  dimensions: number;
  analyzer?: Analyzer;
  /** BM25 term-frequency parameters for the stored sparse values. */
  bm25?: { k1: number; b: number; averageLength: number };
  titleWeight?: number;
  /** Weight of adjacent chunks' terms (see `documentChunkTermFrequencies`); same default as the embedded index. */
  neighbourWeight?: number;
  /** Defaults to a `QdrantMetadataVersionCounter` on the same collection. */
  versions?: IndexVersionCounter;
  logger?: Logger;
}

type UpsertPoints = Extract<Parameters<QdrantClient['upsert']>[1], { points: unknown }>['points'];

const scrollPage = 256;

export class QdrantVectorIndex implements VectorIndex {
  readonly #client: QdrantClient;
  readonly #collection: string;
  readonly #dimensions: number;
  readonly #analyzer: Analyzer;
  readonly #bm25: { k1: number; b: number; averageLength: number };
  readonly #titleWeight: number;
  readonly #neighbourWeight: number | undefined;
  readonly #versions: IndexVersionCounter;
  readonly #logger: Logger | undefined;
  #ready: Promise<void> | undefined;
  #lastGeneration = 0;

  constructor(options: QdrantVectorIndexOptions) {
    this.#client = options.client;
    this.#collection = options.collection;
    this.#dimensions = options.dimensions;
    this.#analyzer = options.analyzer ?? defaultAnalyzer;
    this.#bm25 = options.bm25 ?? { k1: 0.9, b: 0.4, averageLength: 150 };
    this.#titleWeight = options.titleWeight ?? 1;
    this.#neighbourWeight = options.neighbourWeight;
    this.#versions =
      options.versions ?? new QdrantMetadataVersionCounter(options.client, options.collection, options.dimensions);
    this.#logger = options.logger;
  }

  /** Creates the collection and payload indexes when missing; idempotent and safe to call concurrently. */
  ensureReady(): Promise<void> {
    this.#ready ??= createQdrantCollection(this.#client, this.#collection, this.#dimensions, (operation, run) =>
      this.#call(operation, run),
    ).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async ping(): Promise<boolean> {
    try {
      await this.#client.collectionExists(this.#collection);
      return true;
    } catch {
      return false;
    }
  }

  async replaceDocument(workspaceId: string, documentId: string, chunks: ChunkRecord[]): Promise<void> {
    validateDocumentChunks(workspaceId, documentId, chunks);
    for (const chunk of chunks) {
      if (chunk.dense && chunk.dense.length !== this.#dimensions) {
        throw new DeskhandError(
          'invalid_input',
          `Dense vector has ${chunk.dense.length} dimensions but the collection holds ${this.#dimensions}`,
        );
      }
    }
    await this.ensureReady();
    const generation = this.#nextGeneration();
    const summary = chunks.length > 0 ? summariseDocument(chunks) : undefined;
    const terms = documentChunkTermFrequencies(chunks, {
      analyzer: this.#analyzer,
      titleWeight: this.#titleWeight,
      ...(this.#neighbourWeight === undefined ? {} : { neighbourWeight: this.#neighbourWeight }),
    });
    const points = chunks.map((chunk, position) =>
      qdrantPoint(chunk, terms[position] as Map<string, number>, generation, summary as DocumentSummary, this.#bm25),
    );
    for (let start = 0; start < points.length; start += 128) {
      const batch = points.slice(start, start + 128);
      await this.#call('upsert', () =>
        this.#client.upsert(this.#collection, { wait: true, points: batch as UpsertPoints }),
      );
    }
    await this.#call('delete', () =>
      this.#client.delete(this.#collection, {
        wait: true,
        filter: {
          must: [...documentConditions(workspaceId, documentId), { key: 'generation', range: { lt: generation } }],
        },
      }),
    );
    await this.#call('index version', () => this.#versions.increment(workspaceId));
  }

  async deleteDocument(workspaceId: string, documentId: string): Promise<boolean> {
    await this.ensureReady();
    const filter = { must: documentConditions(workspaceId, documentId) };
    const { count } = await this.#call('count', () => this.#client.count(this.#collection, { filter, exact: true }));
    if (count === 0) return false;
    await this.#call('delete', () => this.#client.delete(this.#collection, { wait: true, filter }));
    await this.#call('index version', () => this.#versions.increment(workspaceId));
    return true;
  }

  async deleteWorkspace(workspaceId: string): Promise<string[]> {
    await this.ensureReady();
    const filter = { must: [{ key: 'workspaceId', match: { value: workspaceId } }] };
    const firstChunks = await this.#scrollAll(
      { must: [...filter.must, { key: 'chunkIndex', match: { value: 0 } }] },
      false,
    );
    const documentIds = [...new Set(firstChunks.map((point) => summaryOf(point).documentId))];
    const { count } = await this.#call('count', () => this.#client.count(this.#collection, { filter, exact: true }));
    if (count === 0) return [];
    await this.#call('delete', () => this.#client.delete(this.#collection, { wait: true, filter }));
    await this.#call('index version', () => this.#versions.increment(workspaceId));
    return documentIds.sort();
  }

  async getDocument(workspaceId: string, documentId: string): Promise<DocumentSummary | undefined> {
    await this.ensureReady();
    const points = await this.#scrollAll({ must: documentConditions(workspaceId, documentId) }, false);
    const current = latestGeneration(points);
    return current.length > 0 ? summaryOf(current[0] as PointResult) : undefined;
  }

  async listDocuments(access: AccessScope): Promise<DocumentSummary[]> {
    assertAccessScope(access);
    await this.ensureReady();
    const points = await this.#scrollAll(
      { must: [...accessConditions(access), { key: 'chunkIndex', match: { value: 0 } }] },
      false,
    );
    return latestGeneration(points)
      .map(summaryOf)
      .sort((left, right) => left.title.localeCompare(right.title) || (left.documentId < right.documentId ? -1 : 1));
  }

  async search(request: SearchRequest): Promise<SearchHit[]> {
    assertAccessScope(request?.access);
    if (request.mode !== 'sparse' && !request.dense) {
      throw new DeskhandError('invalid_input', `A ${request.mode} search needs a query embedding`);
    }
    const limit = Math.max(0, Math.floor(request.limit));
    if (limit === 0) return [];
    await this.ensureReady();
    const filter: Filter = { must: accessConditions(request.access) };
    const sparse = this.#sparseQuery(request.text);
    const dense = request.dense ? Array.from(request.dense) : undefined;
    const common = { filter, with_payload: true, with_vector: [denseName] };
    let body: Record<string, unknown>;
    if (request.mode === 'sparse') {
      if (sparse.indices.length === 0) return [];
      body = { ...common, query: sparse, using: sparseName, limit };
    } else if (request.mode === 'dense') {
      body = { ...common, query: dense, using: denseName, limit };
    } else {
      const prefetch = [{ query: dense, using: denseName, filter, limit: prefetchLimit(limit) }];
      if (sparse.indices.length > 0)
        prefetch.push({ query: sparse as never, using: sparseName, filter, limit: prefetchLimit(limit) });
      body = { ...common, prefetch, query: { fusion: 'rrf' }, limit };
    }
    const response = await this.#call('query', () =>
      this.#client.query(this.#collection, body as Parameters<QdrantClient['query']>[1]),
    );
    const points = latestGeneration(response.points as PointResult[]);
    return points.map((point) => {
      const score = point.score ?? 0;
      const hit: SearchHit = { chunk: recordOf(point), score };
      if (request.mode === 'dense') hit.denseScore = score;
      if (request.mode === 'sparse') hit.sparseScore = score;
      return hit;
    });
  }

  async getChunks(access: AccessScope, documentId: string, chunkIndexes: number[]): Promise<ChunkRecord[]> {
    assertAccessScope(access);
    if (chunkIndexes.length === 0) return [];
    await this.ensureReady();
    const points = await this.#scrollAll(
      {
        must: [
          ...accessConditions(access),
          { key: 'documentId', match: { value: documentId } },
          { key: 'chunkIndex', match: { any: chunkIndexes } },
        ],
      },
      true,
    );
    return latestGeneration(points)
      .map(recordOf)
      .sort((left, right) => left.chunkIndex - right.chunkIndex);
  }

  async indexVersion(workspaceId: string): Promise<number> {
    await this.ensureReady();
    return this.#call('index version', () => this.#versions.current(workspaceId));
  }

  async close(): Promise<void> {
    // The REST client holds no connections of its own to release.
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /** A generation larger than any this process used before and than the clock's last millisecond. */
  #nextGeneration(): number {
    this.#lastGeneration = Math.max(this.#lastGeneration + 1, Date.now() * 1000);
    return this.#lastGeneration;
  }

  #sparseQuery(text: string): { indices: number[]; values: number[] } {
    return toSparseVector(queryTermFrequencies(text, this.#analyzer));
  }

  async #scrollAll(filter: Filter, withVector: boolean): Promise<PointResult[]> {
    const points: PointResult[] = [];
    let offset: string | number | undefined;
    for (;;) {
      const page = await this.#call('scroll', () =>
        this.#client.scroll(this.#collection, {
          filter,
          limit: scrollPage,
          with_payload: true,
          with_vector: withVector ? [denseName] : false,
          ...(offset === undefined ? {} : { offset }),
        }),
      );
      points.push(...(page.points as PointResult[]));
      const next = page.next_page_offset;
      if (next === undefined || next === null || typeof next === 'object') break;
      offset = next;
    }
    return points;
  }

  async #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof DeskhandError) throw error;
      const translated = translateQdrantError(operation, error);
      this.#logger?.warn({ err: error, operation, collection: this.#collection }, 'qdrant call failed');
      throw translated;
    }
  }
}
