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
 * - `settle` replaces the reservation by the actual cost, once per request id (a second settle is a no-op).
 * - `release` drops a reservation without charging (error, timeout, cancellation).
 * - A call reserving $0 (an unpriced model) is still refused once a window is used up, so a cap of $0 stops all calls.
 * - `settle` also counts the call's tokens per model and window, in the same script (`token-usage.ts`).
 * - A reservation carries an expiry (a ZSET scored by expiry, on the Redis clock): each reserve first purges
 *   expired ones, so a crashed owner cannot leave a phantom "budget exceeded" behind.
 * - Every key of a workspace carries the hash tag `{workspaceId}`, so each script touches one hash slot and runs
 *   on Redis Cluster.
 * - Any Redis failure or timeout becomes `budget_unenforceable`: the gateway refuses the call (fail closed).
 * - Counters lost while the app runs (a Redis restart without persistence, a failover) are noticed by the next
 *   reservation, not only at the next start: with a reseeder installed (`reseedWhenMissing`), `reserve` checks the
 *   workspace's seeded sentinel (written by the ledger rebuild, lost with the counters) in the same script; when it
 *   is gone the workspace is rebuilt from the ledger once (one rebuild in flight per workspace and process) and the
 *   reservation runs again. Settling never writes the sentinel, so a settle after the loss cannot hide it.
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
import { DeskhandError, isDeskhandError } from '../errors.ts';
import { guardBudgetOperation } from './budget-guard.ts';
import {
  type BudgetWindows,
  budgetKeys,
  budgetWindows,
  dayTtlSeconds,
  monthTtlSeconds,
  resetOf,
  WindowCalendar,
} from './budget-keys.ts';
import { overBudgetError } from './budget-refusals.ts';
import {
  type BudgetScript,
  budgetScripts,
  defineBudgetScripts,
  raiseCounterLua,
  releaseScriptCall,
  reserveScriptCall,
  type ScriptCall,
  sendScript,
  settleScriptCall,
  settleWarnings,
} from './budget-scripts.ts';
import { readBudgetStatus } from './budget-status.ts';
import type {
  BudgetDefaults,
  BudgetStatus,
  CacheHit,
  CacheStore,
  Reservation,
  ReserveInput,
  SettleResult,
} from './budget-types.ts';
import {
  type ModelTokens,
  parseTokenUsage,
  raiseTokenArguments,
  raiseTokenCountersLua,
  type SettledTokens,
  type TokenUsageReport,
  type TokenWindow,
  tokenWindows,
} from './token-usage.ts';

export { type BudgetWindow, type BudgetWindows, budgetWindows } from './budget-keys.ts';
export type {
  BudgetDefaults,
  BudgetStatus,
  BudgetWarning,
  CacheHit,
  CacheStore,
  Reservation,
  ReserveInput,
  SettleResult,
  WindowStatus,
} from './budget-types.ts';

export interface BudgetStoreOptions {
  redis: RedisClient;
  /** Prefix of every key (e.g. `dh:`); the workspace hash tag follows it. */
  keyPrefix: string;
  timeZone: string;
  defaults: BudgetDefaults;
  /** How long a reservation lives without being settled or released (its owner may have died). */
  reservationTtlMs: number;
  /** A Redis call slower than this counts as Redis being unavailable (fail closed). Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Who can raise a cap, named in refusals. */
  adminUserIds?: readonly string[];
  /**
   * A workspace's default caps and admins (its settings over the environment's); a failure refuses the call like
   * any other budget-store failure (`budget_unenforceable`, fail closed).
   */
  policyOf?: (workspaceId: string) => Promise<WorkspaceBudgetPolicy>;
  /** Share of a cap at which a one-time warning is raised (default 0.8). */
  warningRatio?: number;
  /** Clock for window boundaries (tests); reservation expiry uses the Redis clock. */
  now?: () => number;
}

/** What one workspace's calls are capped by and whom its refusals name. */
export interface WorkspaceBudgetPolicy {
  defaults: BudgetDefaults;
  adminUserIds: readonly string[];
}

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
  private reseeder: ((workspaceId: string) => Promise<void>) | undefined;
  private readonly reseeding = new Map<string, Promise<void>>();
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
    defineBudgetScripts(this.redis);
  }

  /** The workspace's default caps and admins (`policyOf`), or the store's own; a failure is `budget_unenforceable`. */
  async policy(workspaceId: string): Promise<WorkspaceBudgetPolicy> {
    if (!this.policyOfWorkspace) return { defaults: this.defaults, adminUserIds: this.adminUserIds };
    try {
      return await this.policyOfWorkspace(workspaceId);
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
   * Installs what rebuilds one workspace's counters from the ledger (and then calls `markSeeded`); from now on a
   * reservation that finds the workspace's counters lost runs it once before reserving again.
   */
  reseedWhenMissing(reseed: (workspaceId: string) => Promise<void>): void {
    this.reseeder = reseed;
  }

  /** Records that a workspace's counters hold the ledger's spend (after a rebuild). */
  async markSeeded(workspaceId: string): Promise<void> {
    const keys = this.keys(workspaceId, '_', this.windowsAt());
    await this.guard(this.redis.set(keys.seeded, '1', 'EX', monthTtlSeconds));
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
    const policy = await this.policy(input.workspaceId);
    const windows = this.windowsAt();
    const keys = this.keys(input.workspaceId, input.channelId, windows, input.userId, policy.defaults);
    const ttlMs = Math.max(this.reservationTtlMs, input.ttlMs ?? 0);
    const reseeder = this.reseeder;
    let reply = (await this.run(
      budgetScripts.reserve,
      reserveScriptCall(keys, input, ttlMs, policy.defaults, reseeder !== undefined),
    )) as string[];
    if (reply[0] === 'unseeded' && reseeder) {
      await this.reseedOnce(input.workspaceId, reseeder);
      reply = (await this.run(
        budgetScripts.reserve,
        reserveScriptCall(keys, input, ttlMs, policy.defaults),
      )) as string[];
    }
    if (reply[0] === 'hit') return { kind: 'cache_hit', value: reply[1] ?? '', savedMicroUsd: Number(reply[2] ?? 0) };
    // An earlier attempt of this same call holds the reservation: one that timed out while Redis failed over, still
    // queued in the client, ran on the new master before this retry (retryBudgetOutage reuses the request id).
    if (reply[0] === 'reserved' || (reply[0] === 'duplicate' && reply[1] === 'reserved')) {
      return {
        requestId: input.requestId,
        workspaceId: input.workspaceId,
        channelId: input.channelId,
        ...(input.userId ? { userId: input.userId } : {}),
        amountMicroUsd: input.amountMicroUsd,
        windows,
      };
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
    tokens?: SettledTokens,
  ): Promise<SettleResult> {
    assertAmount(actualMicroUsd);
    const { defaults } = await this.policy(reservation.workspaceId);
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
        { requestId: reservation.requestId, actualMicroUsd, cacheStore, tokens },
        defaults,
        this.warningPermille,
      ),
    )) as string[];
    if (reply[0] === 'duplicate') return { charged: false, warnings: [] };
    return { charged: true, warnings: settleWarnings(reply, reservation) };
  }

  /** Frees a reservation without charging it. A no-op once the request was settled. */
  async release(reservation: Reservation): Promise<void> {
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
    if (capMicroUsd === null) await this.guard(this.redis.hdel(keys.channelCaps, window));
    else {
      assertAmount(capMicroUsd);
      await this.guard(this.redis.hset(keys.channelCaps, window, String(capMicroUsd)));
    }
  }

  /**
   * Spend, reservations, remaining, savings and reset time of each window for a channel, and of `userId`'s day in
   * the workspace when given and a per-user cap is configured (`budget-status.ts`).
   */
  async status(workspaceId: string, channelId: string, userId?: string): Promise<BudgetStatus> {
    const { defaults } = await this.policy(workspaceId);
    const windows = this.windowsAt();
    const keys = this.keys(workspaceId, channelId, windows, userId, defaults);
    const request = { workspaceId, channelId, timeZone: this.timeZone, keys, windows };
    return readBudgetStatus(this.redis, request, defaults, (operation) => this.guard(operation));
  }

  /** Tokens counted per model in the channel's and the workspace's day and month (`token-usage.ts`). */
  async tokenUsage(workspaceId: string, channelId: string): Promise<TokenUsageReport> {
    const keys = this.keys(workspaceId, channelId, this.windowsAt());
    const pipeline = this.redis.pipeline();
    for (const key of keys.tokens) pipeline.hgetall(key);
    const results = (await this.guard(pipeline.exec())) ?? [];
    const hashes = results.map(([error, value]) => {
      if (error) throw new DeskhandError('budget_unenforceable', 'Could not read token counters', { cause: error });
      return value as Record<string, string>;
    });
    return parseTokenUsage(workspaceId, channelId, hashes);
  }

  /**
   * Raises settled-spend counters to at least the given totals (used by the ledger rebuild after Redis lost them).
   * Never lowers a counter: Redis may already hold spend the ledger has not seen.
   */
  async raiseSpent(
    workspaceId: string,
    channelId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    totals: { channelDay?: number; channelMonth?: number; workspaceDay?: number },
  ): Promise<void> {
    const keys = this.keys(workspaceId, channelId, windows);
    const pairs: Array<[string, number | undefined, number]> = [
      [keys.spentChannelDay, totals.channelDay, dayTtlSeconds],
      [keys.spentChannelMonth, totals.channelMonth, monthTtlSeconds],
      [keys.spentWorkspaceDay, totals.workspaceDay, dayTtlSeconds],
    ];
    for (const [key, total, ttl] of pairs) {
      if (total === undefined) continue;
      await this.guard(this.redis.eval(raiseCounterLua, 1, key, total, ttl));
    }
  }

  /** Raises a person's spent-today counter to at least `total` (the ledger rebuild); a no-op without a per-user cap. */
  async raiseUserSpent(
    workspaceId: string,
    userId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    total: number,
  ): Promise<void> {
    const { defaults } = await this.policy(workspaceId);
    const user = this.keys(workspaceId, '_', windows, userId, defaults).user;
    if (!user) return;
    await this.guard(this.redis.eval(raiseCounterLua, 1, user.spent, total, dayTtlSeconds));
  }

  /**
   * Raises token counters to at least the given per-model totals, per window (`tokenWindows` order: channel day and
   * month, workspace day and month; the ledger rebuild after Redis lost them). Never lowers a counter; an unpriced
   * reason is only set where none is recorded.
   */
  async raiseTokens(
    workspaceId: string,
    channelId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    totals: Partial<Record<TokenWindow, Iterable<ModelTokens>>>,
  ): Promise<void> {
    const keys = this.keys(workspaceId, channelId, windows);
    for (const [index, window] of tokenWindows.entries()) {
      const pairs = raiseTokenArguments(totals[window] ?? []);
      const key = keys.tokens[index];
      if (pairs.length === 0 || key === undefined) continue;
      const ttl = window.endsWith('monthly') ? monthTtlSeconds : dayTtlSeconds;
      await this.guard(this.redis.eval(raiseTokenCountersLua, 1, key, ttl, ...pairs));
    }
  }

  /** Rebuilds a workspace's counters, sharing a rebuild already in flight; a failure refuses (fail closed). */
  private async reseedOnce(workspaceId: string, reseed: (workspaceId: string) => Promise<void>): Promise<void> {
    let pending = this.reseeding.get(workspaceId);
    if (!pending) {
      pending = reseed(workspaceId).finally(() => this.reseeding.delete(workspaceId));
      this.reseeding.set(workspaceId, pending);
    }
    try {
      await pending;
    } catch (error) {
      if (isDeskhandError(error)) throw error;
      throw new DeskhandError('budget_unenforceable', `Could not reseed budget counters: ${(error as Error).message}`, {
        cause: error,
        retryable: true,
      });
    }
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
