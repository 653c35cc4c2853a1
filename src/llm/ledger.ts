/**
 * The durable record of settled spend: one JSON line per settled call, appended and fsynced (group commit) to a file
 * of its own per process (`DATA_DIR/ledger/<host>-<pid>-<start>.jsonl`), so processes never interleave writes. Redis holds the
 * live counters; when it loses them (restart without persistence, failover), `rebuildCounters` reseeds them — spend
 * and tokens per model — from every ledger file, so caps stay enforced and `/budget` still shows the use.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isBudgetId } from './budget-keys.ts';
import type { BudgetStore } from './budget-store.ts';
import { type ModelTokens, tokenArguments } from './token-usage.ts';

export interface LedgerEntry {
  at: string;
  requestId: string;
  workspaceId: string;
  channelId: string;
  /** Who the call was for, when known: a rebuild restores that person's spent-today counter from it. */
  userId?: string;
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
 * Reseeds Redis spend and token counters from the ledger for the current day and month (the windows caps are enforced
 * on and `/budget` shows), after Redis lost them. Entries are de-duplicated by request id; counters are only ever
 * raised, never lowered: Redis may hold settlements the ledger has not seen. Each person's spend today is restored too
 * (entries with a `userId`; a no-op without a per-user cap). With `workspaceId`, only that
 * workspace. Each rebuilt workspace (and the one asked for, even without entries) is then marked seeded.
 */
export async function rebuildCounters(
  store: BudgetStore,
  ledgerDirectory: string,
  at: number = Date.now(),
  only: { workspaceId?: string } = {},
): Promise<{ entries: number; channels: number; badLines: number }> {
  const read = await readLedger(ledgerDirectory);
  const { badLines } = read;
  const entries =
    only.workspaceId === undefined
      ? read.entries
      : read.entries.filter((entry) => entry.workspaceId === only.workspaceId);
  const current = store.windowsAt(at);
  const { seen, channelTotals, workspaceTotals, userTotals } = totalsOf(entries, current);
  for (const totals of channelTotals.values()) {
    const workspace = workspaceTotals.get(totals.workspaceId);
    await store.raiseSpent(totals.workspaceId, totals.channelId, current, {
      channelDay: totals.day,
      channelMonth: totals.month,
      workspaceDay: workspace?.day ?? 0,
    });
    await store.raiseTokens(totals.workspaceId, totals.channelId, current, {
      channel_daily: totals.dayTokens.values(),
      channel_monthly: totals.monthTokens.values(),
      workspace_daily: workspace?.dayTokens.values() ?? [],
      workspace_monthly: workspace?.monthTokens.values() ?? [],
    });
  }
  for (const user of userTotals.values()) {
    await store.raiseUserSpent(user.workspaceId, user.userId, current, user.day);
  }
  const seeded = new Set(workspaceTotals.keys());
  if (only.workspaceId !== undefined) seeded.add(only.workspaceId);
  for (const workspaceId of seeded) await store.markSeeded(workspaceId);
  return { entries: seen.size, channels: channelTotals.size, badLines };
}

/**
 * Makes `store` reseed a workspace from the ledger as soon as a reservation finds its counters lost (not only at the
 * next start); `onReseeded` hears of each rebuild (for a log line).
 */
export function reseedFromLedgerWhenMissing(
  store: BudgetStore,
  ledgerDirectory: string,
  onReseeded?: (workspaceId: string, rebuilt: Awaited<ReturnType<typeof rebuildCounters>>) => void,
): void {
  store.reseedWhenMissing(async (workspaceId) => {
    const rebuilt = await rebuildCounters(store, ledgerDirectory, Date.now(), { workspaceId });
    onReseeded?.(workspaceId, rebuilt);
  });
}

/** Adds up de-duplicated entries of the current month per channel, workspace and (today's) person. */
function totalsOf(entries: readonly LedgerEntry[], current: { day: string; month: string }) {
  const seen = new Set<string>();
  const channelTotals = new Map<string, ChannelTotals>();
  const workspaceTotals = new Map<string, WorkspaceTotals>();
  const userTotals = new Map<string, UserTotals>();
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
      dayTokens: new Map(),
      monthTokens: new Map(),
    };
    const workspace = workspaceTotals.get(entry.workspaceId) ?? {
      day: 0,
      dayTokens: new Map(),
      monthTokens: new Map(),
    };
    totals.month += entry.costMicroUsd;
    addTokens(totals.monthTokens, entry);
    addTokens(workspace.monthTokens, entry);
    if (entry.day === current.day) {
      totals.day += entry.costMicroUsd;
      workspace.day += entry.costMicroUsd;
      addTokens(totals.dayTokens, entry);
      addTokens(workspace.dayTokens, entry);
      if (typeof entry.userId === 'string' && isBudgetId(entry.userId)) {
        const userKey = `${entry.workspaceId}\u0000${entry.userId}`;
        const user = userTotals.get(userKey) ?? { workspaceId: entry.workspaceId, userId: entry.userId, day: 0 };
        user.day += entry.costMicroUsd;
        userTotals.set(userKey, user);
      }
    }
    channelTotals.set(key, totals);
    workspaceTotals.set(entry.workspaceId, workspace);
  }
  return { seen, channelTotals, workspaceTotals, userTotals };
}

/** A person's spend today in one workspace. */
interface UserTotals {
  workspaceId: string;
  userId: string;
  day: number;
}

/** A channel's spend and tokens per model in the current day and month. */
interface ChannelTotals {
  workspaceId: string;
  channelId: string;
  day: number;
  month: number;
  dayTokens: Map<string, ModelTokens>;
  monthTokens: Map<string, ModelTokens>;
}

/** A workspace's spend in the current day, and its tokens per model in the current day and month. */
interface WorkspaceTotals {
  day: number;
  dayTokens: Map<string, ModelTokens>;
  monthTokens: Map<string, ModelTokens>;
}

/** Adds an entry's tokens to its model's totals, counted as the settle script counts them (clamped, whole). */
function addTokens(models: Map<string, ModelTokens>, entry: LedgerEntry): void {
  if (typeof entry.model !== 'string' || entry.model === '') return;
  const [, input, output] = tokenArguments({
    model: entry.model,
    inputTokens: Number(entry.inputTokens),
    outputTokens: Number(entry.outputTokens),
  });
  const totals = models.get(entry.model) ?? { model: entry.model, inputTokens: 0, outputTokens: 0 };
  totals.inputTokens += Number(input);
  totals.outputTokens += Number(output);
  if (entry.unpriced) totals.unpriced = entry.unpriced;
  models.set(entry.model, totals);
}
