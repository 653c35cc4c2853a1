/**
 * How a `BudgetStore` is configured (budget-store.ts): its Redis, key prefix, time zone, default caps, reservation
 * lifetime and the per-workspace policy it asks for caps and admins. Kept apart from the store so the store file
 * holds only the enforcement.
 */
import type { RedisClient } from '../adapters/redis-client.ts';
import type { BudgetDefaults } from './budget-types.ts';

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
  /** How long a reservation waits for another replica's restore of lost counters before it is refused (5 s). */
  restoreWaitMs?: number;
  /** Clock for window boundaries (tests); reservation expiry uses the Redis clock. */
  now?: () => number;
}

/** What one workspace's calls are capped by and whom its refusals name. */
export interface WorkspaceBudgetPolicy {
  defaults: BudgetDefaults;
  adminUserIds: readonly string[];
}
