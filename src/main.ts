/**
 * Composition root: the only place SDK clients are built. Loads the configuration (printing every problem and
 * exiting 1 when there are any), builds the ingress's Redis connection and the work side — in a pool of
 * `WORK_THREADS` worker threads by default (`WORK_THREAD`; src/composition/worker/work-pool.ts), where the
 * Messenger, the model gateway, the vector index and the capabilities live (src/composition/) — creates the app and
 * starts it. With the embedded index it first registers as that index's one replica in Redis
 * (claim-embedded-index.ts: a second replica is refused). SIGTERM/SIGINT stop it gracefully: stop accepting, finish
 * in-flight work, drain the messenger, close the stores.
 */
import { createApp, type DeskhandApp } from './composition/app.ts';
import { buildWorkSide } from './composition/build-work-side.ts';
import { claimEmbeddedIndex, type EmbeddedIndexClaim } from './composition/claim-embedded-index.ts';
import { type Configuration, loadConfiguration } from './composition/config.ts';
import { createRedis, type RedisClient } from './composition/create-redis.ts';
import { startWorkThreads } from './composition/worker/start-work-threads.ts';
import type { WorkPool } from './composition/worker/work-pool.ts';
import { toDeskhandError } from './errors.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetricsRegistry, type Registry } from './observability/metrics.ts';
import type { BotIdentity } from './router/thread-context.ts';
import { boltLogger } from './slack/bolt-logger.ts';
import { createSlackWebClient } from './slack/outbound/slack-messenger.ts';
import { identityFromAuthTest } from './slack/tenancy.ts';
import type { Work } from './work/work.ts';

async function main(): Promise<void> {
  const configuration = configurationOrExit();
  const logger = createLogger({ level: configuration.logLevel });
  const registry = createMetricsRegistry({ collectDefaults: true });
  process.on('unhandledRejection', (reason) => logger.error({ err: reason, code: 'internal' }, 'unhandled rejection'));

  const indexClaim = await claimEmbeddedIndexOrExit(configuration, logger);
  const { work, pool } = await buildWorkOrExit(configuration, logger, registry);
  const redis = createRedis(configuration, { logger });
  const app = createApp({
    configuration,
    logger,
    redis,
    work,
    registry,
    ...(pool ? { externalMetrics: () => pool.metrics(), workThreads: () => pool.health() } : {}),
    // With OAuth distribution each workspace has its own bot, authorised per request: no one identity to learn.
    ...(configuration.slack.oauth ? {} : { resolveIdentity: identityResolver(configuration, logger) }),
  });
  stopOnSignals(app, redis, logger, indexClaim);

  try {
    await app.start();
  } catch (error) {
    logger.fatal({ err: error, code: 'configuration' }, 'could not start (is SLACK_BOT_TOKEN valid and PORT free?)');
    await work.close(1_000).catch(() => {});
    await indexClaim?.release();
    await redis.quit().catch(() => {});
    process.exit(1);
  }
}

/** The configuration, or every problem printed and exit 1. */
function configurationOrExit(): Configuration {
  const loaded = loadConfiguration();
  if (!loaded.ok) {
    console.error('Deskhand cannot start. Fix these settings (see .env.example and the README):');
    for (const problem of loaded.problems) console.error(`  - ${problem}`);
    process.exit(1);
  }
  return loaded.configuration;
}

/**
 * With the embedded index, this replica registered as its one user in Redis before the index is opened; exit 1 when
 * another replica uses it (several replicas need Qdrant) or Redis cannot be reached.
 */
async function claimEmbeddedIndexOrExit(
  configuration: Configuration,
  logger: Logger,
): Promise<EmbeddedIndexClaim | undefined> {
  try {
    return await claimEmbeddedIndex(configuration, logger);
  } catch (error) {
    const coded = toDeskhandError(error, 'configuration');
    console.error(`Deskhand cannot start: ${coded.userMessage}`);
    logger.fatal({ err: error, code: coded.code }, 'could not claim the embedded index');
    process.exit(1);
  }
}

/**
 * The work side, in a pool of worker threads (`WORK_THREAD`, `WORK_THREADS`) or on this event loop; exit 1 when it
 * cannot be built.
 */
async function buildWorkOrExit(
  configuration: Configuration,
  logger: Logger,
  registry: Registry,
): Promise<{ work: Work; pool: WorkPool | undefined }> {
  try {
    if (configuration.workThread) {
      const pool = await startWorkThreads(configuration, logger, registry);
      return { work: pool, pool };
    }
    return { work: await buildWorkSide(configuration, logger, registry), pool: undefined };
  } catch (error) {
    const coded = toDeskhandError(error, 'configuration');
    console.error(`Deskhand cannot start: ${coded.userMessage}`);
    logger.fatal({ err: error, code: coded.code }, 'could not build the work side');
    process.exit(1);
  }
}

/** `auth.test` with the bot token, Deskhand's one Slack call outside the work side's Messenger. */
function identityResolver(configuration: Configuration, logger: Logger): () => Promise<BotIdentity> {
  const identityClient = createSlackWebClient({
    token: configuration.slack.botToken,
    apiUrl: configuration.slack.apiUrl,
    timeoutMs: configuration.slack.requestTimeoutMs,
    clientLogger: boltLogger(logger),
  });
  return async () => {
    return identityFromAuthTest(await identityClient.auth.test());
  };
}

/** SIGTERM/SIGINT: one graceful stop (app, then Redis), exit 0; exit 1 when it fails or takes over 30 s. */
function stopOnSignals(
  app: DeskhandApp,
  redis: RedisClient,
  logger: Logger,
  indexClaim: EmbeddedIndexClaim | undefined,
): void {
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
      await indexClaim?.release();
      await redis.quit();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error, code: 'internal' }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

await main();
