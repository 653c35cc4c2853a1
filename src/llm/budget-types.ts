/**
 * The budget store's value types, shared by the store (`budget-store.ts`, which re-exports them), its scripts and
 * refusals, and their callers. Types only, no logic. All amounts are integer micro-dollars (µ$).
 */
import type { BudgetWindow, BudgetWindows } from './budget-keys.ts';

export interface BudgetDefaults {
  channelDailyMicroUsd: number;
  channelMonthlyMicroUsd: number;
  workspaceDailyMicroUsd: number;
  /** What one person may spend per day in a workspace (`USER_DAILY_CAP_USD`); unset: no per-user cap. */
  userDailyMicroUsd?: number | undefined;
}

export interface Reservation {
  requestId: string;
  workspaceId: string;
  channelId: string;
  /** Who the call is for, when known; their daily window is reserved too while a per-user cap is configured. */
  userId?: string | undefined;
  amountMicroUsd: number;
  windows: BudgetWindows;
}

/** A response-cache entry served by `reserveOrServeCached` instead of a reservation. */
export interface CacheHit {
  kind: 'cache_hit';
  /** The stored entry as written by the gateway (JSON text). */
  value: string;
  savedMicroUsd: number;
}

/** A reply to store in the response cache atomically with the settlement. */
export interface CacheStore {
  key: string;
  value: string;
  ttlSeconds: number;
}

export interface BudgetWarning {
  workspaceId: string;
  channelId: string;
  /** Set for a `user_daily` warning: the person who passed the warning share of their own cap. */
  userId?: string | undefined;
  window: BudgetWindow;
  spentMicroUsd: number;
  capMicroUsd: number;
  resetsAt: number;
}

export interface SettleResult {
  /** False when this request id was already settled (nothing was charged this time). */
  charged: boolean;
  /** Windows that passed the warning ratio with this settlement (each reported once per window). */
  warnings: BudgetWarning[];
}

export interface ReserveInput {
  requestId: string;
  workspaceId: string;
  channelId: string;
  /** Who the call is for, when known (`CallScope.userId`); without it no per-user cap applies. */
  userId?: string | undefined;
  amountMicroUsd: number;
  /** At least this long (e.g. until the call's deadline); the configured TTL is the minimum. */
  ttlMs?: number;
}

export interface WindowStatus {
  window: BudgetWindow;
  capMicroUsd: number;
  spentMicroUsd: number;
  reservedMicroUsd: number;
  remainingMicroUsd: number;
  savedMicroUsd: number;
  resetsAt: number;
  /** True when an admin set this channel's cap (false: the configured default; never for the workspace or a user). */
  overridden: boolean;
}

export interface BudgetStatus {
  workspaceId: string;
  channelId: string;
  timeZone: string;
  /** The channel's and workspace's windows, then `user_daily` when a user was asked about and a per-user cap is set. */
  windows: WindowStatus[];
}
