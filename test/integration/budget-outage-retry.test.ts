/**
 * Issue 17: a brief Redis outage turned in-flight answers into final "I cannot check the budget" refusals. The
 * gateway now asks the budget store again with backoff (250 ms … 4 s, about 7.75 s in all) before refusing. Against
 * a Redis of this test's own (port 7205), killed and restarted: a call made while it is down is answered once it is
 * back, with one provider call, and charged; a store that stays down is still refused (fail closed), after
 * the bounded wait; a refusal by a cap is not retried.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeskhandError } from '../../src/errors.ts';
import { defaultBudgetOutageDelaysMs } from '../../src/llm/budget-outage-retry.ts';
import type { ChatRequest } from '../../src/ports/language-model.ts';
import { RedisProcess, waitUntil } from '../support/redis-process.ts';
import { createHarness, type Harness, scope, userMessage } from './gateway-harness.ts';

const server = new RedisProcess(7205);
let harness: Harness;

const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  purpose: 'test',
  promptVersion: '1',
  messages: userMessage('How do refunds work?'),
  maxOutputTokens: 20,
  cache: { enabled: false },
  deadline: Date.now() + 30_000,
  ...extra,
});

async function failure(promise: Promise<unknown>): Promise<DeskhandError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof DeskhandError, `expected a DeskhandError, got ${String(error)}`);
  return error;
}

const totalWaitMs = defaultBudgetOutageDelaysMs.reduce((sum, delay) => sum + delay, 0);

before(async () => {
  await server.start();
  harness = await createHarness({ redisUrl: server.url, commandTimeoutMs: 1_000 });
  harness.redis.on('error', () => {});
  harness.gateway.countChatTokens(request());
});

after(async () => {
  await server.start();
  await waitUntil(() => harness.redis.status === 'ready');
  await harness?.cleanup();
  await server.stop();
});

beforeEach(() => {
  harness.fake?.reset();
});

describe('a budget check during a Redis outage', () => {
  test('is asked again until Redis is back, then the call is answered once and charged', async () => {
    harness.fake?.enqueueChat({ content: 'Refunds take 5 days.' });
    await server.kill();
    const started = performance.now();
    const answered = harness.gateway.chat(request(), scope('C0OUTAGE'));
    await sleep(1_500);
    assert.equal(harness.fake?.chatCalls().length, 0, 'no provider call while the budget cannot be checked');
    await server.start();
    const result = await answered;
    const elapsedMs = performance.now() - started;
    assert.equal(result.text, 'Refunds take 5 days.');
    assert.equal(harness.fake?.chatCalls().length, 1, 'exactly one provider call');
    assert.ok(elapsedMs >= 1_500 && elapsedMs < totalWaitMs, `answered after ${Math.round(elapsedMs)} ms`);
    assert.ok(result.costMicroUsd > 0, 'the answered call was charged');
  });

  test('is refused as budget_unenforceable when Redis stays down past the bounded wait (fail closed)', async () => {
    harness.fake?.enqueueChat({ content: 'must not be reached' });
    await server.kill();
    try {
      const started = performance.now();
      const error = await failure(harness.gateway.chat(request(), scope('C0DOWN')));
      const elapsedMs = performance.now() - started;
      assert.equal(error.code, 'budget_unenforceable');
      assert.ok(elapsedMs >= totalWaitMs, `refused after ${Math.round(elapsedMs)} ms, before the wait was over`);
      assert.ok(elapsedMs < totalWaitMs + 6 * 1_000 + 2_000, `refused after ${Math.round(elapsedMs)} ms`);
      assert.equal(harness.fake?.chatCalls().length, 0);
    } finally {
      await server.start();
      await waitUntil(() => harness.redis.status === 'ready');
    }
  });

  test('does not wait past the call deadline', async () => {
    await server.kill();
    try {
      const started = performance.now();
      const error = await failure(harness.gateway.chat(request({ deadline: Date.now() + 1_000 }), scope('C0LATE')));
      const elapsedMs = performance.now() - started;
      assert.equal(error.code, 'budget_unenforceable');
      assert.ok(elapsedMs < 2_500, `refused after ${Math.round(elapsedMs)} ms, past the 1 s deadline`);
    } finally {
      await server.start();
      await waitUntil(() => harness.redis.status === 'ready');
    }
  });

  test('a refusal by a cap is final at once, not retried', async () => {
    await harness.budgets.setChannelCap('T0TEST', 'C0CAPPED', 'daily', 0);
    const started = performance.now();
    const error = await failure(harness.gateway.chat(request(), scope('C0CAPPED')));
    assert.equal(error.code, 'over_budget');
    assert.ok(performance.now() - started < (defaultBudgetOutageDelaysMs[0] ?? 0), 'refused without waiting');
  });
});
