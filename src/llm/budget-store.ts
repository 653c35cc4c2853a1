/**
 * Per-channel daily and monthly caps, a workspace-wide daily cap and, when configured, a per-person daily cap in each
 * workspace (`userDailyMicroUsd`, issue 15), enforced in Redis with Lua so that a check
 * and its increment are one atomic step (litellm#34732: check-then-increment overspends under concurrency).
 *
 * - `reserve` adds a call's worst case to every window in ONE script, refusing when any window would pass its cap.
 *   Reserved and settled amounts both count, so concurrent calls (also the first ones on a brand-new channel) can
 *   never overspend a cap together.
 * - A call with a known user (`ReserveInput.userId`) while a per-user cap is configured reserves that person's day
 *   in the same script as the others; settle and release treat it like the others. A call without a user (e.g.
 *   document ingestion) is not user-capped.
 * - `settle` replaces the reservation by the actual cost, once per request id (a second settle is a no-op), under the
 *   caps the reservation was admitted with (`Reservation.defaults`): it never needs the settings store.
 * - `release` drops a reservation without charging (error, timeout, cancellation).
 * - A call reserving $0 (an unpriced model) is still refused once a window is used up, so a cap of $0 stops all calls.
 * - `settle` also counts the call's tokens per model and window, in the same script (`token-usage.ts`).
 * - A reservation carries an expiry (a ZSET scored by expiry, on the Redis clock): each reserve first purges
 *   expired ones, so a crashed owner cannot leave a phantom "budget exceeded" behind.
 * - Every key of a workspace carries the hash tag `{workspaceId}`, so each script touches one hash slot and runs
 *   on Redis Cluster.
 * - Any Redis failure or timeout becomes `budget_unenforceable`: the gateway refuses the call (fail closed).
 * - Every settlement is also appended to the workspace's spend record (a Redis Stream every replica reads, in the
 *   same script, `spend-record.ts`); every cap change appends the workspace's caps snapshot to its config stream.
 * - Counters lost while the app runs (a Redis restart without persistence, a failover) are noticed by the next
 *   reservation or `/budget`, not only at the next start: `reserve` checks the workspace's seeded sentinel (written
 *   with the restored counters, lost with them) in the same script; when it is gone the workspace is restored from
 *   the spend record — and the local ledger export (`restoreFrom`) when Redis lost the record too — by one replica
 *   (`budget-restore.ts`) before anything is admitted, and the reservation runs again. Caps that cannot be restored
 *   refuse every call (`caps_lost`) until an admin sets them again, rather than fall back to looser defaults.
 *   With `coordinateRestores`, the restore is the union of every live replica's export (`spend-contribution.ts`).
 *
 * - Per-workspace settings (issue 15): with `policyOf`, each call reads its workspace's default caps and admins before
 *   the script runs and passes them to it as arguments, so the reservation stays one atomic script; a channel's own
 *   cap (`setChannelCap`) still wins over the workspace's default. Without it, `defaults` and `adminUserIds` apply.
 *
 * Windows are calendar days and months in the configured time zone (luxon).
 *
 * This file keeps the store's facade; the parts live beside it: `budget-scripts.ts` (the Lua scripts, their KEYS/ARGV
 * layout, `defineCommand`), `budget-keys.ts` (key names, windows, key lifetimes), `budget-refusals.ts` (what a
 * refused person is told), `budget-status.ts` (what `/budget` reads), `budget-types.ts` (the value types, re-exported
 * here).
 */
import type { RedisClient } from '../adapters/redis-client.ts';
import { DeskhandError } from '../errors.ts';
import { guardBudgetOperation } from './budget-guard.ts';
import {
  type BudgetWindows,
  budgetKeys,
  budgetWindows,
  dayTtlSeconds,
  monthTtlSeconds,
  resetOf,
  WindowCalendar,
  workspaceRecordKeys,
} from './budget-keys.ts';
import { CounterRaise } from './budget-raise.ts';
import { overBudgetError } from './budget-refusals.ts';
import { caplessRefusal, exportedConfig, parseRestoreNote, WorkspaceRestorer } from './budget-restore.ts';
import { applyRestoreScript } from './budget-restore-script.ts';
import {
  type BudgetScript,
  budgetScripts,
  defineBudgetScripts,
  releaseScriptCall,
  reserveScriptCall,
  type ScriptCall,
  sendScript,
  setCapScriptCall,
  settleScriptCall,
  settleWarnings,
} from './budget-scripts.ts';
import { readBudgetStatus, readTokenUsage } from './budget-status.ts';
import type { BudgetStoreOptions, WorkspaceBudgetPolicy } from './budget-store-options.ts';
import type {
  BudgetDefaults,
  BudgetStatus,
  CacheHit,
  CacheStore,
  Reservation,
  ReserveInput,
  RestoreNote,
  SettleResult,
  SpendExport,
} from './budget-types.ts';
import { ConfigExportFollower } from './config-export.ts';
import type { ReplicaCoordination, SpendContributor } from './spend-contribution.ts';
import { contributionScripts } from './spend-contribution-script.ts';
import { readConfigRecord } from './spend-record.ts';
import type { SettledTokens, TokenUsageReport } from './token-usage.ts';

export { type BudgetWindow, type BudgetWindows, budgetWindows } from './budget-keys.ts';
export type { BudgetStoreOptions, WorkspaceBudgetPolicy } from './budget-store-options.ts';
export type {
  BudgetDefaults,
  BudgetStatus,
  BudgetWarning,
  CacheHit,
  CacheStore,
  Reservation,
  ReserveInput,
  RestoreNote,
  SettleResult,
  SpendExport,
  WindowStatus,
} from './budget-types.ts';

export class BudgetStore {
  private readonly redis: RedisClient;
  private readonly keyPrefix: string;
  readonly timeZone: string;
  readonly defaults: BudgetDefaults;
  private readonly reservationTtlMs: number;
  private readonly commandTimeoutMs: number;
  readonly adminUserIds: readonly string[];
  private readonly warningPermille: number;
  private readonly now: () => number;
  private readonly calendar: WindowCalendar;
  /** Raises counters to totals rebuilt from the ledger at start-up (never lowers one, `budget-raise.ts`). */
  readonly raise: CounterRaise;
  private restorer: WorkspaceRestorer;
  private readonly restoreWaitMs: number | undefined;
  private configExport: ConfigExportFollower | undefined;
  private spendExport: SpendExport | undefined;
  private readonly policyOfWorkspace: ((workspaceId: string) => Promise<WorkspaceBudgetPolicy>) | undefined;

  constructor(options: BudgetStoreOptions) {
    this.redis = options.redis;
    this.keyPrefix = options.keyPrefix;
    this.timeZone = options.timeZone;
    this.defaults = options.defaults;
    this.reservationTtlMs = options.reservationTtlMs;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    this.adminUserIds = options.adminUserIds ?? [];
    this.warningPermille = Math.round((options.warningRatio ?? 0.8) * 1000);
    this.now = options.now ?? Date.now;
    this.calendar = new WindowCalendar(options.timeZone);
    this.policyOfWorkspace = options.policyOf;
    this.restoreWaitMs = options.restoreWaitMs;
    defineBudgetScripts(this.redis, [applyRestoreScript, ...Object.values(contributionScripts)]);
    this.restorer = this.newRestorer(undefined, undefined);
    this.raise = new CounterRaise(this.redis, (operation) => this.guard(operation), this);
  }

  /** The workspace's default caps and admins (`policyOf`), or the store's own; a failure is `budget_unenforceable`. */
  async policy(workspaceId: string): Promise<WorkspaceBudgetPolicy> {
    if (!this.policyOfWorkspace) return { defaults: this.defaults, adminUserIds: this.adminUserIds };
    try {
      const policy = await this.policyOfWorkspace(workspaceId);
      this.configExport?.observe(workspaceId, policy);
      return policy;
    } catch (error) {
      throw new DeskhandError('budget_unenforceable', `Could not read the caps of ${workspaceId}`, {
        cause: error,
        retryable: true,
      });
    }
  }

  /** The day and month a call made now belongs to, and when each resets, in the configured time zone. */
  windowsAt(at: number = this.now()): BudgetWindows {
    return this.calendar.windowsAt(at);
  }

  /**
   * Restores a workspace whose counters Redis lost from the spend record and, when Redis lost the record too, from
   * `spendExport` (this replica's ledger files), which also receives the caps/settings snapshots this replica
   * enforces (`config-export.ts`); `onRestored` hears of each restore, `onExportError` of a snapshot not exported.
   */
  restoreFrom(
    spendExport: SpendExport | undefined,
    onRestored?: (workspaceId: string, note: RestoreNote) => void,
    onExportError?: (workspaceId: string, error: unknown) => void,
  ): void {
    this.spendExport = spendExport;
    this.restorer.contributor?.stop();
    this.restorer = this.newRestorer(spendExport, onRestored);
    this.configExport =
      spendExport && new ConfigExportFollower(this.redis, this.keyPrefix, spendExport, onExportError ?? (() => {}));
  }

  /**
   * Makes this replica's export part of every restore (`spend-contribution.ts`: registered, contributing every
   * second; its restores wait for the other live replicas). Needs `restoreFrom` with an export; after the first round.
   */
  async coordinateRestores(coordination: ReplicaCoordination = {}): Promise<{ stop: () => void }> {
    if (!this.contributor) throw new DeskhandError('internal', 'coordinateRestores() without an export');
    return this.contributor.coordinate(coordination);
  }

  /** Hands this replica's export back to Redis (with `restoreFrom` and an export): the settlement's after-care. */
  get contributor(): SpendContributor | undefined {
    return this.restorer.contributor;
  }

  private newRestorer(
    spendExport: SpendExport | undefined,
    onRestored: ((workspaceId: string, note: RestoreNote) => void) | undefined,
  ): WorkspaceRestorer {
    return new WorkspaceRestorer({
      redis: this.redis,
      keyPrefix: this.keyPrefix,
      windowsAt: () => this.windowsAt(),
      guard: (operation) => this.guard(operation),
      spendExport,
      onRestored,
      ...(this.restoreWaitMs === undefined ? {} : { waitMs: this.restoreWaitMs }),
    });
  }

  /**
   * Key names for one workspace/channel/window set (exported shape for the ledger rebuild and tests), with the
   * person's day when `userId` is given and a per-user cap is configured (in `defaults`: the workspace's).
   */
  keys(
    workspaceId: string,
    channelId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    userId?: string,
    defaults: BudgetDefaults = this.defaults,
  ) {
    const user = defaults.userDailyMicroUsd === undefined || !userId ? undefined : userId;
    return budgetKeys(this.keyPrefix, workspaceId, channelId, windows, user);
  }

  /**
   * Reserves `amountMicroUsd` in every window atomically. Throws `over_budget` (with the reset time and the admins
   * who can raise the cap in its user message) when a window would pass its cap, `budget_unenforceable` when Redis
   * cannot answer, `conflict` when the request id was already used.
   */
  async reserve(input: ReserveInput): Promise<Reservation> {
    const outcome = await this.reserveOrServeCached(input);
    if ('kind' in outcome) throw new DeskhandError('internal', 'reserve() without a cache key returned a cache hit');
    return outcome;
  }

  /**
   * Like `reserve`, but first looks up `cacheKey` (a response-cache key in the same workspace slot) in the same
   * script: a hit returns the entry, counts its cost as savings and reserves nothing — one round trip either way.
   */
  async reserveOrServeCached(input: ReserveInput & { cacheKey?: string }): Promise<Reservation | CacheHit> {
    assertAmount(input.amountMicroUsd);
    const windows = this.windowsAt();
    const ttlMs = Math.max(this.reservationTtlMs, input.ttlMs ?? 0);
    const attempt = async () => {
      const policy = await this.policy(input.workspaceId);
      const keys = this.keys(input.workspaceId, input.channelId, windows, input.userId, policy.defaults);
      const call = reserveScriptCall(keys, input, ttlMs, policy.defaults, true);
      return { policy, reply: (await this.run(budgetScripts.reserve, call)) as string[] };
    };
    let { policy, reply } = await attempt();
    if (reply[0] === 'unseeded') {
      // The restore may write the workspace's settings back: its caps and admins are read again.
      await this.restorer.ensure(input.workspaceId);
      ({ policy, reply } = await attempt());
    }
    if (reply[0] === 'unseeded' || reply[0] === 'caps_lost') {
      throw caplessRefusal(reply[0], input.workspaceId, policy.adminUserIds);
    }
    if (reply[0] === 'hit') return { kind: 'cache_hit', value: reply[1] ?? '', savedMicroUsd: Number(reply[2] ?? 0) };
    // An earlier attempt of this same call holds the reservation: one that timed out while Redis failed over, still
    // queued in the client, ran on the new master before this retry (retryBudgetOutage reuses the request id).
    if (reply[0] === 'reserved' || (reply[0] === 'duplicate' && reply[1] === 'reserved')) {
      const held = {
        requestId: input.requestId,
        workspaceId: input.workspaceId,
        channelId: input.channelId,
        ...(input.userId ? { userId: input.userId } : {}),
        amountMicroUsd: input.amountMicroUsd,
        windows,
        defaults: policy.defaults,
      };
      return this.contributor ? this.contributor.hold(held, ttlMs) : held;
    }
    if (reply[0] === 'duplicate') {
      throw new DeskhandError('conflict', `Budget request id ${input.requestId} was already used (${reply[1]})`, {
        details: { requestId: input.requestId },
      });
    }
    const window = budgetWindows[Number(reply[1]) - 1] ?? 'channel_daily';
    const refusal = {
      window,
      capMicroUsd: Number(reply[2]),
      spentMicroUsd: Number(reply[3]),
      reservedMicroUsd: Number(reply[4]),
      resetsAt: resetOf(window, windows),
    };
    throw overBudgetError(refusal, input, { timeZone: this.timeZone, adminUserIds: policy.adminUserIds });
  }

  /**
   * Charges the actual cost once per request id, counts the call's `tokens` (when given) and frees its reservation,
   * in one script. Safe to call twice. The script is sent before this returns (see `budgetScripts`).
   */
  async settle(
    reservation: Reservation,
    actualMicroUsd: number,
    cacheStore?: CacheStore,
    tokens?: SettledTokens & { purpose?: string | undefined },
  ): Promise<SettleResult> {
    assertAmount(actualMicroUsd);
    const defaults = reservation.defaults ?? (await this.policy(reservation.workspaceId)).defaults;
    const keys = this.keys(
      reservation.workspaceId,
      reservation.channelId,
      reservation.windows,
      reservation.userId,
      defaults,
    );
    const reply = (await this.run(
      budgetScripts.settle,
      settleScriptCall(
        keys,
        {
          requestId: reservation.requestId,
          actualMicroUsd,
          cacheStore,
          tokens,
          userId: reservation.userId,
          windows: reservation.windows,
          purpose: tokens?.purpose,
        },
        defaults,
        this.warningPermille,
      ),
    )) as string[];
    this.contributor?.unhold(reservation.requestId);
    if (reply[0] === 'duplicate') return { charged: false, warnings: [] };
    return { charged: true, warnings: settleWarnings(reply, reservation) };
  }

  /** Frees a reservation without charging it. A no-op once the request was settled. */
  async release(reservation: Reservation): Promise<void> {
    this.contributor?.unhold(reservation.requestId); // even if Redis does not answer: never put back after a loss
    const keys = this.keys(reservation.workspaceId, reservation.channelId, reservation.windows);
    await this.run(budgetScripts.release, releaseScriptCall(keys, reservation.requestId));
  }

  /** Counts what a cache hit saved, for `/budget`. */
  async recordSavings(workspaceId: string, channelId: string, savedMicroUsd: number): Promise<void> {
    if (savedMicroUsd <= 0) return;
    const keys = this.keys(workspaceId, channelId, this.windowsAt());
    await this.guard(
      this.redis
        .multi()
        .incrby(keys.savedChannelDay, savedMicroUsd)
        .expire(keys.savedChannelDay, dayTtlSeconds)
        .incrby(keys.savedChannelMonth, savedMicroUsd)
        .expire(keys.savedChannelMonth, monthTtlSeconds)
        .incrby(keys.savedWorkspaceDay, savedMicroUsd)
        .expire(keys.savedWorkspaceDay, dayTtlSeconds)
        .exec(),
    );
  }

  /** Sets (or, with `null`, removes) a channel's cap override for one window. */
  async setChannelCap(
    workspaceId: string,
    channelId: string,
    window: 'daily' | 'monthly',
    capMicroUsd: number | null,
  ): Promise<void> {
    const keys = this.keys(workspaceId, channelId, this.windowsAt());
    if (capMicroUsd !== null) assertAmount(capMicroUsd);
    await this.run(budgetScripts.setCap, setCapScriptCall(keys, window, capMicroUsd));
    // The local export keeps the snapshot too: the last resort if Redis loses the config stream with everything else.
    const snapshot = this.spendExport && (await this.guard(readConfigRecord(this.redis, keys.config)));
    if (snapshot) await this.spendExport?.appendConfig(workspaceId, exportedConfig(snapshot));
  }

  /**
   * Spend, reservations, remaining, savings and reset time of each window for a channel, and of `userId`'s day in
   * the workspace when given and a per-user cap is configured (`budget-status.ts`).
   */
  async status(workspaceId: string, channelId: string, userId?: string): Promise<BudgetStatus> {
    // Figures Redis lost (settings included) are restored before they are shown, as a reservation would.
    const { seeded } = workspaceRecordKeys(this.keyPrefix, workspaceId);
    let sentinel = await this.guard(this.redis.get(seeded));
    if (sentinel === null) {
      await this.restorer.ensure(workspaceId);
      sentinel = await this.guard(this.redis.get(seeded));
    }
    const { defaults } = await this.policy(workspaceId);
    const windows = this.windowsAt();
    const keys = this.keys(workspaceId, channelId, windows, userId, defaults);
    const request = { workspaceId, channelId, timeZone: this.timeZone, keys, windows };
    const status = await readBudgetStatus(this.redis, request, defaults, (operation) => this.guard(operation));
    const restored = parseRestoreNote(sentinel);
    return restored && restored.source !== 'new' ? { ...status, restored } : status;
  }

  /** How the workspace's figures were last restored after Redis lost them (undefined: never, or a new workspace). */
  async restoreNote(workspaceId: string): Promise<RestoreNote | undefined> {
    const note = parseRestoreNote(
      await this.guard(this.redis.get(workspaceRecordKeys(this.keyPrefix, workspaceId).seeded)),
    );
    return note && note.source !== 'new' ? note : undefined;
  }

  /** Tokens counted per model in the channel's and the workspace's day and month (`token-usage.ts`). */
  async tokenUsage(workspaceId: string, channelId: string): Promise<TokenUsageReport> {
    const { tokens } = this.keys(workspaceId, channelId, this.windowsAt());
    return readTokenUsage(this.redis, { workspaceId, channelId, tokenKeys: tokens }, (operation) =>
      this.guard(operation),
    );
  }

  private async run(target: BudgetScript, call: ScriptCall): Promise<unknown> {
    return this.guard(sendScript(this.redis, target, call));
  }

  /** Any Redis error or a reply slower than `commandTimeoutMs` → `budget_unenforceable` (fail closed). */
  private guard<T>(operation: Promise<T>): Promise<T> {
    return guardBudgetOperation(operation, this.commandTimeoutMs);
  }
}

function assertAmount(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new DeskhandError('internal', `Budget amounts are non-negative integer micro-dollars, got ${value}`);
  }
}
