/**
 * Builds a real `OpenAIGateway` against the FakeOpenAIServer and the local Redis, with a unique key prefix per
 * harness (deleted by `cleanup`). Used by the gateway integration tests, the child-process load script and the bench.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { BudgetStore, type BudgetWarning } from '../../src/llm/budget-store.ts';
import type { CircuitBreaker } from '../../src/llm/circuit-breaker.ts';
import { OpenAIGateway, type OpenAIGatewayOptions } from '../../src/llm/gateway.ts';
import { Ledger } from '../../src/llm/ledger.ts';
import { PriceTable } from '../../src/llm/prices.ts';
import { ResponseCache } from '../../src/llm/response-cache.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry, type Registry } from '../../src/observability/metrics.ts';
import { FakeOpenAIServer, type FakeOpenAIServerOptions } from '../fakes/openai-server.ts';

export interface HarnessOptions {
  /** Reuse a fake (e.g. one server for several gateways); otherwise one is started and closed with the harness. */
  fake?: FakeOpenAIServer;
  fakeOptions?: FakeOpenAIServerOptions;
  baseURL?: string;
  keyPrefix?: string;
  redisUrl?: string;
  /** µ$ caps; default $5 / $50 / $50 and no per-user cap. */
  caps?: { channelDaily?: number; channelMonthly?: number; workspaceDaily?: number; userDaily?: number };
  reservationTtlMs?: number;
  /** Redis slower than this counts as down (fail closed). Generous here: tests share two loaded cores. */
  commandTimeoutMs?: number;
  breaker?: CircuitBreaker;
  timeoutMs?: number;
  dataDir?: string;
  adminUserIds?: string[];
  gateway?: Partial<OpenAIGatewayOptions>;
}

export interface Harness {
  fake: FakeOpenAIServer | undefined;
  redis: Redis;
  gateway: OpenAIGateway;
  budgets: BudgetStore;
  cache: ResponseCache;
  ledger: Ledger;
  prices: PriceTable;
  metrics: Registry;
  keyPrefix: string;
  dataDir: string;
  warnings: BudgetWarning[];
  cleanup(): Promise<void>;
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const ownFake = !options.fake && !options.baseURL;
  const fake = options.fake ?? (ownFake ? await FakeOpenAIServer.start(options.fakeOptions) : undefined);
  const baseURL = options.baseURL ?? fake?.baseURL ?? '';
  const keyPrefix = options.keyPrefix ?? `test:${randomUUID()}:`;
  const redis = new Redis(options.redisUrl ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'deskhand-gateway-')));
  const prices = new PriceTable();
  const budgets = new BudgetStore({
    redis,
    keyPrefix,
    timeZone: 'Europe/Berlin',
    defaults: {
      channelDailyMicroUsd: options.caps?.channelDaily ?? 5_000_000,
      channelMonthlyMicroUsd: options.caps?.channelMonthly ?? 50_000_000,
      workspaceDailyMicroUsd: options.caps?.workspaceDaily ?? 50_000_000,
      ...(options.caps?.userDaily !== undefined ? { userDailyMicroUsd: options.caps.userDaily } : {}),
    },
    reservationTtlMs: options.reservationTtlMs ?? 600_000,
    commandTimeoutMs: options.commandTimeoutMs ?? 5_000,
    adminUserIds: options.adminUserIds ?? ['U0ADMIN1'],
  });
  const cache = new ResponseCache({ redis, keyPrefix, ttlSeconds: 3600, timeSensitiveTtlSeconds: 60 });
  const ledger = new Ledger(dataDir);
  const metrics = createMetricsRegistry();
  const warnings: BudgetWarning[] = [];
  const gateway = new OpenAIGateway({
    client: new OpenAI({ apiKey: 'sk-test-harness', baseURL }),
    budgets,
    cache,
    ledger,
    prices,
    metrics,
    logger: createSilentLogger(),
    chatModel: 'gpt-4o-mini',
    embeddingModel: 'text-embedding-3-small',
    embeddingDimensions: 64,
    timeoutMs: options.timeoutMs ?? 30_000,
    onBudgetWarning: (warning) => {
      warnings.push(warning);
    },
    ...(options.breaker ? { breaker: options.breaker } : {}),
    ...options.gateway,
  });
  return {
    fake,
    redis,
    gateway,
    budgets,
    cache,
    ledger,
    prices,
    metrics,
    keyPrefix,
    dataDir,
    warnings,
    async cleanup() {
      await gateway.flush();
      await ledger.close();
      await deleteKeys(redis, keyPrefix);
      redis.disconnect();
      if (ownFake) await fake?.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Deletes every key under a test prefix (SCAN, never FLUSH). */
export async function deleteKeys(redis: Redis, keyPrefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

export const scope = (channelId = 'C0TEST', workspaceId = 'T0TEST') => ({ workspaceId, channelId });

export const userMessage = (content: string) => [{ role: 'user' as const, content }];
