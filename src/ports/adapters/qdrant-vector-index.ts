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
 */
import type { QdrantClient } from '@qdrant/js-client-rest';
import type { Analyzer } from '../../capabilities/documents/retrieval/analyzer.ts';
import { defaultAnalyzer } from '../../capabilities/documents/retrieval/analyzer.ts';
import {
  documentChunkTermFrequencies,
  queryTermFrequencies,
  termId,
} from '../../capabilities/documents/retrieval/sparse-terms.ts';
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type {
  AccessScope,
  ChunkRecord,
  DocumentScope,
  DocumentSummary,
  SearchHit,
  SearchRequest,
  VectorIndex,
} from '../vector-index.ts';
import {
  assertAccessScope,
  deskhandUuidNamespace,
  prefetchLimit,
  summariseDocument,
  uuidV5,
  validateDocumentChunks,
} from './vector-index-shared.ts';

/** Where per-workspace index versions live; `increment` must be atomic. */
export interface IndexVersionCounter {
  increment(workspaceId: string): Promise<number>;
  current(workspaceId: string): Promise<number>;
}

/** The subset of an ioredis client the Redis counter needs. */
export interface RedisCounterClient {
  incr(key: string): Promise<number>;
  get(key: string): Promise<string | null>;
}

/** Index versions as Redis counters (INCR is atomic across every process). */
export class RedisIndexVersionCounter implements IndexVersionCounter {
  readonly #redis: RedisCounterClient;
  readonly #keyPrefix: string;

  constructor(redis: RedisCounterClient, keyPrefix: string) {
    this.#redis = redis;
    this.#keyPrefix = keyPrefix;
  }

  increment(workspaceId: string): Promise<number> {
    return this.#redis.incr(`${this.#keyPrefix}index-version:${workspaceId}`);
  }

  async current(workspaceId: string): Promise<number> {
    return Number((await this.#redis.get(`${this.#keyPrefix}index-version:${workspaceId}`)) ?? 0);
  }
}

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

type Payload = Record<string, unknown>;
type UpsertPoints = Extract<Parameters<QdrantClient['upsert']>[1], { points: unknown }>['points'];
type PayloadIndexRequest = Parameters<QdrantClient['createPayloadIndex']>[1];
type Filter = Record<string, unknown>;

interface PointResult {
  id: string | number;
  score?: number;
  payload?: Payload | null;
  vector?: unknown;
}

const denseName = 'dense';
const sparseName = 'sparse';
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
    this.#ready ??= this.#createCollection().catch((error: unknown) => {
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
      this.#point(chunk, terms[position] as Map<string, number>, generation, summary as DocumentSummary),
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

  async #createCollection(): Promise<void> {
    const { exists } = await this.#call('collection exists', () => this.#client.collectionExists(this.#collection));
    if (!exists) {
      try {
        await this.#client.createCollection(this.#collection, {
          vectors: { [denseName]: { size: this.#dimensions, distance: 'Cosine' } },
          sparse_vectors: { [sparseName]: { modifier: 'idf' } },
        });
      } catch (error) {
        // Another process may have created it between the check and the create.
        const again = await this.#call('collection exists', () => this.#client.collectionExists(this.#collection));
        if (!again.exists) throw translate('create collection', error);
      }
    }
    const indexes: [string, Record<string, unknown>][] = [
      ['workspaceId', { type: 'keyword', is_tenant: true }],
      ['scope', { type: 'keyword' }],
      ['documentId', { type: 'keyword' }],
      ['chunkIndex', { type: 'integer' }],
      ['generation', { type: 'integer' }],
    ];
    for (const [field, schema] of indexes) {
      await this.#call('create payload index', () =>
        this.#client.createPayloadIndex(this.#collection, {
          wait: true,
          field_name: field,
          field_schema: schema as NonNullable<PayloadIndexRequest['field_schema']>,
        }),
      );
    }
  }

  /** A generation larger than any this process used before and than the clock's last millisecond. */
  #nextGeneration(): number {
    this.#lastGeneration = Math.max(this.#lastGeneration + 1, Date.now() * 1000);
    return this.#lastGeneration;
  }

  #sparseQuery(text: string): { indices: number[]; values: number[] } {
    return toSparseVector(queryTermFrequencies(text, this.#analyzer));
  }

  #point(chunk: ChunkRecord, frequencies: Map<string, number>, generation: number, summary: DocumentSummary) {
    let length = 0;
    for (const frequency of frequencies.values()) length += frequency;
    const { k1, b, averageLength } = this.#bm25;
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
      const translated = translate(operation, error);
      this.#logger?.warn({ err: error, operation, collection: this.#collection }, 'qdrant call failed');
      throw translated;
    }
  }
}

/**
 * Index versions on one metadata point per workspace in the collection. Atomic within this process only
 * (increments are serialised here); use `RedisIndexVersionCounter` when several processes ingest.
 */
export class QdrantMetadataVersionCounter implements IndexVersionCounter {
  readonly #client: QdrantClient;
  readonly #collection: string;
  readonly #dimensions: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(client: QdrantClient, collection: string, dimensions: number) {
    this.#client = client;
    this.#collection = collection;
    this.#dimensions = dimensions;
  }

  async current(workspaceId: string): Promise<number> {
    const points = await this.#client.retrieve(this.#collection, {
      ids: [this.#pointId(workspaceId)],
      with_payload: true,
      with_vector: false,
    });
    const version = points[0]?.payload?.indexVersion;
    return typeof version === 'number' ? version : 0;
  }

  increment(workspaceId: string): Promise<number> {
    const next = this.#queue.then(async () => {
      const version = (await this.current(workspaceId)) + 1;
      // The metadata point needs a vector for the named dense space; a unit axis keeps cosine defined. It has
      // no `scope` payload, so no access filter ever matches it.
      const unit = new Array<number>(this.#dimensions).fill(0);
      unit[0] = 1;
      await this.#client.upsert(this.#collection, {
        wait: true,
        points: [
          {
            id: this.#pointId(workspaceId),
            vector: { [denseName]: unit },
            payload: { kind: 'index-version', workspaceId: `meta:${workspaceId}`, indexVersion: version },
          },
        ],
      });
      return version;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #pointId(workspaceId: string): string {
    return uuidV5(`index-version:${workspaceId}`, deskhandUuidNamespace);
  }
}

function accessConditions(access: AccessScope): Filter[] {
  return [
    { key: 'workspaceId', match: { value: access.workspaceId } },
    { key: 'scope', match: { any: ['workspace', `channel:${access.channelId}`] } },
  ];
}

function documentConditions(workspaceId: string, documentId: string): Filter[] {
  return [
    { key: 'workspaceId', match: { value: workspaceId } },
    { key: 'documentId', match: { value: documentId } },
  ];
}

function toSparseVector(weights: ReadonlyMap<string, number>): { indices: number[]; values: number[] } {
  const merged = new Map<number, number>();
  for (const [term, weight] of weights) {
    const id = termId(term);
    merged.set(id, (merged.get(id) ?? 0) + weight);
  }
  const entries = [...merged.entries()].sort(([left], [right]) => left - right);
  return { indices: entries.map(([id]) => id), values: entries.map(([, value]) => value) };
}

/** Per document, only the points of its highest generation (see the replace protocol above); order kept. */
function latestGeneration(points: PointResult[]): PointResult[] {
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

function recordOf(point: PointResult): ChunkRecord {
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

function summaryOf(point: PointResult): DocumentSummary {
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

function translate(operation: string, error: unknown): DeskhandError {
  const status = (error as { status?: unknown })?.status;
  const timedOut = (error as { name?: unknown })?.name === 'QdrantClientTimeoutError';
  const retryable =
    timedOut || status === undefined || (typeof status === 'number' && (status === 429 || status >= 500));
  return new DeskhandError(
    typeof status === 'number' && status >= 400 && status < 500 && status !== 429 ? 'internal' : 'upstream_unavailable',
    `Qdrant ${operation} failed${typeof status === 'number' ? ` (HTTP ${status})` : ''}: ${(error as Error)?.message ?? String(error)}`,
    {
      cause: error,
      retryable,
      userMessage: 'The document index is not reachable right now. Please try again in a minute.',
      details: { operation, status },
    },
  );
}
