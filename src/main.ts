/**
 * Composition root: the only place SDK clients are built. Loads the configuration (printing every problem and
 * exiting 1 when there are any), builds Redis, the Slack Web API client and Messenger, the model gateway and
 * the vector index, creates the app and starts it. SIGTERM/SIGINT stop it gracefully: stop accepting, finish
 * in-flight work, drain the messenger, close the stores.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { createApp } from './app.ts';
import { loadConfiguration } from './config.ts';
import { DeskhandError } from './errors.ts';
import { createGateway } from './llm/create-gateway.ts';
import { createLogger } from './observability/logger.ts';
import { createMetricsRegistry } from './observability/metrics.ts';
import { EmbeddedVectorIndex } from './ports/adapters/embedded-vector-index.ts';
import type { LanguageModelGateway } from './ports/language-model.ts';
import type { VectorIndex } from './ports/vector-index.ts';
import { budgetHandler } from './router/budget-handler.ts';
import type { CapabilityHandlers } from './router/types.ts';
import { boltLogger } from './slack/bolt-logger.ts';
import { createSlackWebClient, SlackMessenger } from './slack/outbound/slack-messenger.ts';

/** A gateway for when no model is configured: every call ends in a clear `configuration` outcome. */
function unconfiguredGateway(reason: string): LanguageModelGateway {
  const fail = async (): Promise<never> => {
    throw new DeskhandError('configuration', reason, {
      userMessage: 'No language model is configured for Deskhand yet. An admin must set OPENAI_API_KEY.',
    });
  };
  return { chat: fail, structured: fail, embed: fail, countChatTokens: () => 0 };
}

async function main(): Promise<void> {
  const loaded = loadConfiguration();
  if (!loaded.ok) {
    console.error('Deskhand cannot start. Fix these settings (see .env.example and the README):');
    for (const problem of loaded.problems) console.error(`  - ${problem}`);
    process.exit(1);
  }
  const configuration = loaded.configuration;
  const logger = createLogger({ level: configuration.logLevel });
  const registry = createMetricsRegistry({ collectDefaults: true });

  process.on('unhandledRejection', (reason) => logger.error({ err: reason, code: 'internal' }, 'unhandled rejection'));

  const redis = new Redis(configuration.redis.url, { maxRetriesPerRequest: 2, connectTimeout: 5_000 });
  redis.on('error', (error) => logger.warn({ err: error, code: 'upstream_unavailable' }, 'redis error'));

  const webClient = createSlackWebClient({
    token: configuration.slack.botToken,
    apiUrl: configuration.slack.apiUrl,
    timeoutMs: configuration.slack.requestTimeoutMs,
    clientLogger: boltLogger(logger),
  });
  const messenger = new SlackMessenger({ client: webClient, logger, metrics: registry });

  let closeLedger = async () => {};
  let gateway: LanguageModelGateway;
  const capabilities: Partial<CapabilityHandlers> = {};
  if (configuration.openai.apiKey) {
    const openai = new OpenAI({ apiKey: configuration.openai.apiKey, baseURL: configuration.openai.baseURL });
    const parts = createGateway(configuration, { openai, redis, metrics: registry, logger });
    gateway = parts.gateway;
    closeLedger = () => parts.ledger.close();
    capabilities.budget = budgetHandler({
      budgets: parts.budgets,
      adminUserIds: configuration.people.adminUserIds,
      logger,
    });
  } else {
    logger.warn({ code: 'configuration' }, 'OPENAI_API_KEY is not set: model features answer with a clear reason');
    gateway = unconfiguredGateway('OPENAI_API_KEY is not set');
  }

  if (configuration.qdrant.url) {
    // The Qdrant adapter lands with the document index; until then refuse rather than silently ignore the setting.
    console.error('QDRANT_URL is set, but this build has only the embedded index. Unset QDRANT_URL to use it.');
    process.exit(1);
  }
  const vectorIndex: VectorIndex = new EmbeddedVectorIndex({ directory: join(configuration.dataDir, 'index'), logger });
  await vectorIndex.ensureReady();

  const app = createApp({
    configuration,
    logger,
    redis,
    messenger,
    gateway,
    vectorIndex,
    registry,
    capabilities,
    resolveIdentity: async () => {
      const identity = await webClient.auth.test();
      return { botUserId: identity.user_id, botId: identity.bot_id };
    },
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ code: 'deadline_exceeded' }, 'shutdown took too long; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    try {
      await app.stop();
      await vectorIndex.close();
      await closeLedger();
      await redis.quit();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error, code: 'internal' }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  try {
    await app.start();
  } catch (error) {
    logger.fatal({ err: error, code: 'configuration' }, 'could not start (is SLACK_BOT_TOKEN valid and PORT free?)');
    await redis.quit().catch(() => {});
    process.exit(1);
  }
}

await main();
