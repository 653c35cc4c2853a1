/**
 * The local export of the spend record: one JSON line per settled call (and one per caps/settings snapshot, `kind:
 * "config"`), appended and fsynced (group commit) to a file of its own per process
 * (`DATA_DIR/ledger/<host>-<pid>-<start>.jsonl`), so processes never interleave writes.
 *
 * The record every replica shares is in Redis (`spend-record.ts`: a stream appended by the settle script). This
 * export is the last resort when Redis lost the record too (a restart without persistence): `LedgerExport` hands a
 * workspace's lines to the restore (`budget-restore.ts`), which copies what the stream lacks back into it. Each
 * replica's export holds only what that replica wrote, unless `DATA_DIR/ledger` is a volume every replica shares (the
 * file names never collide). `rebuildCounters` raises counters from every file at start-up.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { BudgetStore } from './budget-store.ts';
import type { ExportedConfig, RestoreNote, SpendExport } from './budget-types.ts';
import { parseCaps } from './spend-record.ts';
import { spendTotals } from './spend-totals.ts';

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

/** Where every process's ledger files live under `DATA_DIR` (one file each). */
export function ledgerDirectory(dataDir: string): string {
  return join(dataDir, 'ledger');
}

/** A caps/settings snapshot line of the export (see `ExportedConfig`). */
export interface LedgerConfigLine extends ExportedConfig {
  kind: 'config';
  workspaceId: string;
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
    this.directory = ledgerDirectory(dataDir);
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

  /** Appends a workspace's caps/settings snapshot line; resolves once it is on disk. */
  appendConfig(workspaceId: string, config: ExportedConfig): Promise<void> {
    const line: LedgerConfigLine = { kind: 'config', workspaceId, ...config };
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(line)}\n`, resolve, reject });
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

  /** Resolves once every line queued before this call is on disk (committed now rather than after the window). */
  async sync(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.flushing ??= this.flush();
    }
    while (this.flushing) await this.flushing;
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

/**
 * Every entry and config snapshot in every ledger file of a directory (lines that do not parse are skipped and
 * counted).
 */
export async function readLedger(
  directory: string,
): Promise<{ entries: LedgerEntry[]; configs: LedgerConfigLine[]; badLines: number }> {
  let names: string[];
  try {
    names = (await readdir(directory)).filter((name) => name.endsWith('.jsonl'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], configs: [], badLines: 0 };
    throw error;
  }
  const entries: LedgerEntry[] = [];
  const configs: LedgerConfigLine[] = [];
  let badLines = 0;
  for (const name of names.sort()) {
    const text = await readFile(join(directory, name), 'utf8');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const entry = JSON.parse(line) as LedgerEntry | LedgerConfigLine;
        if ('kind' in entry && entry.kind === 'config') {
          const config = configLine(entry);
          if (config) configs.push(config);
          else badLines += 1;
        } else if (
          'requestId' in entry &&
          typeof entry.requestId === 'string' &&
          Number.isSafeInteger(entry.costMicroUsd)
        ) {
          entries.push(entry);
        } else badLines += 1;
      } catch {
        badLines += 1;
      }
    }
  }
  return { entries, configs, badLines };
}

/** A config line whose fields check out, or undefined. */
function configLine(line: LedgerConfigLine): LedgerConfigLine | undefined {
  const caps = parseCaps(line.caps);
  if (!caps || typeof line.workspaceId !== 'string' || typeof line.at !== 'string') return undefined;
  const settings = line.settings;
  const settingsValid = settings && typeof settings.json === 'string' && Number.isSafeInteger(settings.version);
  return { kind: 'config', workspaceId: line.workspaceId, at: line.at, caps, ...(settingsValid ? { settings } : {}) };
}

/**
 * The ledger directory as the restore's `SpendExport`: a workspace's calls and its newest snapshot (by time), read
 * from every file; snapshots are appended through `ledger` (without one, e.g. a read-only directory, they are not).
 */
export class LedgerExport implements SpendExport {
  readonly #directory: string;
  readonly #ledger: Ledger | undefined;
  /** Per file: bytes already scanned, a torn last line kept for the next scan, workspaces per month. */
  readonly #scanned = new Map<string, { offset: number; carry: string; months: Map<string, Set<string>> }>();

  constructor(directory: string, ledger?: Ledger) {
    this.#directory = directory;
    this.#ledger = ledger;
  }

  async read(workspaceId: string) {
    const { entries, configs } = await readLedger(this.#directory);
    const own = configs.filter((config) => config.workspaceId === workspaceId);
    const newest = own.sort((first, second) => first.at.localeCompare(second.at)).at(-1);
    return {
      entries: entries.filter((entry) => entry.workspaceId === workspaceId),
      config: newest
        ? { at: newest.at, caps: newest.caps, ...(newest.settings ? { settings: newest.settings } : {}) }
        : undefined,
    };
  }

  async appendConfig(workspaceId: string, config: ExportedConfig): Promise<void> {
    await this.#ledger?.appendConfig(workspaceId, config);
  }

  async sync(): Promise<void> {
    await this.#ledger?.sync();
  }

  /** Reads only what each file gained since the last call, so a replica can ask every second. */
  async workspaceIds(month: string): Promise<string[]> {
    let names: string[];
    try {
      names = (await readdir(this.#directory)).filter((name) => name.endsWith('.jsonl'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const found = new Set<string>();
    for (const name of names) {
      const path = join(this.#directory, name);
      const scan = this.#scanned.get(name) ?? { offset: 0, carry: '', months: new Map<string, Set<string>>() };
      this.#scanned.set(name, scan);
      const { size } = await stat(path);
      if (size > scan.offset) {
        const handle = await open(path, 'r');
        try {
          const buffer = Buffer.alloc(size - scan.offset);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, scan.offset);
          scan.offset += bytesRead;
          const lines = (scan.carry + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
          scan.carry = lines.pop() ?? '';
          for (const line of lines) noteWorkspace(scan.months, line);
        } finally {
          await handle.close();
        }
      }
      for (const workspaceId of scan.months.get(month) ?? []) found.add(workspaceId);
    }
    return [...found];
  }
}

/** Notes the workspace and month of one exported call (other lines are skipped). */
function noteWorkspace(months: Map<string, Set<string>>, line: string): void {
  if (!line.trim()) return;
  try {
    const entry = JSON.parse(line) as Partial<LedgerEntry> & { kind?: string };
    if (entry.kind === 'config' || typeof entry.workspaceId !== 'string' || typeof entry.month !== 'string') return;
    const workspaces = months.get(entry.month) ?? new Set<string>();
    workspaces.add(entry.workspaceId);
    months.set(entry.month, workspaces);
  } catch {
    // A torn or damaged line: `readLedger` counts those.
  }
}

/**
 * Reseeds Redis spend and token counters from the ledger for the current day and month (the windows caps are enforced
 * on and `/budget` shows), after Redis lost them. Entries are de-duplicated by request id; counters are only ever
 * raised, never lowered: Redis may hold settlements the ledger has not seen. Each person's spend today is restored too
 * (entries with a `userId`; a no-op without a per-user cap). With `workspaceId`, only that workspace.
 * It does not mark workspaces seeded: a workspace whose sentinel is gone is still restored in full (the spend record,
 * caps and settings) by its next reservation or `/budget` (`budget-restore.ts`).
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
  const { seen, channelTotals, workspaceTotals, userTotals } = spendTotals(entries, current);
  for (const totals of channelTotals.values()) {
    const workspace = workspaceTotals.get(totals.workspaceId);
    await store.raise.spent(totals.workspaceId, totals.channelId, current, {
      channelDay: totals.day,
      channelMonth: totals.month,
      workspaceDay: workspace?.day ?? 0,
    });
    await store.raise.tokens(totals.workspaceId, totals.channelId, current, {
      channel_daily: totals.dayTokens.values(),
      channel_monthly: totals.monthTokens.values(),
      workspace_daily: workspace?.dayTokens.values() ?? [],
      workspace_monthly: workspace?.monthTokens.values() ?? [],
    });
  }
  for (const user of userTotals.values()) {
    await store.raise.userSpent(user.workspaceId, user.userId, current, user.day);
  }
  return { entries: seen.size, channels: channelTotals.size, badLines };
}

/**
 * Makes `store` restore a workspace whose counters Redis lost from the spend record and, when Redis lost the record
 * too, from this ledger (a `Ledger`, which also receives caps snapshots, or a directory read only); `onRestored`
 * hears of each restore (for a log line).
 */
export function reseedFromLedgerWhenMissing(
  store: BudgetStore,
  ledger: Ledger | string,
  onRestored?: (workspaceId: string, restored: RestoreNote) => void,
  onExportError?: (workspaceId: string, error: unknown) => void,
): void {
  const spendExport =
    typeof ledger === 'string' ? new LedgerExport(ledger) : new LedgerExport(ledger.directory, ledger);
  store.restoreFrom(spendExport, onRestored, onExportError);
}
