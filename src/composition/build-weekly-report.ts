/**
 * The admins' weekly report for composition: `buildActivityStore` (the per-day activity the answers and tickets
 * stores record through src/composition/report-recording.ts) and `buildWeeklyReport`, what `/budget report` calls for
 * an admin — the report gathered from the activity store and the budget store's day counters, as a Block Kit
 * message. Days are the budget's (`TIME_ZONE`), so the spend and the activity of a day are the same day.
 */

import type { RedisClient } from '../adapters/redis-client.ts';
import { ActivityStore } from '../capabilities/report/activity-store.ts';
import { weeklyReportMessage } from '../capabilities/report/report-view.ts';
import { gatherWeeklyReport } from '../capabilities/report/weekly-report.ts';
import { readWorkspaceDays } from '../llm/budget-week.ts';
import type { Logger } from '../observability/logger.ts';
import type { Block } from '../ports/messenger.ts';
import type { Configuration } from './config.ts';

type ReportConfiguration = Pick<Configuration, 'redis' | 'budgets'>;

/** The activity store over `redis`, with the configuration's key prefix and budget time zone. */
export function buildActivityStore(
  configuration: ReportConfiguration,
  redis: ConstructorParameters<typeof ActivityStore>[0],
  now?: () => number,
): ActivityStore {
  return new ActivityStore(redis, {
    keyPrefix: configuration.redis.keyPrefix,
    timeZone: configuration.budgets.timeZone,
    ...(now ? { now } : {}),
  });
}

/** The weekly report of a workspace as a message; a part that cannot be read is logged and shown as unavailable. */
export function buildWeeklyReport(
  configuration: ReportConfiguration,
  dependencies: { redis: RedisClient; logger?: Logger; now?: () => number },
): (workspaceId: string) => Promise<{ text: string; blocks: Block[] }> {
  const { redis, logger, now } = dependencies;
  const activity = buildActivityStore(configuration, redis, now);
  const keyPrefix = configuration.redis.keyPrefix;
  return async (workspaceId) => {
    const report = await gatherWeeklyReport(
      workspaceId,
      {
        activity,
        spend: (id, days, top) => readWorkspaceDays(redis, keyPrefix, id, days, top),
        timeZone: configuration.budgets.timeZone,
        ...(now ? { now } : {}),
      },
      (part, error) => logger?.warn({ err: error, workspaceId, part }, 'weekly report: a part could not be read'),
    );
    return weeklyReportMessage(report);
  };
}
