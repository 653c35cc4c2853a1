/**
 * `budgetKeys` and the budget windows: how the budget store names its Redis keys and which day and month a call
 * belongs to.
 *
 * - Every key of a workspace starts with `<prefix>{<workspaceId>}:budget:` — the hash tag puts all of a
 *   workspace's keys (and so each budget script) in one Redis Cluster slot.
 * - A person's daily window (`user_daily`, issue 15) is keyed by workspace and user, so it counts what one person
 *   spent today in that workspace across all its channels; its keys exist only for a call with a known user while a
 *   per-user cap is configured (`userId` given to `budgetKeys`).
 * - Workspace, channel and user ids are checked (`[A-Za-z0-9_.-]{1,64}`) before they become part of a key, so an id can
 *   never close the hash tag or reach another workspace's keys (`invalid_input`).
 * - Windows are calendar days (`yyyy-LL-dd`) and months (`yyyy-LL`) in the configured IANA time zone (luxon), with
 *   the instants they reset; a call's windows are fixed when it is reserved.
 * - Counters outlive their window: days are kept 40 days, months 400 days, request states 2 days.
 */
import { DateTime } from 'luxon';
import { DeskhandError } from '../errors.ts';
import { tokenKeys } from './token-usage.ts';

export type BudgetWindow = 'channel_daily' | 'channel_monthly' | 'workspace_daily' | 'user_daily';
/** In the order the scripts number them (1-based there): a refusal or warning names its window by this index. */
export const budgetWindows: readonly BudgetWindow[] = [
  'channel_daily',
  'channel_monthly',
  'workspace_daily',
  'user_daily',
];

/** Which windows a call falls in, fixed when it is reserved. */
export interface BudgetWindows {
  day: string;
  month: string;
  dayResetsAt: number;
  monthResetsAt: number;
}

export const dayTtlSeconds = 40 * 86_400;
export const monthTtlSeconds = 400 * 86_400;
export const requestStateTtlMs = 2 * 86_400_000;

const idPattern = /^[A-Za-z0-9_.-]{1,64}$/;

export type BudgetKeys = ReturnType<typeof budgetKeys>;

/** A person's daily window in a workspace: their spent counter, warning marker and reserved-hash field. */
export interface UserDayKeys {
  userId: string;
  spent: string;
  warn: string;
  reservedField: string;
}

/** Key names for one workspace/channel/window set, and the person's day when `userId` is given. */
export function budgetKeys(
  keyPrefix: string,
  workspaceId: string,
  channelId: string,
  windows: Pick<BudgetWindows, 'day' | 'month'>,
  userId?: string,
) {
  assertId(workspaceId, 'workspace');
  assertId(channelId, 'channel');
  const base = `${keyPrefix}{${workspaceId}}:budget:`;
  return {
    user: userId === undefined ? undefined : userDayKeys(base, userId, windows.day),
    reservations: `${base}res`,
    reservationRecords: `${base}resinfo`,
    reserved: `${base}reserved`,
    spentChannelDay: `${base}spent:ch:${channelId}:d:${windows.day}`,
    spentChannelMonth: `${base}spent:ch:${channelId}:m:${windows.month}`,
    spentWorkspaceDay: `${base}spent:ws:d:${windows.day}`,
    savedChannelDay: `${base}saved:ch:${channelId}:d:${windows.day}`,
    savedChannelMonth: `${base}saved:ch:${channelId}:m:${windows.month}`,
    savedWorkspaceDay: `${base}saved:ws:d:${windows.day}`,
    /** How many model calls the response cache served in the workspace that day (the weekly report's cache hits). */
    hitsWorkspaceDay: `${base}hits:ws:d:${windows.day}`,
    channelCaps: `${base}cap:ch:${channelId}`,
    channelId,
    /** The workspace's channels with spend this month, scored by that spend (what the App Home lists). */
    channelsByMonthSpend: channelsByMonthSpendKey(keyPrefix, workspaceId, windows.month),
    /** The workspace's channels with spend that day, scored by it (what the weekly report sums over seven days). */
    channelsByDaySpend: channelsByDaySpendKey(keyPrefix, workspaceId, windows.day),
    ...workspaceRecordKeys(keyPrefix, workspaceId),
    warnChannelDay: `${base}warn:ch:${channelId}:d:${windows.day}`,
    warnChannelMonth: `${base}warn:ch:${channelId}:m:${windows.month}`,
    warnWorkspaceDay: `${base}warn:ws:d:${windows.day}`,
    tokens: tokenKeys(base, channelId, windows),
    reservedFields: [`ch:${channelId}:d:${windows.day}`, `ch:${channelId}:m:${windows.month}`, `ws:d:${windows.day}`],
    request: (requestId: string) => `${base}req:${requestId}`,
  };
}

/**
 * The workspace's spend record and restore state (`spend-record.ts`, `budget-restore.ts`), all in its hash slot:
 * - `seeded`: the sentinel written together with the restored counters (JSON: when, from what, caps state); gone
 *   with the counters when Redis loses them, which is how a reservation notices the loss;
 * - `record`: the spend stream; `config`: the caps/settings stream; `rebuilding`: the lock of the one rebuilder;
 * - `contributed`: which replicas handed their local export back since Redis last lost it (`spend-contribution.ts`).
 */
export function workspaceRecordKeys(keyPrefix: string, workspaceId: string) {
  assertId(workspaceId, 'workspace');
  const base = `${keyPrefix}{${workspaceId}}:budget:`;
  return {
    seeded: `${base}seeded`,
    record: `${base}record`,
    config: `${base}config`,
    rebuilding: `${base}rebuilding`,
    contributed: `${base}contributed`,
  };
}

/** The workspace settings hash (`SettingsStore`), which a restore writes back when Redis lost it. */
export function workspaceSettingsKey(keyPrefix: string, workspaceId: string): string {
  assertId(workspaceId, 'workspace');
  return `${keyPrefix}{${workspaceId}}:settings`;
}

/** The workspace's channels with spend in `month`, scored by it (written by the settle script). */
export function channelsByMonthSpendKey(keyPrefix: string, workspaceId: string, month: string): string {
  assertId(workspaceId, 'workspace');
  return `${keyPrefix}{${workspaceId}}:budget:channels:m:${month}`;
}

/** The workspace's channels with spend on `day`, scored by it (written by the settle script, kept 40 days). */
export function channelsByDaySpendKey(keyPrefix: string, workspaceId: string, day: string): string {
  assertId(workspaceId, 'workspace');
  return `${keyPrefix}{${workspaceId}}:budget:channels:d:${day}`;
}

/** The workspace's spent, saved and cache-hit counters of `day` (what the weekly report sums over seven days). */
export function workspaceDayKeys(keyPrefix: string, workspaceId: string, day: string) {
  assertId(workspaceId, 'workspace');
  const base = `${keyPrefix}{${workspaceId}}:budget:`;
  return {
    spent: `${base}spent:ws:d:${day}`,
    saved: `${base}saved:ws:d:${day}`,
    hits: `${base}hits:ws:d:${day}`,
    channels: channelsByDaySpendKey(keyPrefix, workspaceId, day),
  };
}

function userDayKeys(base: string, userId: string, day: string): UserDayKeys {
  assertId(userId, 'user');
  return {
    userId,
    spent: `${base}spent:u:${userId}:d:${day}`,
    warn: `${base}warn:u:${userId}:d:${day}`,
    reservedField: `u:${userId}:d:${day}`,
  };
}

/** When a window resets: the month for `channel_monthly`, the day for the daily windows. */
export function resetOf(window: BudgetWindow, windows: BudgetWindows): number {
  return window === 'channel_monthly' ? windows.monthResetsAt : windows.dayResetsAt;
}

/** The windows of an instant in one time zone, remembering the current day's (computed once per day). */
export class WindowCalendar {
  readonly timeZone: string;
  private windowCache: { from: number; windows: BudgetWindows } | undefined;

  constructor(timeZone: string) {
    this.timeZone = timeZone;
  }

  /** The day and month an instant belongs to, and when each resets, in the calendar's time zone. */
  windowsAt(at: number): BudgetWindows {
    const cached = this.windowCache;
    if (cached && at >= cached.from && at < cached.windows.dayResetsAt) return cached.windows;
    const local = DateTime.fromMillis(at, { zone: this.timeZone });
    const windows = {
      day: local.toFormat('yyyy-LL-dd'),
      month: local.toFormat('yyyy-LL'),
      dayResetsAt: local.startOf('day').plus({ days: 1 }).toMillis(),
      monthResetsAt: local.startOf('month').plus({ months: 1 }).toMillis(),
    };
    // A day never spans two months, so the windows hold from the start of this day until it ends.
    this.windowCache = { from: local.startOf('day').toMillis(), windows };
    return windows;
  }
}

/** Whether an id may become part of a budget key (a ledger rebuild skips a person whose id may not). */
export function isBudgetId(value: string): boolean {
  return idPattern.test(value);
}

function assertId(value: string, what: string): void {
  if (!isBudgetId(value)) {
    throw new DeskhandError('invalid_input', `Invalid ${what} id for a budget key: ${JSON.stringify(value)}`);
  }
}
