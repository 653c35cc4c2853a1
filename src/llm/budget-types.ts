/**
 * The budget store's value types, shared by the store (`budget-store.ts`, which re-exports them), its scripts and
 * refusals, and their callers. Types only, no logic. All amounts are integer micro-dollars (µ$).
 */
import type { BudgetWindow, BudgetWindows } from './budget-keys.ts';
import type { RecordedSpend } from './spend-totals.ts';

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
  /**
   * The caps the reservation was admitted under: its settlement uses them (which windows to charge, when to warn)
   * rather than read the settings again, so a settlement never fails because the settings cannot be read.
   */
  defaults?: BudgetDefaults | undefined;
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
  /** Set when Redis had lost the workspace's figures and they were restored (`/budget` says when, from what). */
  restored?: RestoreNote | undefined;
}

/** How a workspace's counters were last restored, as its seeded sentinel records it (`budget-restore.ts`). */
export interface RestoreNote {
  /** When the counters were written (ms, the replica's clock). */
  at: number;
  /**
   * `new`: nothing was recorded anywhere (a workspace new to this Redis); `record`: the spend record in Redis;
   * `export`: a replica's local ledger export (Redis had lost the record too); `record+export`: both.
   */
  source: 'new' | 'record' | 'export' | 'record+export';
  /** Distinct settled calls the counters were rebuilt from. */
  entries: number;
  /**
   * `restored`: caps and settings came back from the config record; `none`: none were ever recorded (defaults);
   * `unknown`: spend was recorded but no caps — reservations are refused until an admin sets them (`reset`).
   */
  caps: 'restored' | 'none' | 'unknown' | 'reset';
  /**
   * Live replicas that had not contributed their export when the restorer stopped waiting for them
   * (`spend-contribution.ts`): their calls are counted when they contribute, after the seed. Absent: none.
   */
  missingReplicas?: number;
}

/** A config snapshot as a local export line holds it (see `spend-record.ts` for the fields). */
export interface ExportedConfig {
  at: string;
  caps: Record<string, { daily?: number; monthly?: number }>;
  settings?: { json: string; version: number };
}

/**
 * The local, per-replica export of the spend record (the ledger's JSONL files): the last resort when Redis lost the
 * record itself. Only what this replica (or, with a shared `DATA_DIR`, every replica) wrote is in it.
 */
export interface SpendExport {
  /** One workspace's exported calls and its newest exported config snapshot. */
  read(workspaceId: string): Promise<{
    entries: Array<RecordedSpend & { purpose?: string | undefined }>;
    config?: ExportedConfig | undefined;
  }>;
  /** Appends a config snapshot (resolves once it is on disk). */
  appendConfig(workspaceId: string, config: ExportedConfig): Promise<void>;
  /** Resolves once every line queued so far is on disk (read before contributing, `spend-contribution.ts`). */
  sync?(): Promise<void>;
  /** The workspaces with exported calls in `month` (cheap to call every second: files are read incrementally). */
  workspaceIds?(month: string): Promise<string[]>;
}
