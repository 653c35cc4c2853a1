/**
 * `WorkJournal`: each replica's own record, in its DATA_DIR, of the durable work it stored or took over and of the
 * work it finished. Durable work lives in Redis (durable-work.ts), and a Redis that restarts without persistence
 * loses every item, pending entry and delivery claim at once; Slack never redelivers an acknowledged event, so
 * before this journal such work was simply gone (issue 17: 12 of 300 mentions never answered). From the journal a
 * replica puts back into Redis what Redis lost (work-reassertion.ts).
 *
 * Format: `journal.jsonl`, one JSON record a line, appended and synced (`fdatasync`) before `record` resolves, i.e.
 * before the ack: `s` (an item stored or taken over here: delivery id, kind, name, request, attempts, time, and
 * the reply's first message when known), `d` (finished here: its done marker is put back too, for `doneKeepMs`),
 * `f` (no longer this replica's to put back: another replica took it over, or it is done elsewhere). Concurrent appends share one write and one sync (group
 * commit), so the cost per item falls as the load rises. Reply anchors are kept beside it (journal-files.ts).
 *
 * Bounded: the file is rewritten with only the unfinished items and the recent done ids (written to a temporary
 * file, synced, renamed over the journal) when it opens and whenever it has grown past `compactAtBytes` and twice
 * its last compacted size; unfinished items older than `itemTtlMs` (Redis would have expired them) and done ids
 * older than `doneKeepMs` are dropped then, and the done ids are capped at `maxDoneIds`.
 *
 * A torn last line (kill -9 in the middle of an append) or any other unreadable line is skipped with one warning,
 * never failing the start; the rewrite at open then leaves a clean file, so the next append cannot be glued to a
 * torn line. When the directory cannot be used (unwritable, or another live process holds its lock) the replica
 * runs without a journal — as before it existed — and says so once.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.ts';
import {
  anchorsDirectory,
  lockJournalDirectory,
  pruneAnchorFiles,
  readAnchorFile,
  removeAnchorFile,
} from './journal-files.ts';

/** An unfinished item as the journal knows it. `request` is the work unit's plain-data request. */
export interface JournalEntry {
  deliveryId: string;
  kind: string;
  name: string;
  request: unknown;
  attempts: number;
  /** When it was first stored (ms since the epoch). */
  storedAt: number;
  /** The first message a run posted, when one was saved (journal-files.ts). */
  replyTs?: string;
}

type JournalRecord =
  | { t: 's'; id: string; kind: string; name: string; request: unknown; attempts: number; at: number; r?: string }
  | { t: 'd'; id: string; at: number }
  | { t: 'f'; id: string };

export interface WorkJournalOptions {
  /** The replica's own directory (journal-files.ts `workJournalDirectory(DATA_DIR)`). */
  directory: string;
  logger: Logger;
  /** As durable work's item TTL (default 24 h). */
  itemTtlMs?: number;
  /** How long a finished item's done marker is put back after a loss (default 15 min, past Slack's retries). */
  doneKeepMs?: number;
  /** Size past which the file is compacted (default 1 MiB). */
  compactAtBytes?: number;
  /** Most done ids kept (default 100,000). */
  maxDoneIds?: number;
}

const fileName = 'journal.jsonl';

export class WorkJournal {
  readonly directory: string;
  readonly anchors: string;
  readonly #options: WorkJournalOptions;
  readonly #itemTtlMs: number;
  readonly #doneKeepMs: number;
  readonly #path: string;
  readonly #unfinished = new Map<string, JournalEntry>();
  /** Done ids and when they finished, oldest first. */
  readonly #done = new Map<string, number>();
  #opening: Promise<boolean> | undefined;
  #handle: FileHandle | undefined;
  #release: (() => void) | undefined;
  #bytes = 0;
  #compactAt: number;
  #queue: string[] = [];
  #waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  #flushing: Promise<void> | undefined;
  #failureReported = false;
  /** Closed for good: a job that ends after the shutdown's drain gave up does not reopen the journal. */
  #closed = false;

  constructor(options: WorkJournalOptions) {
    this.#options = options;
    this.directory = options.directory;
    this.anchors = anchorsDirectory(options.directory);
    this.#path = join(options.directory, fileName);
    this.#itemTtlMs = options.itemTtlMs ?? 24 * 60 * 60 * 1000;
    this.#doneKeepMs = options.doneKeepMs ?? 15 * 60 * 1000;
    this.#compactAt = options.compactAtBytes ?? 1024 * 1024;
  }

  /** Opens the journal once (later calls share it): false when this replica runs without one (see the header). */
  open(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    this.#opening ??= this.#open().catch((error: unknown) => {
      this.#options.logger.error(
        { err: error, code: 'configuration', directory: this.directory },
        'work journal unavailable: durable work would not survive Redis losing its data',
      );
      this.#release?.();
      this.#release = undefined;
      return false;
    });
    return this.#opening;
  }

  /** Records an item stored or taken over here (again with more attempts on a re-run); synced when it resolves. */
  async record(entry: JournalEntry): Promise<void> {
    if (!(await this.open())) return;
    const known = this.#unfinished.get(entry.deliveryId);
    const storedAt = known?.storedAt ?? entry.storedAt;
    const replyTs = entry.replyTs ?? known?.replyTs;
    this.#unfinished.set(entry.deliveryId, { ...entry, storedAt, ...(replyTs ? { replyTs } : {}) });
    this.#done.delete(entry.deliveryId);
    const { deliveryId: id, kind, name, request, attempts } = entry;
    await this.#append({ t: 's', id, kind, name, request, attempts, at: storedAt, ...(replyTs ? { r: replyTs } : {}) });
  }

  /** Records that this replica finished the item: not put back again, its done marker put back for a while. */
  async finished(deliveryId: string, at = Date.now()): Promise<void> {
    if (!(await this.open())) return;
    this.#unfinished.delete(deliveryId);
    this.#done.delete(deliveryId);
    this.#done.set(deliveryId, at);
    await this.#append({ t: 'd', id: deliveryId, at });
    await removeAnchorFile(this.anchors, deliveryId).catch(() => {});
  }

  /** Records that the item is no longer this replica's to put back (another took it over, or it is done there). */
  async forget(deliveryId: string): Promise<void> {
    if (!(await this.open())) return;
    if (!this.#unfinished.delete(deliveryId)) return;
    await this.#append({ t: 'f', id: deliveryId });
    await removeAnchorFile(this.anchors, deliveryId).catch(() => {});
  }

  /** The unfinished items, each with its reply anchor when one was saved. */
  async unfinished(now = Date.now()): Promise<JournalEntry[]> {
    if (!(await this.open())) return [];
    const entries = [...this.#unfinished.values()].filter((entry) => now - entry.storedAt < this.#itemTtlMs);
    return Promise.all(
      entries.map(async (entry) => {
        const replyTs = (await readAnchorFile(this.anchors, entry.deliveryId)) ?? entry.replyTs;
        return replyTs ? { ...entry, replyTs } : entry;
      }),
    );
  }

  /** Deliveries finished here within `doneKeepMs`, with how long their done marker should still hold. */
  async recentlyDone(doneTtlMs: number, now = Date.now()): Promise<{ deliveryId: string; ttlMs: number }[]> {
    if (!(await this.open())) return [];
    const recent: { deliveryId: string; ttlMs: number }[] = [];
    for (const [deliveryId, at] of this.#done) {
      if (now - at < this.#doneKeepMs && now - at < doneTtlMs)
        recent.push({ deliveryId, ttlMs: doneTtlMs - (now - at) });
    }
    return recent;
  }

  /** Size of the file now, in bytes (tests, the compaction bound). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Waits for pending appends, then closes the file and releases the directory. */
  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#opening || !(await this.#opening)) return;
    await this.#flushing;
    await this.#handle?.close();
    this.#handle = undefined;
    this.#release?.();
    this.#release = undefined;
  }

  async #open(): Promise<boolean> {
    const { logger } = this.#options;
    await mkdir(this.anchors, { recursive: true });
    const lock = lockJournalDirectory(this.directory);
    if ('heldBy' in lock) {
      logger.error(
        { code: 'configuration', directory: this.directory, holderPid: lock.heldBy },
        'work journal in use by another process: this replica runs without one (give each replica its own DATA_DIR)',
      );
      return false;
    }
    this.#release = lock.release;
    const text = await readFile(this.#path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    this.#load(text);
    await this.#compact();
    await pruneAnchorFiles(this.anchors, this.#unfinished.keys());
    if (this.#unfinished.size > 0) {
      logger.info(
        { directory: this.directory, unfinished: this.#unfinished.size, done: this.#done.size },
        'work journal opened with unfinished work',
      );
    }
    return true;
  }

  #load(text: string): void {
    const lines = text.split('\n');
    const torn = text.length > 0 && !text.endsWith('\n');
    let skipped = 0;
    for (const line of lines) {
      if (line.trim() === '') continue;
      const record = parseRecord(line);
      if (record) this.#apply(record);
      else skipped += 1;
    }
    if (skipped > 0) {
      this.#options.logger.warn(
        { code: 'invalid_input', directory: this.directory, skipped, tornLastLine: torn },
        torn
          ? 'work journal ends with a torn line (killed mid-write): skipped'
          : 'work journal had unreadable lines: skipped',
      );
    }
  }

  #apply(record: JournalRecord): void {
    switch (record.t) {
      case 's': {
        const known = this.#unfinished.get(record.id);
        const { id: deliveryId, kind, name, request, attempts, at } = record;
        const replyTs = record.r ?? known?.replyTs;
        const storedAt = known?.storedAt ?? at;
        this.#unfinished.set(deliveryId, {
          deliveryId,
          kind,
          name,
          request,
          attempts,
          storedAt,
          ...(replyTs ? { replyTs } : {}),
        });
        this.#done.delete(deliveryId);
        return;
      }
      case 'd':
        this.#unfinished.delete(record.id);
        this.#done.delete(record.id);
        this.#done.set(record.id, record.at);
        return;
      case 'f':
        this.#unfinished.delete(record.id);
        return;
    }
  }

  #append(record: JournalRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push(`${JSON.stringify(record)}\n`);
      this.#waiters.push({ resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#flushing) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = undefined;
      // A line queued between the loop's last look and now.
      if (this.#queue.length > 0) this.#kick();
    });
  }

  /** Group commit: every line queued while the previous write was syncing goes out in one write and one sync. */
  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const text = this.#queue.splice(0).join('');
      const waiters = this.#waiters.splice(0);
      try {
        if (!this.#handle) throw new Error('work journal is closed');
        await this.#handle.write(text);
        await this.#handle.datasync();
        this.#bytes += Buffer.byteLength(text);
        this.#failureReported = false;
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        if (!this.#failureReported) {
          this.#failureReported = true;
          this.#options.logger.error(
            { err: error, code: 'internal', directory: this.directory },
            'could not append to the work journal',
          );
        }
        for (const waiter of waiters) waiter.reject(error);
      }
      if (this.#bytes > this.#compactAt) {
        await this.#compact().catch((error: unknown) => {
          this.#options.logger.warn({ err: error, code: 'internal' }, 'could not compact the work journal');
          this.#compactAt = this.#bytes * 2;
        });
      }
    }
  }

  /** Rewrites the file with what is still needed (see the header); atomic through a rename. */
  async #compact(now = Date.now()): Promise<void> {
    const lines: string[] = [];
    for (const [deliveryId, entry] of this.#unfinished) {
      if (now - entry.storedAt >= this.#itemTtlMs) {
        this.#unfinished.delete(deliveryId);
        continue;
      }
      const { kind, name, request, attempts, storedAt: at, replyTs } = entry;
      const record = { t: 's', id: deliveryId, kind, name, request, attempts, at, ...(replyTs ? { r: replyTs } : {}) };
      lines.push(JSON.stringify(record));
    }
    const excess = this.#done.size - (this.#options.maxDoneIds ?? 100_000);
    let index = 0;
    for (const [deliveryId, at] of this.#done) {
      if (index < excess || now - at >= this.#doneKeepMs) this.#done.delete(deliveryId);
      else lines.push(JSON.stringify({ t: 'd', id: deliveryId, at }));
      index += 1;
    }
    const text = lines.length > 0 ? `${lines.join('\n')}\n` : '';
    const temporary = `${this.#path}.tmp`;
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(text);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.#path);
    await syncDirectory(this.directory);
    await this.#handle?.close();
    this.#handle = await open(this.#path, 'a');
    this.#bytes = Buffer.byteLength(text);
    this.#compactAt = Math.max(this.#options.compactAtBytes ?? 1024 * 1024, 2 * this.#bytes);
  }
}

/** Makes a rename durable: the directory entry itself is synced. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function parseRecord(line: string): JournalRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.id !== 'string' || record.id === '') return undefined;
  if (record.t === 'f') return { t: 'f', id: record.id };
  if (typeof record.at !== 'number') return undefined;
  if (record.t === 'd') return { t: 'd', id: record.id, at: record.at };
  if (record.t !== 's' || typeof record.kind !== 'string' || typeof record.attempts !== 'number') return undefined;
  if (record.request === undefined) return undefined;
  const name = typeof record.name === 'string' ? record.name : record.kind;
  const { id, kind, request, attempts, at } = record;
  return { t: 's', id, kind, name, request, attempts, at, ...(typeof record.r === 'string' ? { r: record.r } : {}) };
}
