/**
 * Local and OpenAI-compatible models through the real gateway (built by `createGateway` from a real configuration)
 * against the fake provider serving a model that has no price (`llama3.1:8b`), with the local Redis.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createGateway, type GatewayParts } from '../../src/composition/create-gateway.ts';
import { DeskhandError } from '../../src/errors.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry, type Registry } from '../../src/observability/metrics.ts';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { budgetHandler } from '../../src/router/budget-handler.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { deleteKeys, userMessage } from './gateway-harness.ts';

const localModel = 'llama3.1:8b';

interface Built {
  parts: GatewayParts;
  metrics: Registry;
  dataDir: string;
}

describe('local and compatible models', () => {
  let fake: FakeOpenAIServer;
  const keyPrefix = `test:${randomUUID()}:`;
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const built: Built[] = [];

  before(async () => {
    fake = await FakeOpenAIServer.start();
  });
  after(async () => {
    for (const { parts, dataDir } of built) {
      await parts.close();
      await rm(dataDir, { recursive: true, force: true });
    }
    await deleteKeys(redis, keyPrefix);
    redis.disconnect();
    await fake.close();
  });

  /** The gateway as `src/composition/build-model-access.ts` builds it, from environment variables; the client always talks to the fake. */
  async function build(environment: Record<string, string>): Promise<Built> {
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-unpriced-'));
    const loaded = loadConfiguration({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: 'signing-secret-123',
      OPENAI_API_KEY: 'ollama',
      OPENAI_BASE_URL: fake.baseURL,
      OPENAI_MODEL: localModel,
      OPENAI_EMBEDDING_MODEL: 'nomic-embed-text',
      OPENAI_EMBEDDING_DIMENSIONS: '768',
      REDIS_KEY_PREFIX: keyPrefix,
      DATA_DIR: dataDir,
      TIME_ZONE: 'Europe/Berlin',
      ...environment,
    });
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.join('\n'));
    const metrics = createMetricsRegistry();
    const parts = createGateway(loaded.configuration, {
      openai: new OpenAI({ apiKey: 'ollama', baseURL: fake.baseURL }),
      redis,
      metrics,
      logger: createSilentLogger(),
    });
    const entry = { parts, metrics, dataDir };
    built.push(entry);
    return entry;
  }

  const chat = (content: string, extra: Record<string, unknown> = {}) => ({
    purpose: 'answer',
    promptVersion: '1',
    messages: userMessage(content),
    maxOutputTokens: 300,
    cache: { enabled: false },
    ...extra,
  });

  const budgetRequest = (workspaceId: string, channelId: string, text = ''): CapabilityRequest => ({
    origin: 'command',
    route: 'budget',
    command: '/budget',
    workspaceId,
    channelId,
    userId: 'U0USER',
    text,
    requestId: randomUUID(),
    threadContext: [],
  });

  async function ledgerEntries(dataDir: string): Promise<Array<Record<string, unknown>>> {
    const directory = join(dataDir, 'ledger');
    const lines: Array<Record<string, unknown>> = [];
    for (const name of await readdir(directory)) {
      const text = await readFile(join(directory, name), 'utf8');
      for (const line of text.split('\n')) if (line.trim()) lines.push(JSON.parse(line));
    }
    return lines;
  }

  test('against a local server an unpriced model costs $0, and its provider-reported tokens are counted exactly', async () => {
    const { parts, metrics, dataDir } = await build({});
    const scope = { workspaceId: 'T0LOCAL', channelId: 'C0LOCAL' };
    // The fake reports usage that differs from anything we could count, so only provider-reported figures match.
    fake.enqueueChat(
      { content: 'Parcel A-1 is on its way.', usage: { promptTokens: 1_111, completionTokens: 222 } },
      { content: 'Parcel A-2 is late.', usage: { promptTokens: 3_000, completionTokens: 45 } },
      { content: 'Parcel A-3 arrived.', usage: { promptTokens: 77, completionTokens: 8 } },
    );
    const results = await Promise.all([
      parts.gateway.chat(chat('Where is A-1?'), scope),
      parts.gateway.chat(chat('Where is A-2?'), scope),
      parts.gateway.chat(chat('Where is A-3?', { onTextDelta: () => {} }), scope),
    ]);
    for (const result of results) assert.equal(result.costMicroUsd, 0);
    assert.deepEqual(results.map((result) => result.usage.inputTokens).sort(), [1_111, 3_000, 77].sort());
    assert.equal(fake.chatCalls().at(-1)?.model, localModel);

    const embedded = await parts.gateway.embed(['first text to index', 'second text'], scope);
    assert.equal(embedded.costMicroUsd, 0);
    assert.ok(embedded.inputTokens > 0);
    await parts.gateway.flush();

    const status = await parts.budgets.status(scope.workspaceId, scope.channelId);
    for (const window of status.windows) {
      assert.equal(window.spentMicroUsd, 0, window.window);
      assert.equal(window.reservedMicroUsd, 0, window.window);
    }
    const usage = await parts.budgets.tokenUsage(scope.workspaceId, scope.channelId);
    assert.equal(usage.windows.length, 4);
    for (const window of usage.windows) {
      assert.deepEqual(
        window.models,
        [
          { model: localModel, inputTokens: 1_111 + 3_000 + 77, outputTokens: 222 + 45 + 8, unpriced: 'local server' },
          { model: 'nomic-embed-text', inputTokens: embedded.inputTokens, outputTokens: 0, unpriced: 'local server' },
        ],
        window.window,
      );
    }

    const calls = await metrics.getSingleMetricAsString('deskhand_llm_calls_total');
    assert.match(calls, /operation="chat",model="llama3\.1:8b",purpose="answer",outcome="ok",pricing="unpriced"} 3/);
    assert.match(
      calls,
      /operation="embed",model="nomic-embed-text",purpose="embed",outcome="ok",pricing="unpriced"} 1/,
    );
    const ledger = await ledgerEntries(dataDir);
    assert.equal(ledger.length, 4);
    for (const entry of ledger) {
      assert.equal(entry.unpriced, 'local server');
      assert.equal(entry.costMicroUsd, 0);
    }
  });

  test('/budget names the unpriced model and shows the tokens used, not just $0', async () => {
    const { parts } = await build({});
    const scope = { workspaceId: 'T0SHOW', channelId: 'C0SHOW' };
    fake.enqueueChat(
      { content: 'one', usage: { promptTokens: 1_000, completionTokens: 234 } },
      { content: 'two', usage: { promptTokens: 500, completionTokens: 66 } },
    );
    await parts.gateway.chat(chat('first'), scope);
    await parts.gateway.chat(chat('second'), { ...scope, channelId: 'C0OTHER' });
    await parts.gateway.whenSettled();
    const handler = budgetHandler({ budgets: parts.budgets, adminUserIds: [] });
    const reply = await handler(budgetRequest(scope.workspaceId, scope.channelId));
    assert.equal(reply.kind, 'reply');
    if (reply.kind !== 'reply') return;
    assert.match(reply.text, /Channel, today\*: \$0\.00 of \$5\.00 \(default\) spent/);
    assert.match(reply.text, /Channel, today\*: 1,234 tokens \(1,000 in, 234 out\)/);
    assert.match(reply.text, /Channel, this month\*: 1,234 tokens/);
    assert.match(reply.text, /Workspace, today\*: 1,800 tokens \(1,500 in, 300 out\)/);
    assert.match(
      reply.text,
      /Model `llama3\.1:8b` is unpriced \(local server\): spend shows \$0; 1,234 tokens used today in this channel \(1,800 in the workspace\)\./,
    );
    const blockText = JSON.stringify(reply.blocks);
    assert.match(blockText, /is unpriced \(local server\)/);
    assert.equal(reply.blocks?.at(-1)?.type, 'context', 'the admins footer stays last');
  });

  test('a cap of $0 still refuses an unpriced model', async () => {
    const { parts } = await build({});
    const scope = { workspaceId: 'T0ZERO', channelId: 'C0ZERO' };
    await parts.budgets.setChannelCap(scope.workspaceId, scope.channelId, 'daily', 0);
    const calls = fake.chatCalls().length;
    const error = await parts.gateway.chat(chat('anything'), scope).catch((caught: unknown) => caught);
    assert.ok(error instanceof DeskhandError);
    assert.equal(error.code, 'over_budget');
    assert.equal(fake.chatCalls().length, calls, 'the model was not called');
  });

  test('a configured UNKNOWN_MODEL_PRICE is charged on a hosted service, and the model is not reported as unpriced', async () => {
    // A public compatible host (the client still talks to the fake): priced only because UNKNOWN_MODEL_PRICE is set.
    const { parts, metrics } = await build({
      OPENAI_BASE_URL: 'https://openrouter.ai/api/v1',
      UNKNOWN_MODEL_PRICE: '2,8',
    });
    const scope = { workspaceId: 'T0PRICED', channelId: 'C0PRICED' };
    fake.enqueueChat({ content: 'priced', usage: { promptTokens: 1_000, completionTokens: 500 } });
    const result = await parts.gateway.chat(chat('price me'), scope);
    // $2 per million input tokens and $8 per million output: 1000 × 2 + 500 × 8 = 6000 µ$.
    assert.equal(result.costMicroUsd, 6_000);
    await parts.gateway.whenSettled();
    const status = await parts.budgets.status(scope.workspaceId, scope.channelId);
    assert.equal(status.windows[0]?.spentMicroUsd, 6_000);
    const usage = await parts.budgets.tokenUsage(scope.workspaceId, scope.channelId);
    assert.deepEqual(usage.windows[0]?.models, [{ model: localModel, inputTokens: 1_000, outputTokens: 500 }]);
    const calls = await metrics.getSingleMetricAsString('deskhand_llm_calls_total');
    assert.match(calls, /model="llama3\.1:8b",purpose="answer",outcome="ok",pricing="fallback"} 1/);
    const reply = await budgetHandler({ budgets: parts.budgets, adminUserIds: [] })(
      budgetRequest(scope.workspaceId, scope.channelId),
    );
    assert.ok(reply.kind === 'reply');
    assert.match(reply.text, /Channel, today\*: \$0\.0060 of \$5\.00/);
    assert.match(reply.text, /Channel, today\*: 1,500 tokens/);
    assert.doesNotMatch(reply.text, /unpriced/);
  });

  test('against OpenAI or a hosted compatible service an unknown model is refused by default, before any call', async () => {
    for (const [index, baseURL] of ['https://api.openai.com/v1', 'https://openrouter.ai/api/v1'].entries()) {
      const base = { OPENAI_BASE_URL: baseURL };
      assert.throws(
        () => createGateway(configurationFor({ ...base, OPENAI_MODEL: localModel }), dependencies()),
        (error: unknown) =>
          error instanceof DeskhandError &&
          error.code === 'configuration' &&
          /^Deskhand has no price for the model "llama3\.1:8b".*MODEL_PRICES_JSON.*UNKNOWN_MODEL_PRICE/.test(
            error.userMessage,
          ),
        baseURL,
      );
      // Known models start; a call naming an unknown model is refused before the budget store or the provider.
      const { parts } = await build({ ...base, OPENAI_MODEL: 'gpt-4o-mini', OPENAI_EMBEDDING_MODEL: '' });
      const calls = fake.chatCalls().length;
      const scope = { workspaceId: `T0HOSTED${index}`, channelId: `C0HOSTED${index}` };
      const error = await parts.gateway
        .chat(chat('hi', { model: localModel }), scope)
        .catch((caught: unknown) => caught);
      assert.ok(error instanceof DeskhandError, baseURL);
      assert.equal(error.code, 'configuration');
      assert.match(error.userMessage, /^Deskhand has no price for the model "llama3\.1:8b".*MODEL_PRICES_JSON/);
      assert.equal(fake.chatCalls().length, calls, 'the model was not called');
      const status = await parts.budgets.status(scope.workspaceId, scope.channelId);
      assert.equal(status.windows[0]?.reservedMicroUsd, 0);
    }
  });

  function configurationFor(environment: Record<string, string>) {
    const loaded = loadConfiguration({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: 'signing-secret-123',
      OPENAI_API_KEY: 'sk-test',
      REDIS_KEY_PREFIX: keyPrefix,
      ...environment,
    });
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.join('\n'));
    return loaded.configuration;
  }

  function dependencies() {
    return {
      openai: new OpenAI({ apiKey: 'sk-test', baseURL: fake.baseURL }),
      redis,
      metrics: createMetricsRegistry(),
      logger: createSilentLogger(),
    };
  }
});
