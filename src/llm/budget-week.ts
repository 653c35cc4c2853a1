/**
 * `readWorkspaceDays`: a workspace's model spend, cache savings and cache hits summed over a list of days (the weekly
 * report's seven), and its channels with the most spend over those days — read in one pipeline from the day keys
 * the budget scripts write (`spent:ws:d:…`, `saved:ws:d:…`, `hits:ws:d:…`, `channels:d:…`, each kept 40 days).
 *
 * Guarantees: only the given workspace's keys are read (its id is checked before it becomes part of a key); at most
 * 31 days and 50 channels are asked for, so the work is bounded however the caller is driven; it never writes.
 * The channel totals are a union of at most 31 day sets, each holding only the channels that spent that day.
 */
import type { Redis } from 'ioredis';
import { DeskhandError } from '../errors.ts';
import { workspaceDayKeys } from './budget-keys.ts';

export interface WorkspaceDaysSpend {
  spentMicroUsd: number;
  savedMicroUsd: number;
  cacheHits: number;
  /** Most spend first (ties by channel id), at most the `topChannels` asked for. */
  topChannels: { channelId: string; spentMicroUsd: number }[];
  /** How many channels spent anything over the days. */
  channelCount: number;
}

const maxDays = 31;
const maxChannels = 50;

/** Sums a workspace's spend, savings and cache hits over `days` (`yyyy-LL-dd` in the budget time zone). */
export async function readWorkspaceDays(
  redis: Pick<Redis, 'pipeline'>,
  keyPrefix: string,
  workspaceId: string,
  days: readonly string[],
  topChannels: number,
): Promise<WorkspaceDaysSpend> {
  const chosen = days.slice(0, maxDays);
  if (chosen.length === 0)
    return { spentMicroUsd: 0, savedMicroUsd: 0, cacheHits: 0, topChannels: [], channelCount: 0 };
  const keys = chosen.map((day) => workspaceDayKeys(keyPrefix, workspaceId, day));
  const results = await redis
    .pipeline()
    .mget(...keys.map((key) => key.spent))
    .mget(...keys.map((key) => key.saved))
    .mget(...keys.map((key) => key.hits))
    .zunion(keys.length, ...keys.map((key) => key.channels), 'AGGREGATE', 'SUM', 'WITHSCORES')
    .exec();
  const value = (index: number): unknown => {
    const entry = results?.[index];
    if (!entry || entry[0]) {
      throw new DeskhandError('upstream_unavailable', 'Could not read the workspace spend for the report', {
        cause: entry?.[0],
      });
    }
    return entry[1];
  };
  const sum = (index: number) =>
    (value(index) as Array<string | null>).reduce((total, item) => total + (Number(item ?? 0) || 0), 0);
  const flat = value(3) as string[];
  const channels: { channelId: string; spentMicroUsd: number }[] = [];
  for (let index = 0; index + 1 < flat.length; index += 2) {
    channels.push({ channelId: flat[index] as string, spentMicroUsd: Number(flat[index + 1]) || 0 });
  }
  channels.sort(
    (left, right) => right.spentMicroUsd - left.spentMicroUsd || left.channelId.localeCompare(right.channelId),
  );
  const limit = Math.max(0, Math.min(maxChannels, Math.floor(topChannels)));
  return {
    spentMicroUsd: sum(0),
    savedMicroUsd: sum(1),
    cacheHits: sum(2),
    topChannels: channels.slice(0, limit),
    channelCount: channels.length,
  };
}
