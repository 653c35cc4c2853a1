/**
 * Wires the gateway from configuration: what `src/main.ts` calls after building the `openai` client (with
 * `baseURL` and `apiKey`) and the Redis client. Kept here so the composition root stays a list of one-liners.
 */

import type OpenAI from 'openai';
import type { Logger } from 'pino';
import type { RedisClient } from '../adapters/redis-client.ts';
import type { BudgetStore, BudgetWarning } from '../llm/budget-store.ts';
import { GatewayEmbedder, OpenAIGateway } from '../llm/gateway.ts';
import { Ledger, rebuildCounters } from '../llm/ledger.ts';
import { PriceTable } from '../llm/prices.ts';
import { ResponseCache } from '../llm/response-cache.ts';
import type { Registry } from '../observability/metrics.ts';
import type { WorkspaceSettingsSource } from '../ports/workspace-settings.ts';
import { buildBudgetStore } from './build-budget-store.ts';
import type { Configuration } from './config.ts';

export interface GatewayParts {
  gateway: OpenAIGateway;
  embedder: GatewayEmbedder;
  budgets: BudgetStore;
  cache: ResponseCache;
  ledger: Ledger;
  prices: PriceTable;
  /**
   * Reseeds today's and this month's spend and token counters in Redis from every ledger file under `DATA_DIR/ledger`
   * (only ever raising them). Call at start-up, and after Redis lost its data.
   */
  rebuildCounters: () => ReturnType<typeof rebuildCounters>;
  /** Waits for settlements still in flight, then closes the ledger. Call before closing the Redis connection. */
  close: () => Promise<void>;
}

/**
 * Builds the gateway and its stores. Throws `configuration` when MODEL_PRICES_JSON is invalid or a configured model
 * has no price and the unknown-model policy refuses it (OpenAI's API or another hosted service without
 * `UNKNOWN_MODEL_PRICE`). Logs a warning for each configured model that will be charged $0 without a price (a local
 * server).
 */
export function createGateway(
  configuration: Configuration,
  dependencies: {
    openai: OpenAI;
    redis: RedisClient;
    metrics: Registry;
    logger: Logger;
    onBudgetWarning?: (warning: BudgetWarning) => void | Promise<void>;
    /** Each workspace's caps, admins and chat model; without it, the configuration's for every workspace. */
    settings?: WorkspaceSettingsSource;
  },
): GatewayParts {
  const prices = new PriceTable({
    overridesJson: configuration.openai.pricesJson,
    unknownModels: configuration.openai.unknownModels,
  });
  const { model, classifierModel, embeddingModel } = configuration.openai;
  for (const configured of new Set([model, classifierModel, embeddingModel])) {
    const unpriced = prices.resolve(configured).unpriced;
    if (unpriced) {
      dependencies.logger.warn(
        { code: 'configuration', model: configured, pricing: 'unpriced', unpriced },
        `model ${configured} is unpriced (${unpriced}): its spend shows $0; budgets count its tokens`,
      );
    }
  }
  const { settings } = dependencies;
  const budgets = buildBudgetStore(configuration, dependencies.redis, settings);
  const cache = new ResponseCache({
    redis: dependencies.redis,
    keyPrefix: configuration.redis.keyPrefix,
    ttlSeconds: configuration.cache.ttlSeconds,
    timeSensitiveTtlSeconds: configuration.cache.timeSensitiveTtlSeconds,
  });
  const ledger = new Ledger(configuration.dataDir);
  const gateway = new OpenAIGateway({
    client: dependencies.openai,
    budgets,
    cache,
    ledger,
    prices,
    metrics: dependencies.metrics,
    logger: dependencies.logger.child({ component: 'llm-gateway' }),
    chatModel: configuration.openai.model,
    ...(settings ? { chatModelOf: async (workspaceId: string) => (await settings.get(workspaceId)).model } : {}),
    // A workspace's own prices (its settings) over MODEL_PRICES_JSON for its calls' reservations and settlements.
    ...(settings ? { workspacePrices: async (workspaceId: string) => (await settings.get(workspaceId)).prices } : {}),
    embeddingModel: configuration.openai.embeddingModel,
    embeddingDimensions: configuration.openai.embeddingDimensions,
    timeoutMs: configuration.openai.timeoutMs,
    fallbackEncoding: configuration.openai.fallbackEncoding,
    redact: configuration.openai.redact,
    ...(dependencies.onBudgetWarning ? { onBudgetWarning: dependencies.onBudgetWarning } : {}),
  });
  const embedder = new GatewayEmbedder(
    gateway,
    configuration.openai.embeddingModel,
    configuration.openai.embeddingDimensions,
  );
  return {
    gateway,
    embedder,
    budgets,
    cache,
    ledger,
    prices,
    rebuildCounters: () => rebuildCounters(budgets, ledger.directory),
    async close() {
      await gateway.flush();
      await ledger.close();
    },
  };
}
