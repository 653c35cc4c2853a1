import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChatRequest } from '../../src/ports/language-model.ts';
import { createHarness, type Harness, scope, userMessage } from './gateway-harness.ts';

describe('response cache', () => {
  let harness: Harness;
  before(async () => {
    harness = await createHarness();
  });
  after(async () => harness.cleanup());

  const request = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
    purpose: 'answer',
    promptVersion: '1',
    messages: userMessage(content),
    maxOutputTokens: 50,
    ...extra,
  });

  test('serves a repeated deterministic call from the cache at no cost and records the savings', async () => {
    harness.fake?.enqueueChat({ content: 'cached answer' });
    const first = await harness.gateway.chat(request('What is our refund policy?'), scope('C1', 'T1'));
    const second = await harness.gateway.chat(request('What is our refund policy?'), scope('C1', 'T1'));
    assert.equal(first.fromCache, false);
    assert.ok(first.costMicroUsd > 0);
    assert.equal(second.fromCache, true);
    assert.equal(second.text, 'cached answer');
    assert.equal(second.costMicroUsd, 0);
    assert.equal(second.savedMicroUsd, first.costMicroUsd);
    assert.equal(harness.fake?.chatCalls().length, 1);
    const status = await harness.budgets.status('T1', 'C1');
    assert.equal(status.windows[0]?.savedMicroUsd, first.costMicroUsd);
    assert.equal(status.windows[0]?.spentMicroUsd, first.costMicroUsd);
    const metrics = await harness.metrics.getSingleMetricAsString('deskhand_llm_cache_requests_total');
    assert.match(metrics, /channel="C1",result="hit"} 1/);
    assert.match(metrics, /channel="C1",result="miss"} 1/);
  });

  test('never serves one channel’s or one workspace’s entry to another', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ content: 'for C2' }, { content: 'for C3' }, { content: 'for T9' });
    const prompt = request('Summarise the private incident report');
    const a = await harness.gateway.chat(prompt, scope('C2', 'T1'));
    const b = await harness.gateway.chat(prompt, scope('C3', 'T1'));
    const c = await harness.gateway.chat(prompt, scope('C2', 'T9'));
    assert.deepEqual(
      [a, b, c].map((result) => [result.text, result.fromCache]),
      [
        ['for C2', false],
        ['for C3', false],
        ['for T9', false],
      ],
    );
    assert.equal(harness.fake?.chatCalls().length, 3);
  });

  test('a new index version (cacheScope) misses', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ content: 'from index v1' }, { content: 'from index v2' });
    const prompt = request('How do I reset a password?');
    const v1 = await harness.gateway.chat(prompt, { ...scope('C4', 'T1'), cacheScope: 'docs:public|index:v1' });
    const v1Again = await harness.gateway.chat(prompt, { ...scope('C4', 'T1'), cacheScope: 'docs:public|index:v1' });
    const v2 = await harness.gateway.chat(prompt, { ...scope('C4', 'T1'), cacheScope: 'docs:public|index:v2' });
    assert.equal(v1.fromCache, false);
    assert.equal(v1Again.fromCache, true);
    assert.equal(v1Again.text, 'from index v1');
    assert.equal(v2.fromCache, false);
    assert.equal(v2.text, 'from index v2');
  });

  test('does not cache temperature > 0, calls with tools, truncated replies or errors', async () => {
    harness.fake?.reset();
    const tools = [{ name: 'lookup', description: 'Looks up', parameters: { type: 'object', properties: {} } }];
    const cases: Array<[ChatRequest, Parameters<NonNullable<Harness['fake']>['enqueueChat']>[0]]> = [
      [request('warm', { temperature: 0.7 }), { content: 'warm' }],
      [request('tools', { tools }), { content: 'tools' }],
      [request('truncated'), { content: 'cut', finishReason: 'length' }],
      [request('errored'), { fault: 'bad_request' }],
    ];
    for (const [chatRequest, reply] of cases) {
      harness.fake?.enqueueChat(reply);
      await harness.gateway.chat(chatRequest, scope('C5', 'T1')).catch(() => undefined);
      harness.fake?.enqueueChat({ content: 'fresh' });
      const again = await harness.gateway.chat(chatRequest, scope('C5', 'T1'));
      assert.equal(again.fromCache, false, `cached: ${chatRequest.messages[0]?.content}`);
    }
  });

  test('serves a cached reply even when the channel has no budget left, and refuses a new prompt', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ content: 'answer before the cap' });
    const prompt = request('Which plan includes SSO?');
    await harness.gateway.chat(prompt, scope('C7', 'T1'));
    await harness.budgets.setChannelCap('T1', 'C7', 'daily', 0);
    const hit = await harness.gateway.chat(prompt, scope('C7', 'T1'));
    assert.equal(hit.fromCache, true);
    const refused = await harness.gateway
      .chat(request('A new question'), scope('C7', 'T1'))
      .catch((error: unknown) => error);
    assert.equal((refused as { code?: string }).code, 'over_budget');
    assert.equal(harness.fake?.chatCalls().length, 1);
  });

  test('treats a corrupt entry as a miss and replaces it', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ content: 'fresh answer' });
    const prompt = request('Corrupt me');
    const key = harness.cache.keyFor(prompt, 'gpt-4o-mini', scope('C8', 'T1'));
    await harness.redis.set(key, '{not json', 'EX', 60);
    const result = await harness.gateway.chat(prompt, scope('C8', 'T1'));
    assert.equal(result.fromCache, false);
    assert.equal(result.text, 'fresh answer');
    assert.equal(harness.cache.decode((await harness.redis.get(key)) ?? '')?.text, 'fresh answer');
  });

  test('a repeat sent the moment a miss returns is served from the cache, even right after Redis lost its scripts', async () => {
    // The gateway returns before Redis answers the settle script that stores the entry. Redis runs one connection's
    // commands in order, so the repeat's lookup still sees the entry, provided the settle goes out at once. After a
    // restart or failover Redis has no scripts: an EVALSHA → NOSCRIPT → EVAL retry would send the store after the
    // repeat's lookup. A fresh connection after SCRIPT FLUSH is that situation.
    await harness.redis.script('FLUSH');
    const fresh = await createHarness({
      baseURL: harness.fake?.baseURL ?? '',
      keyPrefix: `${harness.keyPrefix}fresh:`,
    });
    try {
      harness.fake?.reset();
      harness.fake?.enqueueChat({ content: 'stored at once' });
      const prompt = request('Is the API rate limited per key?');
      const first = await fresh.gateway.chat(prompt, scope('C9', 'T1'));
      const repeat = await fresh.gateway.chat(prompt, scope('C9', 'T1'));
      assert.deepEqual([first.fromCache, repeat.fromCache, repeat.text], [false, true, 'stored at once']);
      assert.equal(harness.fake?.chatCalls().length, 1);
    } finally {
      await fresh.cleanup();
    }
  });

  test('a time-sensitive entry gets the shorter TTL', async () => {
    harness.fake?.enqueueChat({ content: 'today' });
    const prompt = request('What is on the status page today?', { cache: { enabled: true, timeSensitive: true } });
    await harness.gateway.chat(prompt, scope('C6', 'T1'));
    const ttl = await harness.redis.ttl(harness.cache.keyFor(prompt, 'gpt-4o-mini', scope('C6', 'T1')));
    assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`);
  });
});
