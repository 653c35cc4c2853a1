import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { createGuardedFetch, mapOpenAIError, retryAfterMs, upstreamCallContext } from '../../src/llm/errors.ts';

const context = { deadline: Date.now() + 10_000, model: 'gpt-4o-mini' };
const apiError = (status: number, body: object, headers: Record<string, string> = {}) =>
  OpenAI.APIError.generate(status, body, undefined, new Headers(headers));

describe('mapOpenAIError', () => {
  test('maps 429 insufficient_quota to a non-retryable quota error', () => {
    const error = mapOpenAIError(
      apiError(429, { error: { type: 'insufficient_quota', code: 'insufficient_quota', message: 'x', param: null } }),
      context,
    );
    assert.equal(error.code, 'upstream_quota_exhausted');
    assert.equal(error.retryable, false);
  });

  test('maps a 429 rate limit to upstream_rate_limited with the retry-after', () => {
    const error = mapOpenAIError(
      apiError(
        429,
        { error: { type: 'requests', code: 'rate_limit_exceeded', message: 'x', param: null } },
        { 'retry-after': '7' },
      ),
      context,
    );
    assert.equal(error.code, 'upstream_rate_limited');
    assert.equal(error.details.retryAfterMs, 7000);
    assert.match(error.userMessage, /7 s/);
  });

  test('maps 5xx and connection failures to upstream_unavailable, 401 to configuration, other 4xx to internal', () => {
    assert.equal(mapOpenAIError(apiError(503, {}), context).code, 'upstream_unavailable');
    assert.equal(
      mapOpenAIError(new OpenAI.APIConnectionError({ message: 'refused' }), context).code,
      'upstream_unavailable',
    );
    assert.equal(mapOpenAIError(apiError(401, {}), context).code, 'configuration');
    assert.equal(
      mapOpenAIError(
        apiError(400, {
          error: { code: 'context_length_exceeded', message: 'x', type: 'invalid_request_error', param: null },
        }),
        context,
      ).code,
      'input_too_large',
    );
    assert.equal(mapOpenAIError(apiError(422, {}), context).code, 'internal');
  });

  test('maps an abort to cancelled when the caller aborted and to deadline_exceeded otherwise', () => {
    const controller = new AbortController();
    controller.abort();
    assert.equal(
      mapOpenAIError(new OpenAI.APIUserAbortError(), { ...context, callerSignal: controller.signal }).code,
      'cancelled',
    );
    assert.equal(mapOpenAIError(new OpenAI.APIUserAbortError(), context).code, 'deadline_exceeded');
    assert.equal(mapOpenAIError(new OpenAI.APIConnectionTimeoutError(), context).code, 'deadline_exceeded');
  });
});

describe('createGuardedFetch', () => {
  const respond = (status: number, body: object, headers: Record<string, string> = {}) =>
    (async () => new Response(JSON.stringify(body), { status, headers })) as typeof fetch;

  test('tells the SDK not to retry insufficient_quota', async () => {
    const guarded = createGuardedFetch(respond(429, { error: { code: 'insufficient_quota' } }));
    const response = await guarded('http://x');
    assert.equal(response.headers.get('x-should-retry'), 'false');
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'insufficient_quota');
  });

  test('tells the SDK not to retry a 429 whose retry-after passes the deadline, and leaves others alone', async () => {
    const guarded = createGuardedFetch(
      respond(429, { error: { code: 'rate_limit_exceeded' } }, { 'retry-after': '5' }),
    );
    const late = await upstreamCallContext.run({ deadline: Date.now() + 2_000 }, () => guarded('http://x'));
    assert.equal(late.headers.get('x-should-retry'), 'false');
    const inTime = await upstreamCallContext.run({ deadline: Date.now() + 20_000 }, () => guarded('http://x'));
    assert.equal(inTime.headers.get('x-should-retry'), null);
  });

  test('tells the SDK not to retry a 4xx such as 400, but leaves 408, 409 and 5xx to its retry loop', async () => {
    const refused = await createGuardedFetch(respond(400, { error: { code: null } }))('http://x');
    assert.equal(refused.headers.get('x-should-retry'), 'false');
    assert.equal(refused.status, 400);
    for (const status of [408, 409, 500, 503]) {
      const response = await createGuardedFetch(respond(status, { error: { code: null } }))('http://x');
      assert.equal(response.headers.get('x-should-retry'), null, String(status));
      assert.equal(response.status, status);
    }
  });

  test('reads retry-after in seconds, milliseconds and HTTP dates', () => {
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '2' })), 2000);
    assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '150' })), 150);
    const date = retryAfterMs(new Headers({ 'retry-after': new Date(Date.now() + 3000).toUTCString() })) ?? 0;
    assert.ok(date > 1000 && date <= 3000);
    assert.equal(retryAfterMs(new Headers()), undefined);
  });
});
