/**
 * A workspace's own model prices (its settings' `prices`) are what the gateway reserves and settles that
 * workspace's calls with, and only that workspace's: real Redis, the real gateway and budget store, the fake
 * OpenAI server with fixed usage. A model the process's price table lacks can be used by a workspace that prices it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { WorkspaceSettingsService } from '../../src/capabilities/settings/workspace-settings-service.ts';
import { buildWorkspaceSettings } from '../../src/composition/build-settings.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createHarness, type Harness, scope, userMessage } from './gateway-harness.ts';

const A = 'TPRICEA1';
const B = 'TPRICEB1';
const channel = 'C0PRICES1';
const prefix = `test:${randomUUID()}:`;
/** Fixed usage of every call, so costs are exact. */
const usage = { promptTokens: 1_000, completionTokens: 500 };
const maxOutputTokens = 800;
let redis: Redis;
let settings: WorkspaceSettingsService;
let harness: Harness;

before(async () => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: 'xoxb-1',
    SLACK_SIGNING_SECRET: 'secret-secret',
    REDIS_KEY_PREFIX: prefix,
    ADMIN_USER_IDS: 'U0ENVADMIN',
  });
  assert.ok(loaded.ok);
  settings = buildWorkspaceSettings(loaded.configuration, { redis, logger: createSilentLogger() });
  const saved = await settings.save({
    workspaceId: A,
    userId: 'U0ENVADMIN',
    expectedVersion: 0,
    overrides: {
      prices: {
        'gpt-4o-mini': { inputUsdPerMillion: 10, outputUsdPerMillion: 40 },
        'house-model': { inputUsdPerMillion: 1, outputUsdPerMillion: 2 },
      },
    },
  });
  assert.equal(saved.kind, 'saved');
  harness = await createHarness({
    gateway: {
      workspacePrices: async (workspaceId) => (await settings.get(workspaceId)).prices,
      // A model tiktoken does not know needs TOKENIZER_FALLBACK_ENCODING, priced or not.
      fallbackEncoding: 'o200k_base',
    },
  });
});

after(async () => {
  await harness?.cleanup();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/**
 * One call in `workspaceId` with `model`: its reservation (read while the delayed reply is on its way), its result
 * and what it added to the channel's spend.
 */
async function callIn(workspaceId: string, model: string) {
  const spentBefore = await spentIn(workspaceId);
  harness.fake?.enqueueChat({ content: 'ok', usage, delayMs: 300 });
  const request = {
    messages: userMessage('How are refunds paid?'),
    maxOutputTokens,
    purpose: 'test',
    promptVersion: '1',
    model,
  };
  const running = harness.gateway.chat(request, { ...scope(channel, workspaceId), requestId: randomUUID() });
  let reserved = 0;
  for (let attempt = 0; attempt < 50 && reserved === 0; attempt += 1) {
    const status = await harness.budgets.status(workspaceId, channel);
    reserved = status.windows.find((window) => window.window === 'channel_daily')?.reservedMicroUsd ?? 0;
    if (reserved === 0) await sleep(10);
  }
  const result = await running;
  await harness.gateway.flush();
  return { reserved, result, spent: (await spentIn(workspaceId)) - spentBefore };
}

async function spentIn(workspaceId: string): Promise<number> {
  const status = await harness.budgets.status(workspaceId, channel);
  return status.windows.find((window) => window.window === 'channel_daily')?.spentMicroUsd ?? 0;
}

describe('workspace prices', () => {
  test("A's price changes A's reserved and settled cost and not B's", async () => {
    const inA = await callIn(A, 'gpt-4o-mini');
    const inB = await callIn(B, 'gpt-4o-mini');
    // Settled: 1,000 input and 500 output tokens. A: $10 and $40 per million; B: the table's $0.15 and $0.60.
    assert.equal(inA.result.costMicroUsd, 10 * 1_000 + 40 * 500);
    assert.equal(inB.result.costMicroUsd, Math.ceil(0.15 * 1_000 + 0.6 * 500));
    assert.equal(inA.spent, inA.result.costMicroUsd);
    assert.equal(inB.spent, inB.result.costMicroUsd);
    // Reserved: the exact input tokens counted here plus maxOutputTokens of output, at each workspace's price.
    const inputTokensOf = (reserved: number, inputPerToken: number, outputPerToken: number) =>
      (reserved - outputPerToken * maxOutputTokens) / inputPerToken;
    const countedInA = inputTokensOf(inA.reserved, 10, 40);
    assert.ok(Number.isInteger(countedInA) && countedInA > 0, `A reserved ${inA.reserved} µ$`);
    assert.ok(
      inB.reserved > 0 && inB.reserved < inA.reserved / 50,
      `B reserved ${inB.reserved} µ$ at the table's price`,
    );
    assert.ok(inB.reserved >= Math.ceil(0.6 * maxOutputTokens));
  });

  test('a model the price table lacks runs in the workspace that prices it and is refused in the other', async () => {
    const inA = await callIn(A, 'house-model');
    assert.equal(inA.result.costMicroUsd, 1 * 1_000 + 2 * 500);
    assert.equal(inA.spent, 2_000);
    const before = harness.fake?.calls.length ?? 0;
    await assert.rejects(
      harness.gateway.chat(
        { messages: userMessage('hi'), maxOutputTokens: 5, purpose: 'test', promptVersion: '1', model: 'house-model' },
        scope(channel, B),
      ),
      (error: { code?: string }) => error.code === 'configuration',
    );
    assert.equal(harness.fake?.calls.length, before, 'the refused call never reached the provider');
  });
});
