/**
 * Starts the real app in-process on port 0 against the fake Slack Web API, the fake OpenAI server, a real Redis
 * (unique key prefix) and an in-memory embedded index — the same wiring as src/main.ts, minus process signals.
 * Shared by the end-to-end tests and the ingress benchmark.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { createApp, type DeskhandApp } from '../../src/composition/app.ts';
import { type Configuration, loadConfiguration } from '../../src/composition/config.ts';
import { createGateway } from '../../src/composition/create-gateway.ts';
import { encodingForModel } from '../../src/llm/tokenizer.ts';
import { createSilentLogger, type Logger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { CapabilityHandlers, IncomingRequest } from '../../src/ports/capability.ts';
import type { WorkspaceSettingsSource } from '../../src/ports/workspace-settings.ts';
import { budgetHandler } from '../../src/router/budget-handler.ts';
import { ChannelControl } from '../../src/router/channel-control.ts';
import { RedisThreadMemory } from '../../src/router/thread-memory.ts';
import {
  createSlackWebClient,
  SlackMessenger,
  type SlackMessengerOptions,
} from '../../src/slack/outbound/slack-messenger.ts';
import { identityFromAuthTest } from '../../src/slack/tenancy.ts';
import type { InteractionHandlers } from '../../src/work/requests.ts';
import { createInProcessWork } from '../../src/work/work.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { SlackDriver } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

export const signingSecret = 'e2e-signing-secret-123456';

export interface AppHarness {
  app: DeskhandApp;
  slack: FakeSlackWebApi;
  openai: FakeOpenAIServer;
  driver: SlackDriver;
  redis: Redis;
  configuration: Configuration;
  keyPrefix: string;
  baseUrl: string;
  /** Keys this harness created in Redis. */
  redisKeys(): Promise<string[]>;
  /** Channel control over the app's messenger and Redis, when `channelSettings` was given. */
  channels: ChannelControl | undefined;
  close(): Promise<void>;
}

export interface AppHarnessOptions {
  environment?: Record<string, string>;
  capabilities?: Partial<CapabilityHandlers>;
  interactions?: Partial<InteractionHandlers>;
  /** Passed to the work side (see `InProcessWorkDependencies.handledElsewhere`). */
  handledElsewhere?: (request: IncomingRequest) => Promise<boolean>;
  /** Turns channel control on, as build-work-side.ts does, with these settings. */
  channelSettings?: WorkspaceSettingsSource;
  /** Passed to the work side (see `InProcessWorkDependencies.prepareRoute`), e.g. the assistant view's. */
  prepareRoute?: (request: IncomingRequest) => Promise<IncomingRequest>;
  deliveryLeaseMs?: number;
  logger?: Logger;
  openaiWhenEmpty?: 'default' | 'error';
  /** Pacing of the app's messenger (default: production pacing), e.g. faster for tests that post a lot. */
  messengerPacing?: Pick<
    SlackMessengerOptions,
    'postIntervalMs' | 'updatesPerMinute' | 'updateBurst' | 'messageUpdateIntervalMs'
  >;
}

export async function startAppHarness(options: AppHarnessOptions = {}): Promise<AppHarness> {
  const slack = await FakeSlackWebApi.start();
  const openai = await FakeOpenAIServer.start({ whenEmpty: options.openaiWhenEmpty ?? 'error' });
  const keyPrefix = `test:${randomUUID()}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'deskhand-e2e-'));
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: slack.token,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: slack.url,
    OPENAI_API_KEY: 'test-key',
    OPENAI_BASE_URL: openai.baseURL,
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ...options.environment,
  });
  if (!loaded.ok) throw new Error(`bad test configuration: ${loaded.problems.join('; ')}`);
  const configuration = loaded.configuration;
  const logger = options.logger ?? createSilentLogger();
  const registry = createMetricsRegistry();
  const redis = new Redis(configuration.redis.url, { maxRetriesPerRequest: 2 });
  const webClient = createSlackWebClient({
    token: configuration.slack.botToken,
    apiUrl: configuration.slack.apiUrl,
    timeoutMs: configuration.slack.requestTimeoutMs,
  });
  const messenger = new SlackMessenger({ client: webClient, logger, metrics: registry, ...options.messengerPacing });
  const parts = createGateway(configuration, {
    openai: new OpenAI({ apiKey: 'test-key', baseURL: openai.baseURL }),
    redis,
    metrics: registry,
    logger,
  });
  const channels = options.channelSettings
    ? new ChannelControl({ settings: options.channelSettings, messenger, redis, keyPrefix, logger })
    : undefined;
  const vectorIndex = new EmbeddedVectorIndex({ logger });
  await vectorIndex.ensureReady();
  const work = createInProcessWork({
    messenger,
    gateway: parts.gateway,
    threads: new RedisThreadMemory({ redis, keyPrefix }),
    logger,
    registry,
    capabilities: {
      budget: budgetHandler({ budgets: parts.budgets, adminUserIds: configuration.people.adminUserIds, logger }),
      ...options.capabilities,
    },
    ...(options.interactions ? { interactions: options.interactions } : {}),
    ...(options.handledElsewhere ? { handledElsewhere: options.handledElsewhere } : {}),
    ...(channels ? { channels } : {}),
    ...(options.prepareRoute ? { prepareRoute: options.prepareRoute } : {}),
    classifierModel: configuration.openai.classifierModel,
    threadContextTokens: configuration.threadContextTokens,
    encoding: encodingForModel(configuration.openai.model),
    ready: () => vectorIndex.ping(),
  });
  const app = createApp({
    configuration,
    logger,
    redis,
    work,
    registry,
    ...(options.deliveryLeaseMs ? { deliveryLeaseMs: options.deliveryLeaseMs } : {}),
    shutdownTimeoutMs: 5_000,
    // As src/main.ts: the installation's team (or enterprise) is the tenant of guests' clicks and commands.
    resolveIdentity: async () => identityFromAuthTest(await webClient.auth.test()),
  });
  await app.start(0);
  const baseUrl = `http://127.0.0.1:${app.port}`;
  const driver = new SlackDriver({ url: `${baseUrl}/slack/events`, signingSecret });
  return {
    app,
    slack,
    openai,
    driver,
    redis,
    configuration,
    keyPrefix,
    baseUrl,
    redisKeys: () => redis.keys(`${keyPrefix}*`),
    channels,
    async close() {
      await app.stop();
      await vectorIndex.close();
      await parts.close();
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      await slack.close();
      await openai.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
