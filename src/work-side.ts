/**
 * Builds the work side — everything after the ack: its own Redis connection, the Slack Messenger, the model
 * gateway, the vector index and the capabilities — from the configuration. Used by `src/main.ts` on its own
 * event loop, or inside the worker thread (src/workers/work-thread.ts) so that model, index and tokenizer work
 * never competes with acknowledging Slack.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import type { Configuration } from './config.ts';
import { DeskhandError } from './errors.ts';
import { createGateway } from './llm/create-gateway.ts';
import { encodingForModel } from './llm/tokenizer.ts';
import type { Logger } from './observability/logger.ts';
import type { Registry } from './observability/metrics.ts';
import { EmbeddedVectorIndex } from './ports/adapters/embedded-vector-index.ts';
import type { LanguageModelGateway } from './ports/language-model.ts';
import type { VectorIndex } from './ports/vector-index.ts';
import { budgetHandler } from './router/budget-handler.ts';
import { RedisThreadMemory } from './router/thread-memory.ts';
import type { CapabilityHandlers } from './router/types.ts';
import { boltLogger } from './slack/bolt-logger.ts';
import { createSlackWebClient, SlackMessenger } from './slack/outbound/slack-messenger.ts';
import { createInProcessWork, type Work } from './slack/work.ts';

/** A gateway for when no model is configured: every call ends in a clear `configuration` outcome. */
function unconfiguredGateway(reason: string): LanguageModelGateway {
  const fail = async (): Promise<never> => {
    throw new DeskhandError('configuration', reason, {
      userMessage: 'No language model is configured for Deskhand yet. An admin must set OPENAI_API_KEY.',
    });
  };
  return { chat: fail, structured: fail, embed: fail, countChatTokens: () => 0 };
}

export async function buildWorkSide(configuration: Configuration, logger: Logger, registry: Registry): Promise<Work> {
  if (configuration.qdrant.url) {
    // The Qdrant adapter lands with the document index; refuse rather than silently ignore the setting.
    throw new DeskhandError('configuration', 'QDRANT_URL is set, but this build has only the embedded index', {
      userMessage: 'QDRANT_URL is set, but this build has only the embedded index. Unset QDRANT_URL to use it.',
    });
  }
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

  const vectorIndex: VectorIndex = new EmbeddedVectorIndex({ directory: join(configuration.dataDir, 'index'), logger });
  await vectorIndex.ensureReady();

  return createInProcessWork({
    messenger,
    gateway,
    threads: new RedisThreadMemory({ redis, keyPrefix: configuration.redis.keyPrefix }),
    logger,
    registry,
    capabilities,
    classifierModel: configuration.openai.classifierModel,
    threadContextTokens: configuration.threadContextTokens,
    encoding: encodingForModel(configuration.openai.model, configuration.openai.fallbackEncoding),
    ready: async () => (await redis.ping()) === 'PONG' && (await vectorIndex.ping()),
    onClose: async () => {
      await vectorIndex.close();
      await closeLedger();
      await redis.quit();
    },
  });
}
