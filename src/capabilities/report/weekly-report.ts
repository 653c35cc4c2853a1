/**
 * `gatherWeeklyReport`: the admins' weekly report of one workspace (issue 16, item 6) — the last seven days, today
 * included, in the budget time zone: answers by how they ended and how many came from the cache, model spend and the
 * channels that spent most, what the response cache saved and how many calls it served, the questions that found no
 * sources, the documents cited most, tickets drafted and filed by category, 👍/👎 and the reasons given for 👎.
 *
 * Guarantees: everything is read from the workspace's own per-day keys (the activity store and the budget store's
 * day counters), so no other workspace's figure can appear; each part is read independently, and a part that cannot
 * be read is reported as unavailable rather than failing the whole report. Who may see it is the caller's check
 * (`/budget report` allows the workspace's admins only).
 */
import type { WorkspaceDaysSpend } from '../../llm/budget-week.ts';
import type { ActivityStore, ActivityTotals } from './activity-store.ts';

/** Days in the report: today and the six before it. */
export const reportDays = 7;
/** Items each list shows before "…and N more". */
export const reportListLimit = 10;
/** Channels the spend part names. */
export const reportTopChannels = 5;

/** A workspace's spend, savings and cache hits over days (`readWorkspaceDays` bound to the Redis connection). */
export type WeekSpendReader = (
  workspaceId: string,
  days: readonly string[],
  topChannels: number,
) => Promise<WorkspaceDaysSpend>;

export interface WeeklyReportDependencies {
  activity: Pick<ActivityStore, 'totals' | 'lastDays'>;
  spend: WeekSpendReader;
  timeZone: string;
  now?: () => number;
}

/** A part that was read, or why it was not. */
export type ReportPart<T> = { ok: true; value: T } | { ok: false };

export interface WeeklyReport {
  workspaceId: string;
  /** Oldest and newest day (`yyyy-LL-dd`). */
  from: string;
  to: string;
  timeZone: string;
  activity: ReportPart<ActivityTotals>;
  spend: ReportPart<WorkspaceDaysSpend>;
}

/** Reads the report's parts; `onPartFailed` hears of a part that could not be read (for a log line). */
export async function gatherWeeklyReport(
  workspaceId: string,
  dependencies: WeeklyReportDependencies,
  onPartFailed?: (part: 'activity' | 'spend', error: unknown) => void,
): Promise<WeeklyReport> {
  const now = dependencies.now ?? Date.now;
  const days = dependencies.activity.lastDays(reportDays, now());
  const [activity, spend] = await Promise.all([
    settle(dependencies.activity.totals(workspaceId, days, reportListLimit), (error) =>
      onPartFailed?.('activity', error),
    ),
    settle(dependencies.spend(workspaceId, days, reportTopChannels), (error) => onPartFailed?.('spend', error)),
  ]);
  return {
    workspaceId,
    from: days.at(-1) ?? '',
    to: days[0] ?? '',
    timeZone: dependencies.timeZone,
    activity,
    spend,
  };
}

async function settle<T>(operation: Promise<T>, onError: (error: unknown) => void): Promise<ReportPart<T>> {
  try {
    return { ok: true, value: await operation };
  } catch (error) {
    onError(error);
    return { ok: false };
  }
}
