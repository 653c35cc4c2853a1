import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DeskhandError } from '../../src/errors.ts';
import { CircuitBreaker } from '../../src/llm/circuit-breaker.ts';
import { readLedger } from '../../src/llm/ledger.ts';
import type { ChatRequest } from '../../src/ports/language-model.ts';
import { createHarness, type Harness, scope, userMessage } from './gateway-harness.ts';

const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  purpose: 'test',
  promptVersion: '1',
  messages: userMessage('Hello'),
  maxOutputTokens: 20,
  cache: { enabled: false },
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

describe('upstream errors and deadlines', () => {
  let harness: Harness;
  let now = 0;
  const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 5_000, now: () => Date.now() + now });
  before(async () => {
    harness = await createHarness({ breaker });
    // Load the tokenizer's encoder once, so timings below measure the call path, not WASM start-up.
    harness.gateway.countChatTokens(request());
  });
  after(async () => harness.cleanup());

  test('insufficient_quota fails fast without a retry', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ fault: 'insufficient_quota' }, { content: 'must not be reached' });
    const started = Date.now();
    const error = await failure(harness.gateway.chat(request(), scope()));
    assert.equal(error.code, 'upstream_quota_exhausted');
    assert.equal(error.retryable, false);
    assert.equal(harness.fake?.chatCalls().length, 1);
    // The call count proves there was no retry; the time only guards against waiting out a backoff or the deadline.
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });

  test('a 4xx other than 408, 409 and 429 is not retried', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ fault: 'server_error', status: 400 }, { content: 'must not be reached' });
    const error = await failure(harness.gateway.chat(request(), scope()));
    assert.equal(error.details.status, 400);
    assert.equal(harness.fake?.chatCalls().length, 1);
  });

  for (const status of [408, 409]) {
    test(`one ${status} then success: the SDK retries it and the call is charged once`, async () => {
      harness.fake?.reset();
      harness.fake?.enqueueChat({ fault: 'server_error', status }, { content: `after ${status}` });
      const channel = `C0RETRY${status}`;
      const result = await harness.gateway.chat(request({ deadline: Date.now() + 20_000 }), scope(channel));
      assert.equal(result.text, `after ${status}`);
      assert.equal(harness.fake?.chatCalls().length, 2);
      await harness.gateway.flush();
      const daily = (await harness.budgets.status('T0TEST', channel)).windows[0];
      assert.ok(result.costMicroUsd > 0);
      assert.equal(daily?.spentMicroUsd, result.costMicroUsd, 'charged once, for the attempt that answered');
      assert.equal(daily?.reservedMicroUsd, 0);
      const { entries } = await readLedger(harness.ledger.directory);
      assert.equal(entries.filter((entry) => entry.channelId === channel).length, 1);
    });
  }

  test('a 429 with retry-after is honoured within the deadline', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ fault: 'rate_limit', retryAfterSeconds: 1 }, { content: 'after waiting' });
    const started = Date.now();
    const result = await harness.gateway.chat(request({ deadline: Date.now() + 20_000 }), scope());
    const elapsed = Date.now() - started;
    assert.equal(result.text, 'after waiting');
    assert.equal(harness.fake?.chatCalls().length, 2);
    const calls = harness.fake?.calls ?? [];
    const waited = (calls[1]?.at ?? 0) - (calls[0]?.at ?? 0);
    assert.ok(waited >= 950, `retried after ${waited} ms`);
    assert.ok(elapsed < 20_000, `took ${elapsed} ms`);
  });

  test('a 429 whose retry-after does not fit the deadline fails at once as rate limited', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ fault: 'rate_limit', retryAfterSeconds: 30 }, { content: 'too late' });
    const started = Date.now();
    const error = await failure(harness.gateway.chat(request({ deadline: Date.now() + 10_000 }), scope()));
    assert.equal(error.code, 'upstream_rate_limited');
    assert.equal(error.details.retryAfterMs, 30_000);
    assert.equal(harness.fake?.chatCalls().length, 1);
    assert.ok(Date.now() - started < 9_000, 'must not wait out the deadline');
  });

  test('a hanging provider ends in deadline_exceeded by the deadline and frees the reservation', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ fault: 'hang' });
    const started = Date.now();
    const error = await failure(harness.gateway.chat(request({ deadline: Date.now() + 600 }), scope('C0HANG')));
    assert.equal(error.code, 'deadline_exceeded');
    assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
    const daily = (await harness.budgets.status('T0TEST', 'C0HANG')).windows[0];
    assert.equal(daily?.reservedMicroUsd, 0);
    assert.equal(daily?.spentMicroUsd, 0);
  });

  test('a caller that aborts gets cancelled and its reservation is released', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ fault: 'hang' });
    const controller = new AbortController();
    const pending = failure(harness.gateway.chat(request({ signal: controller.signal }), scope('C0CANCEL')));
    // Abort once the request reached the fake, so it cannot arrive later and consume another test's script.
    while ((harness.fake?.chatCalls().length ?? 0) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    const error = await pending;
    assert.equal(error.code, 'cancelled');
    const daily = (await harness.budgets.status('T0TEST', 'C0CANCEL')).windows[0];
    assert.equal(daily?.reservedMicroUsd, 0);
    assert.equal(daily?.spentMicroUsd, 0);
  });

  test('a malformed JSON body is an invalid response', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ fault: 'malformed_json' });
    const error = await failure(harness.gateway.chat(request(), scope()));
    assert.equal(error.code, 'upstream_invalid_response');
  });

  test('the breaker opens after consecutive failures, fails fast, and closes when the provider recovers', async () => {
    harness.fake?.reset();
    // A deadline under 1.5 s leaves no room for an SDK retry, so each failing call is exactly one 500.
    harness.fake?.enqueueChat(...Array.from({ length: 9 }, () => ({ fault: 'server_error' as const })));
    for (let index = 0; index < 3; index += 1) {
      const error = await failure(harness.gateway.chat(request({ deadline: Date.now() + 1_400 }), scope()));
      assert.equal(error.code, 'upstream_unavailable');
    }
    assert.equal(harness.gateway.circuitState, 'open');
    const callsWhenOpened = harness.fake?.chatCalls().length;
    const fast = await failure(harness.gateway.chat(request(), scope()));
    assert.equal(fast.code, 'upstream_unavailable');
    assert.equal(fast.details.circuit, 'open');
    assert.equal(harness.fake?.chatCalls().length, callsWhenOpened);
    harness.fake?.reset();
    harness.fake?.enqueueChat({ content: 'recovered' });
    now += 5_001;
    const probe = await harness.gateway.chat(request(), scope());
    assert.equal(probe.text, 'recovered');
    assert.equal(harness.gateway.circuitState, 'closed');
  });

  test('an invalid request is refused before any model call', async () => {
    harness.fake?.reset();
    const error = await failure(harness.gateway.chat(request({ maxOutputTokens: 0, messages: [] }), scope()));
    assert.equal(error.code, 'invalid_input');
    assert.match(error.message, /messages must not be empty; maxOutputTokens must be a positive integer/);
    assert.equal(harness.fake?.chatCalls().length, 0);
  });

  test('an unpriced model is a configuration error', async () => {
    const error = await failure(harness.gateway.chat(request({ model: 'gpt-4o-mystery' }), scope()));
    assert.equal(error.code, 'configuration');
  });
});
