/**
 * `WorkspaceRestorer`: rebuilds one workspace's budget counters, caps and settings when a reservation (or `/budget`)
 * finds them lost — a Redis restart without persistence, a failover to a replica that lagged — not only at start.
 *
 * - Detection: the seeded sentinel (`workspaceRecordKeys().seeded`) is written together with the counters by the
 *   apply step and vanishes with them; the reserve script answers `unseeded` while it is absent, so nothing is
 *   admitted until the counters are back.
 * - One rebuilder across replicas: a lock key (SET NX PX) in the workspace's slot. Other callers — in this process
 *   they share the same promise — wait for the sentinel (polling, up to `waitMs`), then reserve again; if it does
 *   not come they are refused `budget_unenforceable` (retryable) with the reason, never admitted.
 * - Source: the spend record (Redis Stream written by the settle script). When the stream lacks calls the local
 *   exports have (the stream was lost too), every caller first contributes its own export's missing calls
 *   (`spend-contribution.ts`: counted and appended as `restored` entries, once per request id), and with
 *   coordination the lock holder waits (bounded) until every live replica has contributed before it seeds: the
 *   record is then the union of every live replica's export. Totals are de-duplicated by request id.
 * - Exactness: the apply script (budget-restore-script.ts) refuses (`moved`) when a call settled after the record was
 *   read; that call is read and added, and the step runs again.
 * - Caps and settings: the newest config snapshot (config stream, else the export) restores every channel's cap
 *   overrides and, when Redis has none, the settings hash. A workspace with recorded spend but no snapshot anywhere
 *   is marked `caps: unknown`: its reservations are refused (`caps_lost`) until an admin sets a cap or saves the
 *   settings — falling back to the default caps could admit more than the admins allowed. A workspace with nothing
 *   recorded anywhere is new: its first snapshot (no overrides, the current settings) is written now, so a later
 *   loss can tell "never capped" from "caps lost".
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../adapters/redis-client.ts';
import { DeskhandError } from '../errors.ts';
import {
  type BudgetWindows,
  budgetKeys,
  channelsByDaySpendKey,
  channelsByMonthSpendKey,
  dayTtlSeconds,
  monthTtlSeconds,
  workspaceRecordKeys,
  workspaceSettingsKey,
} from './budget-keys.ts';
import { raiseTokenCounters } from './budget-raise.ts';
import {
  applyRestoreCall,
  applyRestoreScript,
  type RestoreWrite,
  releaseRestoreLockLua,
} from './budget-restore-script.ts';
import { sendScript } from './budget-scripts.ts';
import type { ExportedConfig, RestoreNote, SpendExport } from './budget-types.ts';
import { SpendContributor } from './spend-contribution.ts';
import {
  type ConfigSnapshot,
  configRecordLength,
  readConfigRecord,
  readSpendRecord,
  type SpendRecordEntry,
} from './spend-record.ts';
import { type RecordedSpend, spendTotals } from './spend-totals.ts';

export interface WorkspaceRestorerOptions {
  redis: RedisClient;
  keyPrefix: string;
  windowsAt: () => BudgetWindows;
  /** Maps Redis failures and slow replies to `budget_unenforceable`. */
  guard: <T>(operation: Promise<T>) => Promise<T>;
  /** This replica's local export (the ledger files); the last resort when Redis lost the record too. */
  spendExport?: SpendExport | undefined;
  /** Hears of each restore (for a log line). */
  onRestored?: ((workspaceId: string, note: RestoreNote) => void) | undefined;
  /** How long the restore lock lives if its holder dies (default 30 s). */
  lockMs?: number;
  /** How long a caller waits for another replica's restore before being refused (default 5 s; a dead holder's lock
   * expires after `lockMs`, and a waiter then restores itself). */
  waitMs?: number;
}

/** Attempts at the apply step while calls keep settling meanwhile. */
const maxApplyAttempts = 8;

export class WorkspaceRestorer {
  readonly #options: WorkspaceRestorerOptions;
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Hands this replica's export back to Redis; when coordinated, a restore waits for the other replicas' too. */
  readonly contributor: SpendContributor | undefined;

  constructor(options: WorkspaceRestorerOptions) {
    this.#options = options;
    const { redis, keyPrefix, spendExport, windowsAt, guard } = options;
    this.contributor = spendExport && new SpendContributor({ redis, keyPrefix, spendExport, windowsAt, guard });
  }

  /** Restores a workspace whose sentinel is missing, or waits for the replica doing it; shares a restore in flight. */
  ensure(workspaceId: string): Promise<void> {
    let pending = this.#inFlight.get(workspaceId);
    if (!pending) {
      // Every replica that learns of the loss contributes its export first, whether it restores or waits.
      const contributed = this.contributor?.contribute(workspaceId) ?? Promise.resolve(0);
      pending = contributed
        .then(() => this.#restoreOrWait(workspaceId))
        .finally(() => this.#inFlight.delete(workspaceId));
      this.#inFlight.set(workspaceId, pending);
    }
    return pending;
  }

  async #restoreOrWait(workspaceId: string, deadline = Date.now() + (this.#options.waitMs ?? 5_000)): Promise<void> {
    const { redis, guard } = this.#options;
    const keys = workspaceRecordKeys(this.#options.keyPrefix, workspaceId);
    const token = randomUUID();
    const locked = await guard(redis.set(keys.rebuilding, token, 'PX', this.#options.lockMs ?? 30_000, 'NX'));
    if (locked !== 'OK') return this.#waitForOther(workspaceId, keys, deadline);
    try {
      if ((await guard(redis.exists(keys.seeded))) === 1) return;
      const missing = (await this.contributor?.awaitPeers(workspaceId)) ?? [];
      const note = await this.#restore(workspaceId, token, missing.length);
      this.#options.onRestored?.(workspaceId, note);
    } finally {
      await guard(redis.eval(releaseRestoreLockLua, 1, keys.rebuilding, token)).catch(() => {});
    }
  }

  /** Waits for the replica holding the lock; if it died (its lock expired without a sentinel), restores itself. */
  async #waitForOther(
    workspaceId: string,
    keys: ReturnType<typeof workspaceRecordKeys>,
    deadline: number,
  ): Promise<void> {
    const { redis, guard } = this.#options;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if ((await guard(redis.exists(keys.seeded))) === 1) return;
      if ((await guard(redis.exists(keys.rebuilding))) === 0) return this.#restoreOrWait(workspaceId, deadline);
    }
    throw new DeskhandError('budget_unenforceable', `Budget counters of ${workspaceId} are still being restored`, {
      retryable: true,
      userMessage:
        'Redis lost the budget figures and another Deskhand instance is restoring them from the spend record, so I am not calling the model yet. Please try again in a moment.',
      details: { workspaceId, reason: 'restore_in_progress' },
    });
  }

  async #restore(workspaceId: string, token: string, missingReplicas: number): Promise<RestoreNote> {
    const { redis, guard, keyPrefix } = this.#options;
    const keys = workspaceRecordKeys(keyPrefix, workspaceId);
    const current = this.#options.windowsAt();
    const exported = this.#options.spendExport
      ? await this.#options.spendExport.read(workspaceId)
      : { entries: [], config: undefined };
    const read = await guard(readSpendRecord(redis, keys.record));
    let newestId = read.lastId;
    const entries: RecordedSpend[] = read.entries.map((entry) => withWorkspace(entry, workspaceId));

    const recorded = await guard(readConfigRecord(redis, keys.config));
    const snapshot: ConfigSnapshot | undefined = recorded ?? exported.config;
    const hadSpend = read.entries.length > 0 || exported.entries.length > 0;
    const caps: RestoreNote['caps'] = snapshot ? 'restored' : hadSpend ? 'unknown' : 'none';
    // What the replicas contributed from their exports since the loss; the rest was already in the record.
    const restored = Math.min(read.entries.length, (await this.contributor?.contributedCount(workspaceId)) ?? 0);
    const settled = read.entries.length - restored;
    const source: RestoreNote['source'] =
      settled > 0 && restored > 0 ? 'record+export' : settled > 0 ? 'record' : restored > 0 ? 'export' : 'new';

    for (let attempt = 1; ; attempt += 1) {
      const totals = spendTotals(entries, current);
      const note: RestoreNote = {
        at: Date.now(),
        source,
        entries: totals.seen.size,
        caps,
        ...(missingReplicas > 0 ? { missingReplicas } : {}),
      };
      await this.#raiseTokens(workspaceId, current, totals);
      const write = this.#write(workspaceId, { keys, token, newestId, note, snapshot, recorded, totals, current });
      const reply = await guard(sendScript(redis, applyRestoreScript, applyRestoreCall(write)));
      if (reply === 'ok') {
        // The export keeps the snapshot in force (a first one included), for a loss of the config stream itself.
        const spendExport = this.#options.spendExport;
        const kept = snapshot ?? (spendExport ? await guard(readConfigRecord(redis, keys.config)) : undefined);
        if (kept && spendExport && !sameConfig(kept, exported.config)) {
          await spendExport.appendConfig(workspaceId, exportedConfig(kept));
        }
        return note;
      }
      if (reply !== 'moved' || attempt >= maxApplyAttempts) {
        throw new DeskhandError('budget_unenforceable', `Restore of ${workspaceId} did not complete (${reply})`, {
          retryable: true,
          details: { workspaceId, reason: reply },
        });
      }
      // Calls settled while the record was read: add them (de-duplicated by request id) and apply again.
      const delta = await guard(readSpendRecord(redis, keys.record, newestId));
      entries.push(...delta.entries.map((entry) => withWorkspace(entry, workspaceId)));
      newestId = delta.lastId;
    }
  }

  /** Token counters are use, not enforcement: raised (never lowered) before the apply step, idempotently. */
  async #raiseTokens(
    workspaceId: string,
    current: BudgetWindows,
    totals: ReturnType<typeof spendTotals>,
  ): Promise<void> {
    const workspace = totals.workspaceTotals.get(workspaceId);
    for (const channel of totals.channelTotals.values()) {
      await raiseTokenCounters(
        this.#options.redis,
        this.#options.guard,
        budgetKeys(this.#options.keyPrefix, workspaceId, channel.channelId, current),
        {
          channel_daily: channel.dayTokens.values(),
          channel_monthly: channel.monthTokens.values(),
          workspace_daily: workspace?.dayTokens.values() ?? [],
          workspace_monthly: workspace?.monthTokens.values() ?? [],
        },
      );
    }
  }

  #write(
    workspaceId: string,
    parts: {
      keys: ReturnType<typeof workspaceRecordKeys>;
      token: string;
      newestId: string;
      note: RestoreNote;
      snapshot: ConfigSnapshot | undefined;
      /** The snapshot read from the config stream (undefined: it came from the export, or there is none). */
      recorded: ConfigSnapshot | undefined;
      totals: ReturnType<typeof spendTotals>;
      current: BudgetWindows;
    },
  ): RestoreWrite {
    const { keyPrefix } = this.#options;
    const { totals, current, snapshot } = parts;
    const counters: RestoreWrite['counters'] = [];
    const rankings: RestoreWrite['rankings'] = [];
    const workspace = totals.workspaceTotals.get(workspaceId);
    for (const channel of totals.channelTotals.values()) {
      const keys = budgetKeys(keyPrefix, workspaceId, channel.channelId, current);
      counters.push(
        { key: keys.spentChannelDay, total: channel.day, ttlSeconds: dayTtlSeconds },
        { key: keys.spentChannelMonth, total: channel.month, ttlSeconds: monthTtlSeconds },
      );
      rankings.push({
        key: channelsByMonthSpendKey(keyPrefix, workspaceId, current.month),
        member: channel.channelId,
        score: channel.month,
        ttlSeconds: monthTtlSeconds,
      });
      if (channel.day > 0) {
        rankings.push({
          key: channelsByDaySpendKey(keyPrefix, workspaceId, current.day),
          member: channel.channelId,
          score: channel.day,
          ttlSeconds: dayTtlSeconds,
        });
      }
    }
    const anyChannel = budgetKeys(keyPrefix, workspaceId, '_', current);
    counters.push({ key: anyChannel.spentWorkspaceDay, total: workspace?.day ?? 0, ttlSeconds: dayTtlSeconds });
    for (const user of totals.userTotals.values()) {
      const userKeys = budgetKeys(keyPrefix, workspaceId, '_', current, user.userId).user;
      if (userKeys) counters.push({ key: userKeys.spent, total: user.day, ttlSeconds: dayTtlSeconds });
    }
    const caps = Object.entries(snapshot?.caps ?? {}).map(([channelId, windows]) => ({
      key: budgetKeys(keyPrefix, workspaceId, channelId, current).channelCaps,
      daily: windows.daily,
      monthly: windows.monthly,
    }));
    return {
      keys: { ...parts.keys, settings: workspaceSettingsKey(keyPrefix, workspaceId) },
      newestRecordId: parts.newestId,
      lockToken: parts.token,
      sentinel: JSON.stringify(parts.note),
      sentinelTtlSeconds: monthTtlSeconds,
      settings: snapshot?.settings,
      // A first snapshot for a new workspace; the export's snapshot copied back when Redis lost the config stream.
      appendSnapshotCaps:
        parts.note.caps === 'none' ? '{}' : snapshot && !parts.recorded ? JSON.stringify(snapshot.caps) : undefined,
      configLength: configRecordLength,
      counters: counters.filter((counter) => counter.total > 0),
      caps,
      rankings,
    };
  }
}

/**
 * The refusal while a workspace's figures are not back: `unseeded` (the restore did not complete) is retryable;
 * `caps_lost` names who must set the caps again.
 */
export function caplessRefusal(
  reason: 'unseeded' | 'caps_lost',
  workspaceId: string,
  adminUserIds: readonly string[],
): DeskhandError {
  if (reason === 'unseeded') {
    return new DeskhandError('budget_unenforceable', `Budget counters of ${workspaceId} were not restored`, {
      retryable: true,
      details: { workspaceId, reason: 'restore_incomplete' },
    });
  }
  const admins = adminUserIds.length > 0 ? adminUserIds.map((id) => `<@${id}>`).join(', ') : 'an admin';
  return new DeskhandError('budget_unenforceable', `Budget caps of ${workspaceId} were lost and not restored`, {
    retryable: false,
    userMessage: `Redis lost this workspace's budget caps and they could not be restored, so I am not calling the model rather than fall back to looser defaults. ${admins}: set the caps again — \`/budget set <usd> daily\` (and \`monthly\`) in each capped channel, or save the workspace settings on the App Home.`,
    details: { workspaceId, reason: 'caps_lost' },
  });
}

/** Reads a sentinel's text (undefined for a sentinel written before restores were noted, e.g. `'1'`). */
export function parseRestoreNote(text: string | null | undefined): RestoreNote | undefined {
  if (!text) return undefined;
  try {
    const note = JSON.parse(text) as Partial<RestoreNote>;
    if (typeof note.at !== 'number' || typeof note.source !== 'string' || typeof note.caps !== 'string')
      return undefined;
    return { at: note.at, source: note.source, entries: Number(note.entries ?? 0), caps: note.caps };
  } catch {
    return undefined;
  }
}

/** A snapshot as an export line holds it. */
export function exportedConfig(snapshot: ConfigSnapshot, at: Date = new Date()): ExportedConfig {
  return { at: at.toISOString(), caps: snapshot.caps, ...(snapshot.settings ? { settings: snapshot.settings } : {}) };
}

function withWorkspace(entry: SpendRecordEntry, workspaceId: string): RecordedSpend & { purpose?: string | undefined } {
  return { ...entry, workspaceId };
}

function sameConfig(snapshot: ConfigSnapshot, exported: ExportedConfig | undefined): boolean {
  if (!exported) return false;
  const { at: _at, ...rest } = exported;
  return (
    JSON.stringify(exportedConfig(snapshot, new Date(0)).caps) === JSON.stringify(rest.caps) &&
    JSON.stringify(snapshot.settings ?? null) === JSON.stringify(rest.settings ?? null)
  );
}
