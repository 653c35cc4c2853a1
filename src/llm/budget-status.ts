/**
 * `readBudgetStatus`: what `/budget` shows for a channel, read in one pipeline — spend, in-flight reservations,
 * what is left, cache savings and reset time of the channel's day and month and the workspace's day, and, when a
 * person asks while a per-user cap is configured, that person's day in the workspace (issue 15).
 *
 * Kept beside the budget store (`BudgetStore.status` calls it) so the store's file stays its facade; it reads the
 * same keys the scripts write and never writes.
 */
import type { Redis } from 'ioredis';
import type { RedisClient } from '../adapters/redis-client.ts';
import { DeskhandError } from '../errors.ts';
import { type BudgetKeys, type BudgetWindows, budgetWindows, resetOf } from './budget-keys.ts';
import type { BudgetDefaults, BudgetStatus, WindowStatus } from './budget-types.ts';
import { parseTokenUsage, type TokenUsageReport } from './token-usage.ts';

/** Reads one channel's (and optionally one person's) budget windows; `guard` maps Redis failures (fail closed). */
export async function readBudgetStatus(
  redis: RedisClient,
  request: { workspaceId: string; channelId: string; timeZone: string; keys: BudgetKeys; windows: BudgetWindows },
  defaults: BudgetDefaults,
  guard: <T>(operation: Promise<T>) => Promise<T>,
): Promise<BudgetStatus> {
  const { keys, windows } = request;
  const user = defaults.userDailyMicroUsd === undefined ? undefined : keys.user;
  const reservedFields = user ? [...keys.reservedFields, user.reservedField] : keys.reservedFields;
  const results = await guard(
    redis
      .pipeline()
      .mget(keys.spentChannelDay, keys.spentChannelMonth, keys.spentWorkspaceDay, ...(user ? [user.spent] : []))
      .mget(keys.savedChannelDay, keys.savedChannelMonth, keys.savedWorkspaceDay)
      .hmget(keys.reserved, ...reservedFields)
      .hmget(keys.channelCaps, 'daily', 'monthly')
      .exec(),
  );
  const values = (index: number): Array<string | null> => {
    const entry = results?.[index];
    if (!entry || entry[0])
      throw new DeskhandError('budget_unenforceable', 'Could not read budget state', { cause: entry?.[0] });
    return entry[1] as Array<string | null>;
  };
  const [spent, saved, reserved, caps] = [values(0), values(1), values(2), values(3)];
  const capFor = [
    caps[0] ? Number(caps[0]) : defaults.channelDailyMicroUsd,
    caps[1] ? Number(caps[1]) : defaults.channelMonthlyMicroUsd,
    defaults.workspaceDailyMicroUsd,
    defaults.userDailyMicroUsd ?? 0,
  ];
  const shown = budgetWindows.slice(0, user ? 4 : 3);
  return {
    workspaceId: request.workspaceId,
    channelId: request.channelId,
    timeZone: request.timeZone,
    windows: shown.map((window, index): WindowStatus => {
      const capMicroUsd = capFor[index] ?? 0;
      const spentMicroUsd = Number(spent[index] ?? 0);
      const reservedMicroUsd = Number(reserved[index] ?? 0);
      return {
        window,
        capMicroUsd,
        spentMicroUsd,
        reservedMicroUsd,
        remainingMicroUsd: Math.max(0, capMicroUsd - spentMicroUsd - reservedMicroUsd),
        // Cache hits are counted per channel and workspace only: a person's line shows no savings.
        savedMicroUsd: Number(saved[index] ?? 0),
        resetsAt: resetOf(window, windows),
        overridden: index < 2 && Boolean(caps[index]),
      };
    }),
  };
}

/**
 * The workspace's channels with the most spend in `month` (most first): at most `limit` ids (≤ 50), and how many
 * channels spent anything that month. Read from the index the settle script keeps; never writes.
 */
export async function readChannelsBySpend(
  redis: Pick<Redis, 'zcard' | 'zrevrange'>,
  key: string,
  limit: number,
): Promise<{ channelIds: string[]; total: number }> {
  const count = Math.max(1, Math.min(50, Math.floor(limit)));
  const [total, channelIds] = await Promise.all([redis.zcard(key), redis.zrevrange(key, 0, count - 1)]);
  return { channelIds, total };
}

/** Tokens counted per model in the channel's and the workspace's day and month (`token-usage.ts`); never writes. */
export async function readTokenUsage(
  redis: RedisClient,
  request: { workspaceId: string; channelId: string; tokenKeys: readonly string[] },
  guard: <T>(operation: Promise<T>) => Promise<T>,
): Promise<TokenUsageReport> {
  const pipeline = redis.pipeline();
  for (const key of request.tokenKeys) pipeline.hgetall(key);
  const results = (await guard(pipeline.exec())) ?? [];
  const hashes = results.map(([error, value]) => {
    if (error) throw new DeskhandError('budget_unenforceable', 'Could not read token counters', { cause: error });
    return value as Record<string, string>;
  });
  return parseTokenUsage(request.workspaceId, request.channelId, hashes);
}
