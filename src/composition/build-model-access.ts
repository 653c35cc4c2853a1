/**
 * Model access for the work side: the language-model gateway, the embedder, the per-request cost estimate and the
 * `/budget` handler, built from the configuration.
 *
 * - With `OPENAI_API_KEY` set: the OpenAI client (with `baseURL`), the gateway and its stores (`createGateway`),
 *   budget warnings posted once per window to the channel, and this replica's ledger export handed back to Redis
 *   before any handler exists — every call of the month the spend record lacks is counted once (a failure is
 *   logged as `budget_unenforceable`, not fatal, and tried again every second). While the app runs the replica
 *   keeps contributing (`coordinateRestores`, logged as `budget_spend_contributed`), and a workspace whose counters
 *   Redis lost is restored by its next reservation from the union of every live replica's export
 *   (`reseedFromLedgerWhenMissing`, logged as `budget_counters_reseeded`). The start-up contribution replaces the
 *   old raise of the counters from the ledger, which could count a call the record lacked in the counters only —
 *   and then a second time when the call was contributed.
 * - Without it: no OpenAI client is ever constructed and no request reaches a model server. The gateway is
 *   `createNoModelGateway` (refuses and counts any call), there is no embedder nor cost estimate, and `/budget`
 *   still shows the caps and any earlier spend from Redis.
 */

import OpenAI from 'openai';
import type { RedisClient } from '../adapters/redis-client.ts';
import { budgetWarningText } from '../capabilities/budget/budget-warning.ts';
import { reseedFromLedgerWhenMissing } from '../llm/ledger.ts';
import { createNoModelGateway } from '../llm/no-model-gateway.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { CapabilityHandler } from '../ports/capability.ts';
import type { Embedder } from '../ports/embedder.ts';
import type { ChatRequest, LanguageModelGateway } from '../ports/language-model.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { WorkspaceSettingsSource } from '../ports/workspace-settings.ts';
import { budgetHandler } from '../router/budget-handler.ts';
import { buildBudgetStore } from './build-budget-store.ts';
import { buildWeeklyReport } from './build-weekly-report.ts';
import type { Configuration } from './config.ts';
import { createGateway } from './create-gateway.ts';

export interface ModelAccess {
  /** Whether `OPENAI_API_KEY` is set: every capability that needs a model checks this. */
  modelConfigured: boolean;
  gateway: LanguageModelGateway;
  /** Only with a model: without one, retrieval is sparse and ingestion stores no vectors. */
  embedder?: Embedder;
  /** Only with a model: lets the agent check its per-run cap before a call, not only after it. */
  estimateChatCostMicroUsd?: (request: ChatRequest) => number;
  /** `/budget`. */
  budget: CapabilityHandler;
  /** Waits for settlements in flight and closes the ledger (nothing to do without a model). */
  close: () => Promise<void>;
}

interface ModelAccessDependencies {
  redis: RedisClient;
  /** Each workspace's settings (caps, admins named in refusals, model); without it, the configuration's values. */
  settings?: WorkspaceSettingsSource;
  messenger: Messenger;
  logger: Logger;
  registry: Registry;
}

export async function buildModelAccess(
  configuration: Configuration,
  dependencies: ModelAccessDependencies,
): Promise<ModelAccess> {
  return configuration.openai.apiKey
    ? buildWithModel(configuration, configuration.openai.apiKey, dependencies)
    : buildWithoutModel(configuration, dependencies);
}

async function buildWithModel(
  configuration: Configuration,
  apiKey: string,
  { redis, messenger, logger, registry, settings }: ModelAccessDependencies,
): Promise<ModelAccess> {
  const openai = new OpenAI({ apiKey, baseURL: configuration.openai.baseURL });
  const adminsOf = adminsFrom(configuration, settings);
  const parts = createGateway(configuration, {
    openai,
    redis,
    metrics: registry,
    logger,
    ...(settings ? { settings } : {}),
    // Each window's 80 % crossing is reported once by the budget store; the channel hears it once, and a person's
    // own daily window is told to that person only (ephemeral, in the channel of the call that crossed it).
    onBudgetWarning: async (warning) => {
      logger.info({ code: 'budget_warning', ...warning }, 'budget warning');
      const text = budgetWarningText(warning, {
        timeZone: configuration.budgets.timeZone,
        adminUserIds: await adminsOf(warning.workspaceId),
      });
      if (warning.userId !== undefined) {
        await messenger.postEphemeral({ channel: warning.channelId, user: warning.userId, text });
      } else await messenger.post({ channel: warning.channelId, text });
    },
  });
  const chatModel = configuration.openai.model;
  const estimateChatCostMicroUsd = (request: ChatRequest) =>
    parts.prices.cost(request.model ?? chatModel, {
      inputTokens: request.inputTokens ?? parts.gateway.countChatTokens(request),
      outputTokens: request.maxOutputTokens,
    });
  // A workspace new to this Redis (nothing in the ledger) is seeded quietly; lost spend found again is a warning.
  reseedFromLedgerWhenMissing(
    parts.budgets,
    parts.ledger,
    (workspaceId, rebuilt) =>
      logger[rebuilt.caps === 'unknown' ? 'error' : rebuilt.entries > 0 ? 'warn' : 'info'](
        { code: 'budget_counters_reseeded', workspaceId, ...rebuilt },
        rebuilt.caps === 'unknown'
          ? 'budget caps were lost in Redis and not recorded anywhere: calls are refused until an admin sets them'
          : 'budget counters were missing in Redis; restored the workspace from the spend record',
      ),
    (workspaceId, error) =>
      logger.warn(
        { err: error, code: 'budget_unenforceable', workspaceId },
        'could not export the caps and settings snapshot to the ledger',
      ),
  );
  const contributing = await parts.budgets.coordinateRestores({
    onContributed: (workspaceId, added) =>
      logger.warn(
        { code: 'budget_spend_contributed', workspaceId, added },
        'calls in this replica’s ledger were missing from the spend record; counted them now',
      ),
    onError: (error) =>
      logger.warn(
        { err: error, code: 'budget_unenforceable' },
        'could not hand this replica’s ledger back to the spend record; trying again every second',
      ),
  });
  return {
    modelConfigured: true,
    gateway: parts.gateway,
    embedder: parts.embedder,
    estimateChatCostMicroUsd,
    budget: budgetHandler({
      budgets: parts.budgets,
      adminUserIds: configuration.people.adminUserIds,
      adminsOf,
      weeklyReport: buildWeeklyReport(configuration, { redis, logger }),
      logger,
    }),
    close: async () => {
      contributing.stop();
      await parts.close();
    },
  };
}

/** Who administers a workspace: its settings' admins, or `ADMIN_USER_IDS` without settings. */
function adminsFrom(
  configuration: Configuration,
  settings: WorkspaceSettingsSource | undefined,
): (workspaceId: string) => Promise<readonly string[]> {
  return async (workspaceId) =>
    settings ? (await settings.get(workspaceId)).admins : configuration.people.adminUserIds;
}

function buildWithoutModel(
  configuration: Configuration,
  { redis, logger, registry, settings }: ModelAccessDependencies,
): ModelAccess {
  logger.warn(
    { code: 'configuration' },
    'OPENAI_API_KEY is not set: no model calls; answers quote passages, tickets use rules, /agent is off',
  );
  return {
    modelConfigured: false,
    gateway: createNoModelGateway({ logger, registry }),
    // Nothing is spent without a model, but `/budget` still shows the caps and any earlier spend: the same store
    // (keys, caps, time zone) the gateway would use, without the client, the price table or the ledger.
    budget: budgetHandler({
      budgets: buildBudgetStore(configuration, redis, settings),
      adminUserIds: configuration.people.adminUserIds,
      adminsOf: adminsFrom(configuration, settings),
      weeklyReport: buildWeeklyReport(configuration, { redis, logger }),
      logger,
    }),
    close: async () => {},
  };
}
