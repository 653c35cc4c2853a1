/**
 * The durable record of settled spend: one JSON line per settled call, appended and fsynced (group commit) to a file
 * of its own per process (`DATA_DIR/ledger/<host>-<pid>-<start>.jsonl`), so processes never interleave writes. Redis holds the
 * live counters; when it loses them (restart without persistence, failover), `rebuildCounters` reseeds them from
 * every ledger file, so caps stay enforced.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { BudgetStore } from './budget-store.ts';

export interface LedgerEntry {
  at: string;
  requestId: string;
  workspaceId: string;
  channelId: string;
  /** Budget windows the spend belongs to (fixed at reservation). */
  day: string;
  month: string;
  model: string;
  purpose: string;
  costMicroUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** Present when the model was charged $0 without a known price (e.g. "local server"); the tokens are real use. */
  unpriced?: string;
}

export class Ledger {
  readonly directory: string;
  readonly file: string;
  private readonly flushDelayMs: number;
  private pending: Array<{ line: string; resolve: () => void; reject: (error: unknown) => void }> = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private handle: Awaited<ReturnType<typeof open>> | undefined;

  /**
   * `flushDelayMs` (default 20 ms) is how long an entry may wait to be committed with the ones after it: one fsync
   * per window instead of one per call (on a VM every fsync stalls the machine for milliseconds).
   */
  constructor(dataDir: string, options: { flushDelayMs?: number } = {}) {
    this.directory = join(dataDir, 'ledger');
    this.flushDelayMs = options.flushDelayMs ?? 20;
    const safeHost = hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
    this.file = join(this.directory, `${safeHost}-${process.pid}-${Date.now()}-${randomUUID().slice(0, 8)}.jsonl`);
  }

  /**
   * Appends one entry and resolves once it is on disk (fsync). Entries arriving within `flushDelayMs` of each other,
   * or while a write is in progress, are committed together (group commit).
   */
  append(entry: LedgerEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(entry)}\n`, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flush();
    }, this.flushDelayMs);
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        if (!this.handle) {
          await mkdir(this.directory, { recursive: true });
          this.handle = await open(this.file, 'a');
        }
        await this.handle.write(batch.map((item) => item.line).join(''));
        await this.handle.datasync();
        for (const item of batch) item.resolve();
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
    this.flushing = undefined;
  }

  /** Commits every pending entry now, waits until it is on disk, then closes the file. */
  async close(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.flushing ??= this.flush();
    }
    while (this.flushing) await this.flushing;
    await this.handle?.close();
    this.handle = undefined;
  }
}

/** Every entry in every ledger file of a directory (lines that do not parse are skipped and counted). */
export async function readLedger(directory: string): Promise<{ entries: LedgerEntry[]; badLines: number }> {
  let names: string[];
  try {
    names = (await readdir(directory)).filter((name) => name.endsWith('.jsonl'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], badLines: 0 };
    throw error;
  }
  const entries: LedgerEntry[] = [];
  let badLines = 0;
  for (const name of names.sort()) {
    const text = await readFile(join(directory, name), 'utf8');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const entry = JSON.parse(line) as LedgerEntry;
        if (typeof entry.requestId === 'string' && Number.isSafeInteger(entry.costMicroUsd)) entries.push(entry);
        else badLines += 1;
      } catch {
        badLines += 1;
      }
    }
  }
  return { entries, badLines };
}

/**
 * Reseeds Redis spend counters from the ledger for the current day and month (the windows caps are enforced on),
 * after Redis lost them. Entries are de-duplicated by request id; counters are only ever raised, never lowered.
 */
export async function rebuildCounters(
  store: BudgetStore,
  ledgerDirectory: string,
  at: number = Date.now(),
): Promise<{ entries: number; channels: number; badLines: number }> {
  const { entries, badLines } = await readLedger(ledgerDirectory);
  const current = store.windowsAt(at);
  const seen = new Set<string>();
  const channelTotals = new Map<string, { workspaceId: string; channelId: string; day: number; month: number }>();
  const workspaceDay = new Map<string, number>();
  for (const entry of entries) {
    if (seen.has(entry.requestId)) continue;
    seen.add(entry.requestId);
    if (entry.month !== current.month) continue;
    const key = `${entry.workspaceId}\u0000${entry.channelId}`;
    const totals = channelTotals.get(key) ?? {
      workspaceId: entry.workspaceId,
      channelId: entry.channelId,
      day: 0,
      month: 0,
    };
    totals.month += entry.costMicroUsd;
    if (entry.day === current.day) {
      totals.day += entry.costMicroUsd;
      workspaceDay.set(entry.workspaceId, (workspaceDay.get(entry.workspaceId) ?? 0) + entry.costMicroUsd);
    }
    channelTotals.set(key, totals);
  }
  for (const totals of channelTotals.values()) {
    await store.raiseSpent(totals.workspaceId, totals.channelId, current, {
      channelDay: totals.day,
      channelMonth: totals.month,
      workspaceDay: workspaceDay.get(totals.workspaceId) ?? 0,
    });
  }
  return { entries: seen.size, channels: channelTotals.size, badLines };
}
