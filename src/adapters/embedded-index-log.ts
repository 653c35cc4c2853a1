/**
 * `EmbeddedIndexLog`: the files that make `EmbeddedVectorIndex` durable, in one directory — an append-only log
 * (`index.log`) and a snapshot (`snapshot.jsonl`), both one JSON `LogRecord` a line (dense vectors as base64
 * of their float32 bytes).
 *
 * - `append` resolves only after the record is written and (unless `sync` is false) fdatasynced, so a record
 *   whose append resolved survives a crash.
 * - `writeSnapshot` writes a temporary file, fsyncs and renames it into place, fsyncs the directory, and only
 *   then truncates the log: at every instant the snapshot plus the log hold every acknowledged record.
 * - `open` replays the snapshot, then the log, through the caller's `replay`. A torn final log line (an
 *   unacknowledged append) is dropped, logged and truncated away; a damaged snapshot, or a log damaged before
 *   its last line, is an `internal` error rather than a silent loss.
 * This module knows records, not the index: applying them (idempotently) is the caller's job.
 */
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { type FileHandle, open, readFile, rename, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { DeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ChunkRecord } from '../ports/vector-index.ts';

export type LogRecord =
  | { type: 'replace'; workspaceId: string; documentId: string; version: number; chunks: SerialisedChunk[] }
  | { type: 'delete'; workspaceId: string; documentId: string; version: number }
  | { type: 'header'; format: 1; versions: Record<string, number> };

export type SerialisedChunk = Omit<ChunkRecord, 'dense'> & { dense?: string };

export interface EmbeddedIndexLogOptions {
  /** fdatasync every append (default true); turn off only for throwaway indexes. */
  sync?: boolean;
  logger?: Logger;
}

const logFileName = 'index.log';
const snapshotFileName = 'snapshot.jsonl';

export class EmbeddedIndexLog {
  readonly #directory: string;
  readonly #options: EmbeddedIndexLogOptions;
  #log: FileHandle | undefined;
  #logBytes = 0;
  #snapshotBytes = 0;

  constructor(directory: string, options: EmbeddedIndexLogOptions = {}) {
    this.#directory = directory;
    this.#options = options;
  }

  /**
   * Creates the directory if needed, replays the snapshot and then the log through `replay`, and opens the log
   * for appending.
   */
  async open(replay: (record: LogRecord) => void): Promise<void> {
    const directory = this.#directory;
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
      for (const record of records) replay(record);
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
      for (const record of records) replay(record);
      this.#logBytes = validBytes;
    }
    this.#log = await open(logPath, 'a');
  }

  /** Appends one record and syncs it; a no-op until `open` has finished or after `close`. */
  async append(record: LogRecord): Promise<void> {
    if (!this.#log) return;
    const line = `${JSON.stringify(record)}\n`;
    const bytes = Buffer.byteLength(line);
    await this.#log.write(line);
    if (this.#options.sync !== false) await this.#log.datasync();
    this.#logBytes += bytes;
  }

  /** Whether the log has outgrown both `threshold` bytes and the snapshot, so a new snapshot is due. */
  needsCompaction(threshold: number): boolean {
    return this.#logBytes > Math.max(threshold, this.#snapshotBytes);
  }

  /** Replaces the snapshot with `records` (written in order), then empties the log. */
  async writeSnapshot(records: Iterable<LogRecord>): Promise<void> {
    const directory = this.#directory;
    const temporaryPath = join(directory, `${snapshotFileName}.tmp`);
    const snapshotPath = join(directory, snapshotFileName);
    const file = await open(temporaryPath, 'w');
    let bytes = 0;
    try {
      for (const record of records) {
        const line = `${JSON.stringify(record)}\n`;
        bytes += Buffer.byteLength(line);
        await file.write(line);
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

  async close(): Promise<void> {
    await this.#log?.close();
    this.#log = undefined;
  }
}

export function serialiseChunk(chunk: ChunkRecord): SerialisedChunk {
  const { dense, ...rest } = chunk;
  if (!dense) return rest;
  return { ...rest, dense: Buffer.from(dense.buffer, dense.byteOffset, dense.byteLength).toString('base64') };
}

export function deserialiseChunk(chunk: SerialisedChunk): ChunkRecord {
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
