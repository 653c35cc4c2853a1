/**
 * `createApp(dependencies)`: the Slack app assembled from injected adapters — no SDK client for Redis, models,
 * the index or posting is built here (that is `main.ts`'s job), so tests run the whole app in-process on port 0
 * against fakes. Bolt's own Web API client is used for `auth.test` at start (to learn Deskhand's bot ids) and
 * for one rare message: telling a user that durable work was given up after repeated failures (durable-work.ts)
 * — that happens precisely when the work side keeps failing, so it must not depend on it. Everything else
 * Deskhand says goes through the work side's `Messenger`.
 */
import { App, type Receiver, SocketModeReceiver } from '@slack/bolt';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { RedisClient } from '../adapters/redis-client.ts';
import type { Logger } from '../observability/logger.ts';
import { createMetricsRegistry, type Registry } from '../observability/metrics.ts';
import { forgetChannelSharing } from '../router/channel-control.ts';
import type { BotIdentity } from '../router/thread-context.ts';
import { adminIngestPath, adminIngestRoute } from '../slack/admin-ingest-route.ts';
import { boltLogger } from '../slack/bolt-logger.ts';
import { deliveryMiddleware } from '../slack/delivery-middleware.ts';
import { healthRoutes, type RouteHandler, redisWriteProbe, type WorkThreadsHealth } from '../slack/health-routes.ts';
import type { StaleInteractionNotice } from '../slack/inbound-guard.ts';
import { type PurgeReason, requestPurge } from '../slack/installations/workspace-purge.ts';
import * as actionListeners from '../slack/listeners/actions.ts';
import * as commandListeners from '../slack/listeners/commands.ts';
import type { ListenerDependencies } from '../slack/listeners/dependencies.ts';
import * as eventListeners from '../slack/listeners/events.ts';
import * as shortcutListeners from '../slack/listeners/shortcuts.ts';
import * as uninstallListeners from '../slack/listeners/uninstall.ts';
import * as viewListeners from '../slack/listeners/views.ts';
import { DeskhandReceiver, deferSocketModeAcks } from '../slack/receiver.ts';
import { identityFromAuthTest } from '../slack/tenancy.ts';
import { BackgroundJobs } from '../work/background-jobs.ts';
import { DeliveryDeduplicator } from '../work/dedupe.ts';
import { DurableWork, isWorkNotStoredError, type UndeliverableNotice } from '../work/durable-work.ts';
import { workJournalDirectory } from '../work/journal-files.ts';
import type { Work } from '../work/work.ts';
import { WorkJournal } from '../work/work-journal.ts';
import { type IngressInstallations, ingressInstallations } from './build-installations.ts';
import type { Configuration } from './config.ts';

export interface AppDependencies {
  configuration: Configuration;
  logger: Logger;
  /** For delivery de-duplication and readiness. */
  redis: RedisClient;
  /** Everything after the ack: `createInProcessWork(…)`, or a worker thread (src/composition/worker/threaded-work.ts). */
  work: Work;
  /** Defaults to a fresh registry with Node's default metrics. */
  registry?: Registry;
  /** Metrics recorded elsewhere (a worker thread), merged into `GET /metrics`. */
  externalMetrics?: () => Promise<MetricObjectWithValues<MetricValue<string>>[]>;
  /** The work threads' state, for `/healthz` and `/readyz` (absent when the work runs on this event loop). */
  workThreads?: () => WorkThreadsHealth;
  /** Delivery claim lease (default 30 s); tests shorten it to exercise lease expiry. */
  deliveryLeaseMs?: number;
  /** How often the durable-work sweeper looks for work whose worker died (default 5 s). */
  sweepIntervalMs?: number;
  /** How many times a durable work item is started before the user is told it failed (default 3). */
  maxWorkAttempts?: number;
  /** How long shutdown waits for background work (default 25 s, within Docker's default 10 s + grace). */
  shutdownTimeoutMs?: number;
  /** Deskhand's bot ids; default: `auth.test` with the bot token at start. */
  resolveIdentity?: () => Promise<BotIdentity>;
}

export interface DeskhandApp {
  readonly bolt: App;
  readonly work: Work;
  readonly jobs: BackgroundJobs;
  readonly registry: Registry;
  readonly dedupe: DeliveryDeduplicator;
  readonly durable: DurableWork;
  /** The HTTP port after `start()` (undefined in Socket Mode without an HTTP server). */
  readonly port: number | undefined;
  /** Learns the bot identity, then listens (HTTP on `port`, default the configured PORT; or Socket Mode). */
  start(port?: number): Promise<void>;
  /** Graceful stop: refuse new requests, finish in-flight work, close the work side. Does not close Redis. */
  stop(): Promise<void>;
}

export function createApp(dependencies: AppDependencies): DeskhandApp {
  const { configuration, logger, redis, work } = dependencies;
  const registry = dependencies.registry ?? createMetricsRegistry({ collectDefaults: true });
  const leaseMs = dependencies.deliveryLeaseMs ?? 30_000;
  const jobs = new BackgroundJobs({ logger, registry });
  const dedupe = new DeliveryDeduplicator({ redis, keyPrefix: configuration.redis.keyPrefix, leaseMs });
  let identity: BotIdentity = {};
  let accepting = true;

  const routes = healthRoutes({
    registry,
    logger,
    accepting: () => accepting,
    readiness: [
      redisWriteProbe({ redis, keyPrefix: configuration.redis.keyPrefix }),
      { name: 'work', check: () => work.ready() },
    ],
    ...(dependencies.externalMetrics ? { externalMetrics: dependencies.externalMetrics } : {}),
    ...(dependencies.workThreads ? { workThreads: dependencies.workThreads } : {}),
  });
  // A stale button or shortcut (one no listener knows any more) is answered with a short ephemeral, through Bolt's
  // own client like the durable-work notice: nothing the work side knows about was started.
  // With OAuth distribution (build-installations.ts) each workspace's own token; else SLACK_BOT_TOKEN.
  const installations = ingressInstallations(configuration, { redis, logger });
  const tokenFor = async (workspaceId?: string) =>
    installations ? installations.tokenOf(workspaceId) : configuration.slack.botToken;
  const notifyStale = async (notice: StaleInteractionNotice): Promise<void> => {
    const token = await tokenFor(notice.workspaceId);
    if (!token) return;
    await bolt.client.chat.postEphemeral({
      token,
      channel: notice.channelId,
      user: notice.userId,
      text: notice.text,
    });
  };
  const adminRoutes = adminIngestRoutes(configuration, work, logger);
  const { receiver, socketMode } = createReceiver(configuration, logger, registry, routes, notifyStale, installations, {
    adminRoutes,
  });
  const bolt = createBolt(configuration, logger, receiver, () => identity);
  const durable = createDurableWork(dependencies, { bolt, dedupe, jobs, registry, leaseMs, tokenFor });
  const deliveries = deliveryMiddleware({ dedupe, logger, registry });
  registerListeners(bolt, deliveries, logger, {
    work,
    durable,
    jobs,
    logger,
    leaseMs,
    ticketReaction: configuration.tickets.reaction,
    identity: () => identity,
    // Slack Connect: a channel shared or unshared loses its cached sharing before the ack (channel-sharing.ts).
    forgetChannelSharing: (workspaceId, channelId) =>
      forgetChannelSharing(redis, configuration.redis.keyPrefix, workspaceId, channelId),
  });
  if (installations) {
    const { keyPrefix } = configuration.redis;
    const purge = (workspaceId: string, reason: PurgeReason) => requestPurge(redis, keyPrefix, workspaceId, reason);
    uninstallListeners.register(bolt, { requestPurge: purge, installations: installations.store, logger });
  }

  // With OAuth distribution each workspace has its own bot: Bolt's `authorize` gives each request its ids.
  const resolveIdentity =
    dependencies.resolveIdentity ??
    (async (): Promise<BotIdentity> => {
      if (installations) return {};
      return identityFromAuthTest(await bolt.client.auth.test({ token: configuration.slack.botToken }));
    });

  return {
    bolt,
    work,
    jobs,
    registry,
    dedupe,
    durable,
    get port() {
      return receiver instanceof DeskhandReceiver ? receiver.port : socketMode ? undefined : configuration.port;
    },
    async start(port = configuration.port) {
      identity = await resolveIdentity();
      work.setIdentity(identity);
      await bolt.init();
      if (receiver instanceof DeskhandReceiver) await receiver.start(port);
      else await bolt.start();
      // Picks up work that a process which died after acknowledging it left behind (here or in another replica).
      durable.start();
      logger.info({ port: this.port, socketMode, botUserId: identity.botUserId }, 'deskhand started');
    },
    async stop() {
      accepting = false;
      await durable.stop();
      await drainAndClose({ receiver, deliveries, jobs, work, logger }, dependencies.shutdownTimeoutMs ?? 25_000);
      await durable.close();
      logger.info('deskhand stopped');
    },
  };
}

type AppReceiver = Receiver & { port?: number | undefined };

/**
 * `POST /admin/ingest` (src/slack/admin-ingest-route.ts) when `ADMIN_API_TOKEN` is set and the work side ingests;
 * otherwise no route at all (the path answers like any unknown one).
 */
function adminIngestRoutes(configuration: Configuration, work: Work, logger: Logger): Record<string, RouteHandler> {
  const token = configuration.adminApiToken;
  const ingest = work.adminIngest?.bind(work);
  if (!token || !ingest) return {};
  const route = adminIngestRoute({ token, ingest, maxUploadBytes: configuration.retrieval.maxUploadBytes, logger });
  logger.info({ path: adminIngestPath }, 'admin ingestion endpoint enabled');
  return { [adminIngestPath]: route };
}

/** Socket Mode when an app token is configured (health routes on its HTTP server), else Deskhand's HTTP receiver. */
function createReceiver(
  configuration: Configuration,
  logger: Logger,
  registry: Registry,
  routes: ReturnType<typeof healthRoutes>,
  notifyStale: (notice: StaleInteractionNotice) => Promise<void>,
  installations: IngressInstallations | undefined,
  extra: { adminRoutes: Record<string, RouteHandler> },
): { receiver: AppReceiver; socketMode: boolean } {
  const socketMode = configuration.slack.appToken !== undefined;
  const receiver: AppReceiver = socketMode
    ? deferSocketModeAcks(
        new SocketModeReceiver({
          appToken: configuration.slack.appToken as string,
          logger: boltLogger(logger),
          customRoutes: [
            ...Object.entries(routes).map(([path, handler]) => ({ path, method: 'GET', handler })),
            ...Object.entries(extra.adminRoutes).map(([path, handler]) => ({ path, method: 'POST', handler })),
          ],
          // A half-open socket (closed by a NAT or proxy without a FIN) still looks open: only the heartbeat
          // notices it. The client drops the socket when a pong or Slack's ping is overdue and, with
          // reconnection on, opens a new one through `apps.connections.open` (test/e2e/socket-mode-half-open).
          clientPingTimeout: configuration.slack.socketMode.clientPingTimeoutMs,
          serverPingTimeout: configuration.slack.socketMode.serverPingTimeoutMs,
          autoReconnectEnabled: true,
          // `clientOptions` is the Socket Mode client's own Web API client (`apps.connections.open`): without
          // it, it would ignore SLACK_API_URL and always ask slack.com.
          installerOptions: {
            port: configuration.port,
            clientOptions: { slackApiUrl: configuration.slack.apiUrl, timeout: configuration.slack.requestTimeoutMs },
          },
        }),
        { logger, registry, notifyStale },
      )
    : new DeskhandReceiver({
        signingSecret: configuration.slack.signingSecret,
        maxFutureSkewSeconds: configuration.slack.maxFutureSkewSeconds,
        logger,
        registry,
        routes,
        ownMethodRoutes: extra.adminRoutes,
        notifyStale,
        ...(installations ? { oauth: installations.receiverOptions } : {}),
      });
  return { receiver, socketMode };
}

function createBolt(
  configuration: Configuration,
  logger: Logger,
  receiver: AppReceiver,
  identity: () => BotIdentity,
): App {
  return new App({
    receiver,
    logger: boltLogger(logger),
    deferInitialization: true,
    ignoreSelf: true,
    // OAuth distribution: Bolt finds the receiver's `installer` and authorises each request from the encrypted
    // store itself (it refuses an `authorize` besides). One installation: the identity is learnt once at start,
    // so authorising a request costs nothing.
    ...(receiver instanceof DeskhandReceiver && receiver.installer
      ? {}
      : {
          // The installation's team goes into the context too: Bolt would otherwise fill `context.teamId` from
          // the payload, which for a Slack Connect guest's click is the guest's own team (`installationOf`).
          authorize: async () => {
            const { botId, botUserId, teamId, enterpriseId, isEnterpriseInstall } = identity();
            return {
              botToken: configuration.slack.botToken,
              ...(botId ? { botId } : {}),
              ...(botUserId ? { botUserId } : {}),
              ...(teamId ? { teamId } : {}),
              ...(enterpriseId ? { enterpriseId } : {}),
              ...(isEnterpriseInstall !== undefined ? { isEnterpriseInstall } : {}),
            };
          },
        }),
    clientOptions: {
      slackApiUrl: configuration.slack.apiUrl,
      timeout: configuration.slack.requestTimeoutMs,
      retryConfig: { retries: 2 },
    },
  });
}

/** Durable work, which tells a user through Bolt's own client when their work was given up (see the header). */
function createDurableWork(
  dependencies: AppDependencies,
  parts: {
    bolt: App;
    dedupe: DeliveryDeduplicator;
    jobs: BackgroundJobs;
    registry: Registry;
    leaseMs: number;
    tokenFor: (workspaceId?: string) => Promise<string | undefined>;
  },
): DurableWork {
  const { configuration, logger, redis, work } = dependencies;
  const { bolt, dedupe, jobs, registry, leaseMs, tokenFor } = parts;
  const notify = async (notice: UndeliverableNotice): Promise<void> => {
    const token = await tokenFor(notice.workspaceId);
    if (!token) return;
    const base = { token, channel: notice.channelId, text: notice.text };
    if (notice.userId) await bolt.client.chat.postEphemeral({ ...base, user: notice.userId });
    else await bolt.client.chat.postMessage({ ...base, ...(notice.threadTs ? { thread_ts: notice.threadTs } : {}) });
  };
  return new DurableWork({
    redis,
    keyPrefix: configuration.redis.keyPrefix,
    dedupe,
    jobs,
    work,
    logger,
    registry,
    leaseMs,
    notify,
    // This replica's own record of its work in DATA_DIR, put back when Redis loses its data (work-journal.ts).
    journal: new WorkJournal({ directory: workJournalDirectory(configuration.dataDir), logger }),
    ...(dependencies.sweepIntervalMs ? { sweepIntervalMs: dependencies.sweepIntervalMs } : {}),
    ...(dependencies.maxWorkAttempts ? { maxAttempts: dependencies.maxWorkAttempts } : {}),
  });
}

/** Delivery de-duplication first, then every surface's listeners, then the error handler. */
function registerListeners(
  bolt: App,
  deliveries: ReturnType<typeof deliveryMiddleware>,
  logger: Logger,
  listenerDependencies: ListenerDependencies,
): void {
  bolt.use(deliveries);
  eventListeners.register(bolt, listenerDependencies);
  commandListeners.register(bolt, listenerDependencies);
  shortcutListeners.register(bolt, listenerDependencies);
  actionListeners.register(bolt, listenerDependencies);
  viewListeners.register(bolt, listenerDependencies);
  bolt.error(async (error) => {
    if (isWorkNotStoredError(error)) {
      // Rethrown so that the receiver answers with an error instead of the stored ack: Slack retries an event;
      // a click or command shows as failed to the user, and nothing ran.
      logger.error({ err: error, code: error.code }, 'work could not be stored; the delivery is not acknowledged');
      throw error;
    }
    logger.error({ err: error, code: 'internal' }, 'unhandled error in a listener');
  });
}

/**
 * Stop taking requests first, then let the work already accepted finish and its messages go out. Over HTTP the
 * server stays up meanwhile, answering new requests 503 (`refuseNewRequests`) and `/readyz` 503, and closes last.
 */
async function drainAndClose(
  parts: {
    receiver: AppReceiver;
    deliveries: ReturnType<typeof deliveryMiddleware>;
    jobs: BackgroundJobs;
    work: Work;
    logger: Logger;
  },
  timeoutMs: number,
): Promise<void> {
  const { receiver, deliveries, jobs, work, logger } = parts;
  const http = receiver instanceof DeskhandReceiver;
  if (http) receiver.refuseNewRequests();
  else await receiver.stop(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  while (deliveries.inFlight() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const finished = await jobs.drain(timeoutMs);
  if (!finished) logger.warn({ inFlight: jobs.inFlight, code: 'deadline_exceeded' }, 'stopped with work running');
  // Requests still running (an admin ingestion) get what is left of the deadline, as they did before the drain.
  if (http) await receiver.stop(Math.max(deadline - Date.now(), 1_000));
  await work.close(timeoutMs);
}
