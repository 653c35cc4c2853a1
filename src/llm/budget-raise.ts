/**
 * Raising counters to totals rebuilt from a record (the ledger export at start-up, the spend record on a restore):
 * a counter is only ever raised, never lowered — Redis may already hold settlements the record being read has not
 * seen — and a raised counter gets the lifetime a settled one would have.
 */
import type { RedisClient } from '../adapters/redis-client.ts';
import { type BudgetKeys, type BudgetWindows, dayTtlSeconds, monthTtlSeconds } from './budget-keys.ts';
import { raiseCounterLua } from './budget-scripts.ts';
import type { BudgetDefaults } from './budget-types.ts';
import {
  type ModelTokens,
  raiseTokenArguments,
  raiseTokenCountersLua,
  type TokenWindow,
  tokenWindows,
} from './token-usage.ts';

type Guard = <T>(operation: Promise<T>) => Promise<T>;

/** Raises the channel's day and month and the workspace's day spent counters to at least the given totals. */
export async function raiseSpentCounters(
  redis: RedisClient,
  guard: Guard,
  keys: BudgetKeys,
  totals: { channelDay?: number; channelMonth?: number; workspaceDay?: number },
): Promise<void> {
  const pairs: Array<[string, number | undefined, number]> = [
    [keys.spentChannelDay, totals.channelDay, dayTtlSeconds],
    [keys.spentChannelMonth, totals.channelMonth, monthTtlSeconds],
    [keys.spentWorkspaceDay, totals.workspaceDay, dayTtlSeconds],
  ];
  for (const [key, total, ttl] of pairs) {
    if (total === undefined) continue;
    await guard(redis.eval(raiseCounterLua, 1, key, total, ttl));
  }
}

/** Raises one counter (e.g. a person's spent today) to at least `total`, with a day's lifetime. */
export async function raiseDayCounter(redis: RedisClient, guard: Guard, key: string, total: number): Promise<void> {
  await guard(redis.eval(raiseCounterLua, 1, key, total, dayTtlSeconds));
}

/**
 * Raises token counters to at least the given per-model totals, per window (`tokenWindows` order: channel day and
 * month, workspace day and month). An unpriced reason is only set where none is recorded.
 */
export async function raiseTokenCounters(
  redis: RedisClient,
  guard: Guard,
  keys: BudgetKeys,
  totals: Partial<Record<TokenWindow, Iterable<ModelTokens>>>,
): Promise<void> {
  for (const [index, window] of tokenWindows.entries()) {
    const pairs = raiseTokenArguments(totals[window] ?? []);
    const key = keys.tokens[index];
    if (pairs.length === 0 || key === undefined) continue;
    const ttl = window.endsWith('monthly') ? monthTtlSeconds : dayTtlSeconds;
    await guard(redis.eval(raiseTokenCountersLua, 1, key, ttl, ...pairs));
  }
}

/** What `CounterRaise` needs of the budget store: key names and a workspace's caps (for the per-user window). */
interface KeySource {
  keys(
    workspaceId: string,
    channelId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    userId?: string,
    defaults?: BudgetDefaults,
  ): BudgetKeys;
  policy(workspaceId: string): Promise<{ defaults: BudgetDefaults }>;
}

/** The ledger rebuild's view of the budget store (`BudgetStore.raise`): counters named by workspace and channel. */
export class CounterRaise {
  readonly #redis: RedisClient;
  readonly #guard: Guard;
  readonly #store: KeySource;

  constructor(redis: RedisClient, guard: Guard, store: KeySource) {
    this.#redis = redis;
    this.#guard = guard;
    this.#store = store;
  }

  /** Raises a channel's day and month and its workspace's day to at least the given totals. */
  async spent(
    workspaceId: string,
    channelId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    totals: { channelDay?: number; channelMonth?: number; workspaceDay?: number },
  ): Promise<void> {
    await raiseSpentCounters(this.#redis, this.#guard, this.#store.keys(workspaceId, channelId, windows), totals);
  }

  /** Raises a person's spent-today counter to at least `total`; a no-op without a per-user cap. */
  async userSpent(
    workspaceId: string,
    userId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    total: number,
  ): Promise<void> {
    const { defaults } = await this.#store.policy(workspaceId);
    const user = this.#store.keys(workspaceId, '_', windows, userId, defaults).user;
    if (user) await raiseDayCounter(this.#redis, this.#guard, user.spent, total);
  }

  /** Raises token counters to at least the given per-model totals, per window (`tokenWindows` order). */
  async tokens(
    workspaceId: string,
    channelId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    totals: Partial<Record<TokenWindow, Iterable<ModelTokens>>>,
  ): Promise<void> {
    await raiseTokenCounters(this.#redis, this.#guard, this.#store.keys(workspaceId, channelId, windows), totals);
  }
}
