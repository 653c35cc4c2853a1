/**
 * `EmbeddedIndexMemory`: the in-memory half of `EmbeddedVectorIndex` — every live chunk in one numbered slot
 * table (records, workspace and scope ids as interned integers, an alive flag, the dense vector in a
 * `DenseIndex` — exact or quantized, dense-index.ts — the sparse terms in a `Bm25Index` whose slots stay in
 * step), plus each document's slots and each workspace's index version.
 *
 * - Every method is synchronous, so a caller that applies a change here in one step (the facade does, after
 *   the change is durable) is never observed half-done by a search.
 * - A document's replacement inserts its new slots before freeing the old ones; freed slots are skipped by
 *   every scan and renumbered away once they dominate, so scans stay proportional to live chunks.
 * - All vectors share one dimension count, fixed by the first vector seen; a mismatch is `invalid_input`.
 * - Versions only grow: applying a version lower than the current one leaves the current one (replay is
 *   idempotent).
 * - The access filter is a slot predicate applied inside both scans, so a chunk the caller may not see is
 *   never scored (in quantized mode: never a candidate). Records handed out are copies.
 * - A record's dense vector is held once, by the dense index (so in quantized mode the floats are not resident):
 *   records are kept without it and `hit`/`recordsOf` attach the stored, normalised vector.
 */

import { DeskhandError } from '../errors.ts';
import type { AccessScope, ChunkRecord, DocumentSummary, SearchHit } from '../ports/vector-index.ts';
import { type Analyzer, defaultAnalyzer } from '../search/analyzer.ts';
import { Bm25Index, type Bm25Parameters, defaultBm25Parameters } from '../search/bm25.ts';
import { documentChunkTermFrequencies, queryTermFrequencies } from '../search/sparse-terms.ts';
import { createDenseIndex, type DenseIndex, type DenseIndexOptions } from './dense-index.ts';
import { summariseDocument } from './vector-index-shared.ts';

export interface EmbeddedIndexMemoryOptions {
  analyzer?: Analyzer;
  bm25?: Bm25Parameters;
  titleWeight?: number;
  /** Weight of adjacent chunks' terms in a chunk's sparse representation (`documentChunkTermFrequencies`). */
  neighbourWeight?: number;
  /** The dense side's mode (default quantized, its float file in the OS temporary directory). */
  dense?: DenseIndexOptions;
}

export interface StoredDocument {
  slots: number[];
  summary: DocumentSummary;
}

export class EmbeddedIndexMemory {
  readonly #options: EmbeddedIndexMemoryOptions;
  readonly #analyzer: Analyzer;
  #bm25: Bm25Index;
  #records: (ChunkRecord | undefined)[] = [];
  #workspaceOf = new Int32Array(1024);
  #scopeOf = new Int32Array(1024);
  #alive = new Uint8Array(1024);
  #hasVector = new Uint8Array(1024);
  #dense: DenseIndex | undefined;
  #dimensions: number | undefined;
  #slotCount = 0;
  #deadSlots = 0;
  readonly #interned = new Map<string, number>();
  readonly #documents = new Map<string, StoredDocument>();
  readonly #versions = new Map<string, number>();

  constructor(options: EmbeddedIndexMemoryOptions = {}) {
    this.#options = options;
    this.#analyzer = options.analyzer ?? defaultAnalyzer;
    this.#bm25 = new Bm25Index(options.bm25 ?? defaultBm25Parameters);
  }

  /** Live chunk count. */
  get size(): number {
    return this.#slotCount - this.#deadSlots;
  }

  version(workspaceId: string): number {
    return this.#versions.get(workspaceId) ?? 0;
  }

  /** Every workspace's version, as a plain object (the snapshot header). */
  versions(): Record<string, number> {
    return Object.fromEntries(this.#versions);
  }

  hasDocument(workspaceId: string, documentId: string): boolean {
    return this.#documents.has(documentKey(workspaceId, documentId));
  }

  document(workspaceId: string, documentId: string): StoredDocument | undefined {
    return this.#documents.get(documentKey(workspaceId, documentId));
  }

  documents(): IterableIterator<StoredDocument> {
    return this.#documents.values();
  }

  /** A stored document's chunk records in slot order, each with its stored dense vector (fresh objects). */
  recordsOf(stored: StoredDocument): ChunkRecord[] {
    const records: ChunkRecord[] = [];
    for (const slot of stored.slots) {
      const record = this.#records[slot];
      if (record) records.push(this.#withDense(slot, record));
    }
    return records;
  }

  /** Releases the dense index's file (quantized mode). */
  close(): void {
    this.#dense?.close();
  }

  // ---- mutations -------------------------------------------------------------------------------------------

  applyReplace(workspaceId: string, documentId: string, chunks: ChunkRecord[], version: number): void {
    const key = documentKey(workspaceId, documentId);
    const previous = this.#documents.get(key);
    const sorted = [...chunks].sort((left, right) => left.chunkIndex - right.chunkIndex);
    const terms = this.#sparseTerms(sorted);
    const slots = sorted.map((chunk, position) =>
      this.#insert(chunk, terms[position] as Map<string, number>, chunk.dense),
    );
    if (previous) for (const slot of previous.slots) this.#remove(slot);
    if (slots.length > 0) this.#documents.set(key, { slots, summary: summariseDocument(sorted) });
    else this.#documents.delete(key);
    this.setVersion(workspaceId, version);
    this.#maybeRebuild();
  }

  applyDelete(workspaceId: string, documentId: string, version: number): boolean {
    const key = documentKey(workspaceId, documentId);
    const previous = this.#documents.get(key);
    if (previous) for (const slot of previous.slots) this.#remove(slot);
    this.#documents.delete(key);
    this.setVersion(workspaceId, version);
    this.#maybeRebuild();
    return previous !== undefined;
  }

  setVersion(workspaceId: string, version: number): void {
    this.#versions.set(workspaceId, Math.max(version, this.#versions.get(workspaceId) ?? 0));
  }

  /** Throws `invalid_input` unless `dense` (when given) is non-empty and as wide as the vectors already held. */
  checkDimensions(dense: Float32Array | undefined): void {
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

  #sparseTerms(chunks: readonly ChunkRecord[]): Map<string, number>[] {
    return documentChunkTermFrequencies(chunks, {
      analyzer: this.#analyzer,
      titleWeight: this.#options.titleWeight ?? 1,
      ...(this.#options.neighbourWeight === undefined ? {} : { neighbourWeight: this.#options.neighbourWeight }),
    });
  }

  #insert(chunk: ChunkRecord, terms: Map<string, number>, dense: Float32Array | undefined): number {
    const slot = this.#slotCount;
    this.#slotCount += 1;
    this.#ensureCapacity(this.#slotCount);
    const { dense: _held, ...record } = copyRecord(chunk);
    this.#records[slot] = record;
    this.#workspaceOf[slot] = this.#intern(chunk.workspaceId);
    this.#scopeOf[slot] = this.#intern(chunk.scope);
    this.#alive[slot] = 1;
    if (dense) {
      this.checkDimensions(dense);
      this.#dense ??= createDenseIndex(dense.length, this.#options.dense);
      this.#dense.set(slot, dense);
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
      slots: stored.slots.filter((slot) => this.#records[slot] !== undefined),
    }));
    // The old records and vectors are read while the new numbering is built, into a new dense index.
    const records = this.#records;
    const hasVector = this.#hasVector.slice();
    const dense = this.#dense;
    this.#dense = undefined;
    this.#hasVector = new Uint8Array(this.#hasVector.length);
    this.#bm25 = new Bm25Index(this.#options.bm25 ?? defaultBm25Parameters);
    this.#records = [];
    this.#slotCount = 0;
    this.#deadSlots = 0;
    this.#alive.fill(0);
    for (const document of documents) {
      const documentRecords = document.slots.map((slot) => records[slot] as ChunkRecord);
      const terms = this.#sparseTerms(documentRecords);
      const slots = document.slots.map((oldSlot, position) =>
        this.#insert(
          documentRecords[position] as ChunkRecord,
          terms[position] as Map<string, number>,
          hasVector[oldSlot] === 1 ? dense?.get(oldSlot) : undefined,
        ),
      );
      this.#documents.set(document.key, { slots, summary: document.summary });
    }
    dense?.close();
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
  acceptor(access: AccessScope): ((slot: number) => boolean) | undefined {
    const workspace = this.#interned.get(access.workspaceId);
    if (workspace === undefined) return undefined;
    // A channel-only reader (an externally shared channel) matches no workspace-wide slot.
    const workspaceScope = access.channelOnly === true ? -1 : (this.#interned.get('workspace') ?? -1);
    const channelScope = this.#interned.get(`channel:${access.channelId}`) ?? -1;
    const workspaceOf = this.#workspaceOf;
    const scopeOf = this.#scopeOf;
    const alive = this.#alive;
    return (slot) =>
      alive[slot] === 1 &&
      workspaceOf[slot] === workspace &&
      (scopeOf[slot] === workspaceScope || scopeOf[slot] === channelScope);
  }

  /** BM25 over the query text (analysed like the chunks), best `limit` accepted slots first. */
  sparseSearch(text: string, limit: number, accept: (slot: number) => boolean): { slot: number; score: number }[] {
    return this.#bm25.search(queryTermFrequencies(text, this.#analyzer), limit, accept);
  }

  denseSearch(
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
    // The access filter (and "has a vector") decides which slots may rank at all; the dense index ranks them.
    const hasVector = this.#hasVector;
    return this.#dense.search(query, this.#slotCount, limit, (slot) => hasVector[slot] === 1 && accept(slot));
  }

  /** A search hit for `slot`, carrying a copy of its record. */
  hit(slot: number, score: number, scores: { denseScore?: number; sparseScore?: number }): SearchHit {
    const record = this.#records[slot];
    if (!record) throw new DeskhandError('internal', `Embedded index slot ${slot} has no record`);
    return { chunk: this.#withDense(slot, record), score, ...scores };
  }

  /** A copy of `record` with the slot's stored vector, when it has one. */
  #withDense(slot: number, record: ChunkRecord): ChunkRecord {
    const copy = copyRecord(record);
    if (this.#hasVector[slot] === 1 && this.#dense) copy.dense = this.#dense.get(slot);
    return copy;
  }
}

export function copyRecord(record: ChunkRecord): ChunkRecord {
  return { ...record, sectionPath: [...record.sectionPath] };
}

function documentKey(workspaceId: string, documentId: string): string {
  return `${workspaceId}\u0000${documentId}`;
}

function grow<T extends Int32Array | Uint8Array>(array: T, capacity: number, create: new (length: number) => T): T {
  const grown = new create(capacity);
  grown.set(array);
  return grown;
}
