/**
 * What the feedback command-line tools (`npm run feedback:export`, `npm run eval:answers -- --feedback`) are built
 * from, as the app builds it: the configuration validated like the app's (Slack credentials are not needed, so
 * placeholders stand in for them), the feedback store under the configured Redis key prefix, and for the replay
 * the configured vector index (embedded under DATA_DIR, or Qdrant) with a sparse retriever — no embedder, no
 * gateway, so a replay never calls a model.
 */
import { pino } from 'pino';
import type { Retriever } from '../capabilities/answers/answer-source.ts';
import { FeedbackStore } from '../capabilities/answers/feedback-store.ts';
import { createRetriever } from '../capabilities/answers/retrieval-adapter.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { buildVectorIndex } from './build-vector-index.ts';
import { type Configuration, loadConfiguration } from './config.ts';
import { createRedis } from './create-redis.ts';

export interface FeedbackTools {
  configuration: Configuration;
  logger: Logger;
  feedback: FeedbackStore;
  /** The configured index behind a sparse retriever (built on first use). */
  retriever(): Promise<Retriever>;
  close(): Promise<void>;
}

/** Builds the tools, or returns the configuration problems in words. */
export function buildFeedbackTools(
  environment: Record<string, string | undefined>,
): { ok: true; tools: FeedbackTools } | { ok: false; problems: string[] } {
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: 'xoxb-not-used-by-feedback-tools',
    SLACK_SIGNING_SECRET: 'not-used-by-feedback-tools',
    LOG_LEVEL: 'error',
    ...environment,
  });
  if (!loaded.ok) return { ok: false, problems: loaded.problems };
  const configuration = loaded.configuration;
  const logger = createLogger({ level: configuration.logLevel, destination: pino.destination(2) });
  const redis = createRedis(configuration, { logger });
  const feedback = new FeedbackStore(redis, { keyPrefix: configuration.redis.keyPrefix });
  let index: Awaited<ReturnType<typeof buildVectorIndex>> | undefined;
  return {
    ok: true,
    tools: {
      configuration,
      logger,
      feedback,
      async retriever() {
        index ??= await buildVectorIndex(configuration, { redis, logger });
        return createRetriever(
          { index, logger },
          { mode: 'sparse', contextTokens: configuration.retrieval.contextTokens, rerankerEnabled: false },
        );
      },
      async close() {
        await index?.close();
        await redis.quit();
      },
    },
  };
}
