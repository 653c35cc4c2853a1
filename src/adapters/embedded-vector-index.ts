/**
 * `EmbeddedVectorIndex`: the in-process `VectorIndex`, used when QDRANT_URL is unset.
 *
 * - Search: dense cosine through a `DenseIndex` (dense-index.ts; by default quantized — int8 codes scanned by a
 *   WebAssembly SIMD kernel, the best candidates rescored with their float vectors read from an unlinked file in
 *   `directory` — or, with `dense: { mode: 'exact' }`, an exact scan of resident floats) and BM25 over
 *   typed-array postings with the shared analyzer; hybrid fuses both with RRF. The
 *   access filter (workspace + workspace-or-own-channel scope, own channel only when `channelOnly`) is applied inside the scan, so a hit the caller
 *   may not see is never even scored.
 * - Atomicity: mutations are serialised; each one is made durable first, then applied to memory in one
 *   synchronous step together with the index-version bump. Searches score synchronously, so a concurrent
 *   search sees a document's old chunks or its new ones, never both and never neither.
 * - Durability (when `directory` is set): an append-only log (`index.log`, one JSON record a line, fdatasync
 *   per mutation) plus a snapshot (`snapshot.jsonl`) written to a temporary file, fsynced and renamed into
 *   place, then the directory is fsynced and the log truncated. Replaying is idempotent (replace/delete by
 *   document, versions take the maximum), so a crash at any point recovers the last acknowledged state; a torn
 *   final log line is dropped and the file truncated back to the last complete record.
 * - One writer: opening takes `index.lock` in `directory` (index-directory-lock.ts) and closing releases it; a
 *   live other process holding it makes `ensureReady` reject with `IndexLockedError`.
 * - Layout: this facade owns the port, the write queue and the durable-then-visible order; the data lives in
 *   `EmbeddedIndexMemory` (embedded-index-memory.ts) and the files in `EmbeddedIndexLog` (embedded-index-log.ts).
 */

import { mkdirSync } from 'node:fs';
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
import type { Bm25Parameters } from '../search/bm25.ts';
import { reciprocalRankFusion } from '../search/fusion.ts';
import type { DenseIndexOptions } from './dense-index.ts';
import { deserialiseChunk, EmbeddedIndexLog, type LogRecord, serialiseChunk } from './embedded-index-log.ts';
import { copyRecord, EmbeddedIndexMemory } from './embedded-index-memory.ts';
import { acquireIndexLock } from './index-directory-lock.ts';
import { assertAccessScope, isVisibleFrom, prefetchLimit, validateDocumentChunks } from './vector-index-shared.ts';

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
  /**
   * The dense side: quantized (default; the float file goes in `directory`, or the OS temporary directory when
   * the index is in memory only) or exact (every float resident; the contract tests run both).
   */
  dense?: DenseIndexOptions;
  logger?: Logger;
}

export class EmbeddedVectorIndex implements VectorIndex {
  readonly #options: EmbeddedVectorIndexOptions;
  readonly #memory: EmbeddedIndexMemory;
  /** Undefined when the index is in memory only (no `directory`). */
  readonly #log: EmbeddedIndexLog | undefined;
  #ready: Promise<void> | undefined;
  #writeQueue: Promise<void> = Promise.resolve();
  #closed = false;
  /** Set once the directory's single-writer lock (index-directory-lock.ts) is held. */
  #releaseLock: (() => void) | undefined;

  constructor(options: EmbeddedVectorIndexOptions = {}) {
    this.#options = options;
    const dense: DenseIndexOptions = options.dense ?? { mode: 'quantized' };
    this.#memory = new EmbeddedIndexMemory({
      ...options,
      dense:
        dense.mode === 'quantized' && dense.directory === undefined && options.directory
          ? { ...dense, directory: options.directory }
          : dense,
    });
    this.#log = options.directory ? new EmbeddedIndexLog(options.directory, options) : undefined;
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
    for (const chunk of chunks) this.#memory.checkDimensions(chunk.dense);
    await this.ensureReady();
    await this.#mutate(() => {
      const version = this.#memory.version(workspaceId) + 1;
      return {
        record: { type: 'replace', workspaceId, documentId, version, chunks: chunks.map(serialiseChunk) },
        apply: () => this.#memory.applyReplace(workspaceId, documentId, chunks, version),
      };
    });
  }

  async deleteDocument(workspaceId: string, documentId: string): Promise<boolean> {
    await this.ensureReady();
    let removed = false;
    await this.#mutate(() => {
      if (!this.#memory.hasDocument(workspaceId, documentId)) return undefined;
      const version = this.#memory.version(workspaceId) + 1;
      return {
        record: { type: 'delete', workspaceId, documentId, version },
        apply: () => {
          removed = this.#memory.applyDelete(workspaceId, documentId, version);
        },
      };
    });
    return removed;
  }

  async deleteWorkspace(workspaceId: string): Promise<string[]> {
    await this.ensureReady();
    const documentIds = [...this.#memory.documents()]
      .filter((stored) => stored.summary.workspaceId === workspaceId)
      .map((stored) => stored.summary.documentId);
    const removed: string[] = [];
    // One logged delete per document, the same record a single deletion writes, so a replay of the log agrees.
    for (const documentId of documentIds)
      if (await this.deleteDocument(workspaceId, documentId)) removed.push(documentId);
    return removed;
  }

  async getDocument(workspaceId: string, documentId: string): Promise<DocumentSummary | undefined> {
    await this.ensureReady();
    const stored = this.#memory.document(workspaceId, documentId);
    return stored ? { ...stored.summary } : undefined;
  }

  async listDocuments(access: AccessScope): Promise<DocumentSummary[]> {
    assertAccessScope(access);
    await this.ensureReady();
    const result: DocumentSummary[] = [];
    for (const { summary } of this.#memory.documents()) {
      if (summary.workspaceId !== access.workspaceId) continue;
      if (!isVisibleFrom(access, summary.scope)) continue;
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
    const memory = this.#memory;
    const accept = memory.acceptor(request.access);
    if (!accept) return [];
    const limit = Math.max(0, Math.floor(request.limit));
    if (limit === 0) return [];
    const candidateLimit = request.mode === 'hybrid' ? prefetchLimit(limit) : limit;
    const sparse = request.mode === 'dense' ? [] : memory.sparseSearch(request.text, candidateLimit, accept);
    const dense =
      request.mode === 'sparse' || !request.dense ? [] : memory.denseSearch(request.dense, candidateLimit, accept);
    if (request.mode === 'sparse')
      return sparse.map(({ slot, score }) => memory.hit(slot, score, { sparseScore: score }));
    if (request.mode === 'dense') return dense.map(({ slot, score }) => memory.hit(slot, score, { denseScore: score }));
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
        return memory.hit(item.slot, score, scores);
      });
  }

  async getChunks(access: AccessScope, documentId: string, chunkIndexes: number[]): Promise<ChunkRecord[]> {
    assertAccessScope(access);
    await this.ensureReady();
    const stored = this.#memory.document(access.workspaceId, documentId);
    if (!stored) return [];
    if (!isVisibleFrom(access, stored.summary.scope)) return [];
    const wanted = new Set(chunkIndexes);
    return this.#memory
      .recordsOf(stored)
      .filter((record) => wanted.has(record.chunkIndex))
      .map(copyRecord)
      .sort((left, right) => left.chunkIndex - right.chunkIndex);
  }

  async indexVersion(workspaceId: string): Promise<number> {
    await this.ensureReady();
    return this.#memory.version(workspaceId);
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
    this.#memory.close();
    this.#releaseLock?.();
  }

  /** Live chunk count (for metrics and benchmarks). */
  get size(): number {
    return this.#memory.size;
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
      await this.#log?.append(prepared.record);
      prepared.apply();
      if (this.#log?.needsCompaction(this.#options.compactAfterLogBytes ?? 8 << 20)) {
        await this.#writeSnapshot();
      }
    });
  }

  // ---- persistence -----------------------------------------------------------------------------------------

  async #load(): Promise<void> {
    if (!this.#log || !this.#options.directory) return;
    mkdirSync(this.#options.directory, { recursive: true });
    this.#releaseLock = acquireIndexLock(this.#options.directory);
    await this.#log.open((record) => replay(this.#memory, record));
  }

  async #writeSnapshot(): Promise<void> {
    if (!this.#log) return;
    await this.#log.writeSnapshot(snapshotRecords(this.#memory));
  }
}

/** Applies one log or snapshot record; idempotent (replace/delete by document, versions take the maximum). */
function replay(memory: EmbeddedIndexMemory, record: LogRecord): void {
  if (record.type === 'header') {
    for (const [workspaceId, version] of Object.entries(record.versions)) memory.setVersion(workspaceId, version);
  } else if (record.type === 'replace') {
    memory.applyReplace(record.workspaceId, record.documentId, record.chunks.map(deserialiseChunk), record.version);
  } else {
    memory.applyDelete(record.workspaceId, record.documentId, record.version);
  }
}

/**
 * The snapshot's records, produced lazily while the snapshot is written (inside the write queue, so memory
 * does not change meanwhile): a header with every workspace's version, then one replace per document.
 */
function* snapshotRecords(memory: EmbeddedIndexMemory): Generator<LogRecord> {
  yield { type: 'header', format: 1, versions: memory.versions() };
  for (const stored of memory.documents()) {
    const { summary } = stored;
    yield {
      type: 'replace',
      workspaceId: summary.workspaceId,
      documentId: summary.documentId,
      version: memory.version(summary.workspaceId),
      chunks: memory.recordsOf(stored).map(serialiseChunk),
    };
  }
}
