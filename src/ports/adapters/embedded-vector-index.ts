/**
 * `EmbeddedVectorIndex`: the in-process `VectorIndex`, used when QDRANT_URL is unset.
 *
 * - Search: exact cosine over one contiguous Float32Array (`DenseVectorStore`: vectors normalised at insert,
 *   scanned by a WebAssembly SIMD kernel) and BM25 over typed-array postings with the shared analyzer; hybrid fuses both with RRF. The
 *   access filter (workspace + workspace-or-own-channel scope) is applied inside the scan, so a hit the caller
 *   may not see is never even scored.
 * - Atomicity: mutations are serialised; each one is made durable first, then applied to memory in one
 *   synchronous step together with the index-version bump. Searches score synchronously, so a concurrent
 *   search sees a document's old chunks or its new ones, never both and never neither.
 * - Durability (when `directory` is set): an append-only log (`index.log`, one JSON record a line, fdatasync
 *   per mutation) plus a snapshot (`snapshot.jsonl`) written to a temporary file, fsynced and renamed into
 *   place, then the directory is fsynced and the log truncated. Replaying is idempotent (replace/delete by
 *   document, versions take the maximum), so a crash at any point recovers the last acknowledged state; a torn
 *   final log line is dropped and the file truncated back to the last complete record.
 */
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { type FileHandle, open, readFile, rename, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { type Analyzer, defaultAnalyzer } from '../../capabilities/documents/retrieval/analyzer.ts';
import {
  Bm25Index,
  type Bm25Parameters,
  defaultBm25Parameters,
  TopK,
} from '../../capabilities/documents/retrieval/bm25.ts';
import { reciprocalRankFusion } from '../../capabilities/documents/retrieval/fusion.ts';
import {
  documentChunkTermFrequencies,
  queryTermFrequencies,
} from '../../capabilities/documents/retrieval/sparse-terms.ts';
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type {
  AccessScope,
  ChunkRecord,
  DocumentSummary,
  SearchHit,
  SearchRequest,
  VectorIndex,
} from '../vector-index.ts';
import { DenseVectorStore } from './dense-vector-store.ts';
import { assertAccessScope, prefetchLimit, summariseDocument, validateDocumentChunks } from './vector-index-shared.ts';

export interface EmbeddedVectorIndexOptions {
  /** Directory for `index.log` and `snapshot.jsonl`; omit to keep the index in memory only (eval, tests). */
  directory?: string;
  analyzer?: Analyzer;
  bm25?: Bm25Parameters;
  titleWeight?: number;
  /** Weight of adjacent chunks' terms in a chunk's sparse representation (`documentChunkTermFrequencies`). */
  neighbourWeight?: number;
  /** fdatasync every mutation (default true); turn off only for throwaway indexes. */
  sync?: boolean;
  /** Rewrite the snapshot once the log is larger than this and than the snapshot (default 8 MiB). */
  compactAfterLogBytes?: number;
  logger?: Logger;
}

interface StoredDocument {
  slots: number[];
  summary: DocumentSummary;
}

type LogRecord =
  | { type: 'replace'; workspaceId: string; documentId: string; version: number; chunks: SerialisedChunk[] }
  | { type: 'delete'; workspaceId: string; documentId: string; version: number }
  | { type: 'header'; format: 1; versions: Record<string, number> };

type SerialisedChunk = Omit<ChunkRecord, 'dense'> & { dense?: string };

const logFileName = 'index.log';
const snapshotFileName = 'snapshot.jsonl';

export class EmbeddedVectorIndex implements VectorIndex {
  readonly #options: EmbeddedVectorIndexOptions;
  readonly #analyzer: Analyzer;
  #bm25: Bm25Index;
  #records: (ChunkRecord | undefined)[] = [];
  #workspaceOf = new Int32Array(1024);
  #scopeOf = new Int32Array(1024);
  #alive = new Uint8Array(1024);
  #hasVector = new Uint8Array(1024);
  #dense: DenseVectorStore | undefined;
  #dimensions: number | undefined;
  #slotCount = 0;
  #deadSlots = 0;
  readonly #interned = new Map<string, number>();
  readonly #documents = new Map<string, StoredDocument>();
  readonly #versions = new Map<string, number>();
  #ready: Promise<void> | undefined;
  #writeQueue: Promise<void> = Promise.resolve();
  #log: FileHandle | undefined;
  #logBytes = 0;
  #snapshotBytes = 0;
  #closed = false;

  constructor(options: EmbeddedVectorIndexOptions = {}) {
    this.#options = options;
    this.#analyzer = options.analyzer ?? defaultAnalyzer;
    this.#bm25 = new Bm25Index(options.bm25 ?? defaultBm25Parameters);
  }

  /** Loads the snapshot and replays the log (creating the directory if needed); idempotent. */
  ensureReady(): Promise<void> {
    this.#ready ??= this.#load();
    return this.#ready;
  }

  async ping(): Promise<boolean> {
    return !this.#closed;
  }

  async replaceDocument(workspaceId: string, documentId: string, chunks: ChunkRecord[]): Promise<void> {
    validateDocumentChunks(workspaceId, documentId, chunks);
    for (const chunk of chunks) this.#checkDimensions(chunk.dense);
    await this.ensureReady();
    await this.#mutate(() => {
      const version = (this.#versions.get(workspaceId) ?? 0) + 1;
      return {
        record: { type: 'replace', workspaceId, documentId, version, chunks: chunks.map(serialiseChunk) },
        apply: () => this.#applyReplace(workspaceId, documentId, chunks, version),
      };
    });
  }

  async deleteDocument(workspaceId: string, documentId: string): Promise<boolean> {
    await this.ensureReady();
    let removed = false;
    await this.#mutate(() => {
      if (!this.#documents.has(documentKey(workspaceId, documentId))) return undefined;
      const version = (this.#versions.get(workspaceId) ?? 0) + 1;
      return {
        record: { type: 'delete', workspaceId, documentId, version },
        apply: () => {
          removed = this.#applyDelete(workspaceId, documentId, version);
        },
      };
    });
    return removed;
  }

  async getDocument(workspaceId: string, documentId: string): Promise<DocumentSummary | undefined> {
    await this.ensureReady();
    const stored = this.#documents.get(documentKey(workspaceId, documentId));
    return stored ? { ...stored.summary } : undefined;
  }

  async listDocuments(access: AccessScope): Promise<DocumentSummary[]> {
    assertAccessScope(access);
    await this.ensureReady();
    const channelScope = `channel:${access.channelId}`;
    const result: DocumentSummary[] = [];
    for (const { summary } of this.#documents.values()) {
      if (summary.workspaceId !== access.workspaceId) continue;
      if (summary.scope !== 'workspace' && summary.scope !== channelScope) continue;
      result.push({ ...summary });
    }
    return result.sort(
      (left, right) => left.title.localeCompare(right.title) || (left.documentId < right.documentId ? -1 : 1),
    );
  }

  async search(request: SearchRequest): Promise<SearchHit[]> {
    assertAccessScope(request?.access);
    if (request.mode !== 'sparse' && !request.dense) {
      throw new DeskhandError('invalid_input', `A ${request.mode} search needs a query embedding`);
    }
    await this.ensureReady();
    // Everything below is synchronous: the index cannot change while this search scores.
    const accept = this.#acceptor(request.access);
    if (!accept) return [];
    const limit = Math.max(0, Math.floor(request.limit));
    if (limit === 0) return [];
    const candidateLimit = request.mode === 'hybrid' ? prefetchLimit(limit) : limit;
    const sparse =
      request.mode === 'dense'
        ? []
        : this.#bm25.search(queryTermFrequencies(request.text, this.#analyzer), candidateLimit, accept);
    const dense =
      request.mode === 'sparse' || !request.dense ? [] : this.#denseSearch(request.dense, candidateLimit, accept);
    if (request.mode === 'sparse')
      return sparse.map(({ slot, score }) => this.#hit(slot, score, { sparseScore: score }));
    if (request.mode === 'dense') return dense.map(({ slot, score }) => this.#hit(slot, score, { denseScore: score }));
    const denseScores = new Map(dense.map(({ slot, score }) => [slot, score]));
    const sparseScores = new Map(sparse.map(({ slot, score }) => [slot, score]));
    return reciprocalRankFusion([dense, sparse], ({ slot }) => String(slot))
      .slice(0, limit)
      .map(({ item, score }) => {
        const scores: { denseScore?: number; sparseScore?: number } = {};
        const denseScore = denseScores.get(item.slot);
        const sparseScore = sparseScores.get(item.slot);
        if (denseScore !== undefined) scores.denseScore = denseScore;
        if (sparseScore !== undefined) scores.sparseScore = sparseScore;
        return this.#hit(item.slot, score, scores);
      });
  }

  async getChunks(access: AccessScope, documentId: string, chunkIndexes: number[]): Promise<ChunkRecord[]> {
    assertAccessScope(access);
    await this.ensureReady();
    const stored = this.#documents.get(documentKey(access.workspaceId, documentId));
    if (!stored) return [];
    const scope = stored.summary.scope;
    if (scope !== 'workspace' && scope !== `channel:${access.channelId}`) return [];
    const wanted = new Set(chunkIndexes);
    return stored.slots
      .map((slot) => this.#records[slot])
      .filter((record): record is ChunkRecord => record !== undefined && wanted.has(record.chunkIndex))
      .map(copyRecord)
      .sort((left, right) => left.chunkIndex - right.chunkIndex);
  }

  async indexVersion(workspaceId: string): Promise<number> {
    await this.ensureReady();
    return this.#versions.get(workspaceId) ?? 0;
  }

  /** Writes a fresh snapshot and empties the log (also done automatically as the log grows). */
  async compact(): Promise<void> {
    await this.ensureReady();
    await this.#enqueue(() => this.#writeSnapshot());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writeQueue.catch(() => undefined);
    await this.#log?.close();
    this.#log = undefined;
  }

  /** Live chunk count (for metrics and benchmarks). */
  get size(): number {
    return this.#slotCount - this.#deadSlots;
  }

  // ---- mutations -------------------------------------------------------------------------------------------

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#writeQueue.then(() => {
      if (this.#closed) throw new DeskhandError('internal', 'The embedded vector index is closed');
      return task();
    });
    this.#writeQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * Durable first, visible second: the record is appended and synced before memory changes, so an
   * acknowledged change survives a crash and an unacknowledged one is never seen by searches.
   */
  #mutate(prepare: () => { record: LogRecord; apply: () => void } | undefined): Promise<void> {
    return this.#enqueue(async () => {
      const prepared = prepare();
      if (!prepared) return;
      await this.#append(prepared.record);
      prepared.apply();
      if (
        this.#options.directory &&
        this.#logBytes > Math.max(this.#options.compactAfterLogBytes ?? 8 << 20, this.#snapshotBytes)
      ) {
        await this.#writeSnapshot();
      }
    });
  }

  async #append(record: LogRecord): Promise<void> {
    if (!this.#log) return;
    const line = `${JSON.stringify(record)}\n`;
    const bytes = Buffer.byteLength(line);
    await this.#log.write(line);
    if (this.#options.sync !== false) await this.#log.datasync();
    this.#logBytes += bytes;
  }

  #applyReplace(workspaceId: string, documentId: string, chunks: ChunkRecord[], version: number): void {
    const key = documentKey(workspaceId, documentId);
    const previous = this.#documents.get(key);
    const sorted = [...chunks].sort((left, right) => left.chunkIndex - right.chunkIndex);
    const terms = this.#sparseTerms(sorted);
    const slots = sorted.map((chunk, position) => this.#insert(chunk, terms[position] as Map<string, number>));
    if (previous) for (const slot of previous.slots) this.#remove(slot);
    if (slots.length > 0) this.#documents.set(key, { slots, summary: summariseDocument(sorted) });
    else this.#documents.delete(key);
    this.#setVersion(workspaceId, version);
    this.#maybeRebuild();
  }

  #applyDelete(workspaceId: string, documentId: string, version: number): boolean {
    const key = documentKey(workspaceId, documentId);
    const previous = this.#documents.get(key);
    if (previous) for (const slot of previous.slots) this.#remove(slot);
    this.#documents.delete(key);
    this.#setVersion(workspaceId, version);
    this.#maybeRebuild();
    return previous !== undefined;
  }

  #setVersion(workspaceId: string, version: number): void {
    this.#versions.set(workspaceId, Math.max(version, this.#versions.get(workspaceId) ?? 0));
  }

  #sparseTerms(chunks: readonly ChunkRecord[]): Map<string, number>[] {
    return documentChunkTermFrequencies(chunks, {
      analyzer: this.#analyzer,
      titleWeight: this.#options.titleWeight ?? 1,
      ...(this.#options.neighbourWeight === undefined ? {} : { neighbourWeight: this.#options.neighbourWeight }),
    });
  }

  #insert(chunk: ChunkRecord, terms: Map<string, number>): number {
    const slot = this.#slotCount;
    this.#slotCount += 1;
    this.#ensureCapacity(this.#slotCount);
    const record = copyRecord(chunk);
    this.#records[slot] = record;
    this.#workspaceOf[slot] = this.#intern(chunk.workspaceId);
    this.#scopeOf[slot] = this.#intern(chunk.scope);
    this.#alive[slot] = 1;
    if (chunk.dense) {
      this.#checkDimensions(chunk.dense);
      this.#dense ??= new DenseVectorStore(chunk.dense.length);
      this.#dense.set(slot, chunk.dense);
      this.#hasVector[slot] = 1;
    }
    const bm25Slot = this.#bm25.add(terms);
    if (bm25Slot !== slot) throw new DeskhandError('internal', 'Embedded index slots out of step with BM25 slots');
    return slot;
  }

  #remove(slot: number): void {
    if (this.#alive[slot] !== 1) return;
    this.#alive[slot] = 0;
    this.#records[slot] = undefined;
    this.#bm25.remove(slot);
    this.#deadSlots += 1;
  }

  /** Rebuilds slot numbering once dead slots dominate, so scans stay proportional to live chunks. */
  #maybeRebuild(): void {
    if (this.#deadSlots < 10_000 || this.#deadSlots < this.#slotCount - this.#deadSlots) return;
    const documents = [...this.#documents.entries()].map(([key, stored]) => ({
      key,
      summary: stored.summary,
      records: stored.slots.map((slot) => this.#records[slot]).filter((record) => record !== undefined),
    }));
    this.#bm25 = new Bm25Index(this.#options.bm25 ?? defaultBm25Parameters);
    this.#records = [];
    this.#slotCount = 0;
    this.#deadSlots = 0;
    this.#alive.fill(0);
    this.#hasVector.fill(0);
    for (const document of documents) {
      const terms = this.#sparseTerms(document.records);
      const slots = document.records.map((record, position) =>
        this.#insert(record, terms[position] as Map<string, number>),
      );
      this.#documents.set(document.key, { slots, summary: document.summary });
    }
  }

  #checkDimensions(dense: Float32Array | undefined): void {
    if (!dense) return;
    if (dense.length === 0) throw new DeskhandError('invalid_input', 'A dense vector must not be empty');
    if (this.#dimensions === undefined) this.#dimensions = dense.length;
    else if (dense.length !== this.#dimensions) {
      throw new DeskhandError(
        'invalid_input',
        `Dense vector has ${dense.length} dimensions but the index holds ${this.#dimensions}-dimensional vectors`,
        { details: { expected: this.#dimensions, received: dense.length } },
      );
    }
  }

  #ensureCapacity(count: number): void {
    if (count <= this.#workspaceOf.length) return;
    const capacity = Math.max(count, this.#workspaceOf.length * 2);
    this.#workspaceOf = grow(this.#workspaceOf, capacity, Int32Array);
    this.#scopeOf = grow(this.#scopeOf, capacity, Int32Array);
    this.#alive = grow(this.#alive, capacity, Uint8Array);
    this.#hasVector = grow(this.#hasVector, capacity, Uint8Array);
  }

  #intern(value: string): number {
    let id = this.#interned.get(value);
    if (id === undefined) {
      id = this.#interned.size + 1;
      this.#interned.set(value, id);
    }
    return id;
  }

  // ---- search ----------------------------------------------------------------------------------------------

  /** The access filter as a slot predicate; undefined when the workspace has nothing indexed. */
  #acceptor(access: AccessScope): ((slot: number) => boolean) | undefined {
    const workspace = this.#interned.get(access.workspaceId);
    if (workspace === undefined) return undefined;
    const workspaceScope = this.#interned.get('workspace') ?? -1;
    const channelScope = this.#interned.get(`channel:${access.channelId}`) ?? -1;
    const workspaceOf = this.#workspaceOf;
    const scopeOf = this.#scopeOf;
    const alive = this.#alive;
    return (slot) =>
      alive[slot] === 1 &&
      workspaceOf[slot] === workspace &&
      (scopeOf[slot] === workspaceScope || scopeOf[slot] === channelScope);
  }

  #denseSearch(
    query: Float32Array,
    limit: number,
    accept: (slot: number) => boolean,
  ): { slot: number; score: number }[] {
    const dimensions = this.#dimensions;
    if (dimensions === undefined) return [];
    if (query.length !== dimensions) {
      throw new DeskhandError(
        'invalid_input',
        `Query vector has ${query.length} dimensions but the index holds ${dimensions}-dimensional vectors`,
      );
    }
    if (!this.#dense) return [];
    // Exact cosine of every stored vector (SIMD when available), then the access filter and a bounded heap.
    const scores = this.#dense.scores(query, this.#slotCount);
    const hasVector = this.#hasVector;
    const heap = new TopK(limit);
    for (let slot = 0; slot < this.#slotCount; slot += 1) {
      const score = scores[slot] as number;
      if (score > heap.threshold && hasVector[slot] === 1 && accept(slot)) heap.offer(slot, score);
    }
    return heap.sorted();
  }

  #hit(slot: number, score: number, scores: { denseScore?: number; sparseScore?: number }): SearchHit {
    const record = this.#records[slot];
    if (!record) throw new DeskhandError('internal', `Embedded index slot ${slot} has no record`);
    return { chunk: copyRecord(record), score, ...scores };
  }

  // ---- persistence -----------------------------------------------------------------------------------------

  async #load(): Promise<void> {
    const directory = this.#options.directory;
    if (!directory) return;
    mkdirSync(directory, { recursive: true });
    const snapshotPath = join(directory, snapshotFileName);
    const logPath = join(directory, logFileName);
    const snapshot = await readOptional(snapshotPath);
    if (snapshot !== undefined) {
      this.#snapshotBytes = snapshot.length;
      const { records, validBytes } = parseRecords(snapshot);
      if (validBytes !== snapshot.length) {
        throw new DeskhandError('internal', `The index snapshot ${snapshotPath} is damaged`, {
          details: { validBytes, size: snapshot.length },
        });
      }
      for (const record of records) this.#replay(record);
    }
    const log = await readOptional(logPath);
    if (log !== undefined) {
      const { records, validBytes } = parseRecords(log);
      if (validBytes < log.length) {
        this.#options.logger?.warn(
          { path: logPath, droppedBytes: log.length - validBytes },
          'dropping a torn final record from the vector index log (an unacknowledged write)',
        );
        await truncate(logPath, validBytes);
      }
      for (const record of records) this.#replay(record);
      this.#logBytes = validBytes;
    }
    this.#log = await open(logPath, 'a');
  }

  #replay(record: LogRecord): void {
    if (record.type === 'header') {
      for (const [workspaceId, version] of Object.entries(record.versions)) this.#setVersion(workspaceId, version);
    } else if (record.type === 'replace') {
      this.#applyReplace(record.workspaceId, record.documentId, record.chunks.map(deserialiseChunk), record.version);
    } else {
      this.#applyDelete(record.workspaceId, record.documentId, record.version);
    }
  }

  async #writeSnapshot(): Promise<void> {
    const directory = this.#options.directory;
    if (!directory) return;
    const temporaryPath = join(directory, `${snapshotFileName}.tmp`);
    const snapshotPath = join(directory, snapshotFileName);
    const file = await open(temporaryPath, 'w');
    let bytes = 0;
    try {
      const header: LogRecord = { type: 'header', format: 1, versions: Object.fromEntries(this.#versions) };
      const write = async (record: LogRecord) => {
        const line = `${JSON.stringify(record)}\n`;
        bytes += Buffer.byteLength(line);
        await file.write(line);
      };
      await write(header);
      for (const { slots, summary } of this.#documents.values()) {
        const chunks = slots.map((slot) => this.#records[slot]).filter((record) => record !== undefined);
        await write({
          type: 'replace',
          workspaceId: summary.workspaceId,
          documentId: summary.documentId,
          version: this.#versions.get(summary.workspaceId) ?? 0,
          chunks: chunks.map(serialiseChunk),
        });
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporaryPath, snapshotPath);
    syncDirectory(directory);
    await this.#log?.truncate(0);
    if (this.#log && this.#options.sync !== false) await this.#log.sync();
    this.#snapshotBytes = bytes;
    this.#logBytes = 0;
  }
}

function documentKey(workspaceId: string, documentId: string): string {
  return `${workspaceId}\u0000${documentId}`;
}

function copyRecord(record: ChunkRecord): ChunkRecord {
  return { ...record, sectionPath: [...record.sectionPath] };
}

function serialiseChunk(chunk: ChunkRecord): SerialisedChunk {
  const { dense, ...rest } = chunk;
  if (!dense) return rest;
  return { ...rest, dense: Buffer.from(dense.buffer, dense.byteOffset, dense.byteLength).toString('base64') };
}

function deserialiseChunk(chunk: SerialisedChunk): ChunkRecord {
  const { dense, ...rest } = chunk;
  if (dense === undefined) return rest;
  const bytes = Buffer.from(dense, 'base64');
  const vector = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(vector.buffer).set(bytes);
  return { ...rest, dense: vector };
}

/** Complete, parseable lines from the start of `content`, and how many bytes they span. */
function parseRecords(content: Buffer): { records: LogRecord[]; validBytes: number } {
  const records: LogRecord[] = [];
  let start = 0;
  for (;;) {
    const end = content.indexOf(0x0a, start);
    if (end === -1) break;
    const line = content.subarray(start, end).toString('utf8');
    try {
      records.push(JSON.parse(line) as LogRecord);
    } catch {
      // A complete but unparseable line is damage, not a torn append: stop here; the caller decides.
      if (end + 1 < content.length) {
        throw new DeskhandError('internal', 'The vector index log is damaged in the middle', {
          details: { offset: start },
        });
      }
      break;
    }
    start = end + 1;
  }
  return { records, validBytes: start };
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    await stat(path);
  } catch {
    return undefined;
  }
  return readFile(path);
}

/** fsync on the directory makes the rename itself durable (POSIX). */
function syncDirectory(directory: string): void {
  const descriptor = openSync(directory, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

function grow<T extends Int32Array | Uint8Array>(array: T, capacity: number, create: new (length: number) => T): T {
  const grown = new create(capacity);
  grown.set(array);
  return grown;
}
