/**
 * `buildBudgetStore`: the one place the budget store's settings are read from the configuration — Redis key
 * prefix, time zone, default caps (USD → integer micro-dollars, rounded; the per-user cap only when configured),
 * reservation TTL and the admins named in refusals. The gateway (`createGateway`) and the no-model `/budget`
 * (`buildModelAccess`) both use it, so the store that enforces budgets and the one that reports them can never
 * disagree. With the workspace settings (`settings`), each workspace's caps and admins come from them instead.
 *
 * Every store reads the local ledger export (`DATA_DIR/ledger`) when it restores a workspace whose figures Redis lost
 * (`budget-restore.ts`) — also the read-only ones (App Home, `/budget` without a model): a store that could not see
 * the export would take a workspace whose spend record Redis lost for a new one and seed it empty. The gateway's
 * store replaces it with one that also writes caps snapshots (`reseedFromLedgerWhenMissing`).
 */
import type { RedisClient } from '../adapters/redis-client.ts';
import { type BudgetDefaults, BudgetStore } from '../llm/budget-store.ts';
import { LedgerExport, ledgerDirectory } from '../llm/ledger.ts';
import type { WorkspaceSettings, WorkspaceSettingsSource } from '../ports/workspace-settings.ts';
import type { Configuration } from './config.ts';

const micro = (usd: number) => Math.round(usd * 1_000_000);

/** A workspace's caps (USD) as the budget store's defaults (integer micro-dollars). */
export function capDefaults(caps: WorkspaceSettings['caps']): BudgetDefaults {
  return {
    channelDailyMicroUsd: micro(caps.channelDailyUsd),
    channelMonthlyMicroUsd: micro(caps.channelMonthlyUsd),
    workspaceDailyMicroUsd: micro(caps.workspaceDailyUsd),
    ...(caps.userDailyUsd !== undefined ? { userDailyMicroUsd: micro(caps.userDailyUsd) } : {}),
  };
}

export function buildBudgetStore(
  configuration: Configuration,
  redis: RedisClient,
  settings?: WorkspaceSettingsSource,
): BudgetStore {
  const store = new BudgetStore({
    redis,
    keyPrefix: configuration.redis.keyPrefix,
    timeZone: configuration.budgets.timeZone,
    defaults: {
      channelDailyMicroUsd: micro(configuration.budgets.channelDailyUsd),
      channelMonthlyMicroUsd: micro(configuration.budgets.channelMonthlyUsd),
      workspaceDailyMicroUsd: micro(configuration.budgets.workspaceDailyUsd),
      ...(configuration.budgets.userDailyUsd !== undefined
        ? { userDailyMicroUsd: micro(configuration.budgets.userDailyUsd) }
        : {}),
    },
    reservationTtlMs: configuration.budgets.reservationTtlSeconds * 1000,
    adminUserIds: configuration.people.adminUserIds,
    ...(settings
      ? {
          policyOf: async (workspaceId: string) => {
            const current = await settings.get(workspaceId);
            return { defaults: capDefaults(current.caps), adminUserIds: current.admins };
          },
        }
      : {}),
  });
  store.restoreFrom(new LedgerExport(ledgerDirectory(configuration.dataDir)));
  return store;
}
