/**
 * Exactly one reply across a crash (issue 17 item 4): a run that posted its first output — the "Searching…"
 * placeholder, or a stream it left open — and then died is re-run by the sweeper, and the re-run finishes in that
 * same message (its ts kept with the durable work item, `replyTs`) instead of posting a second reply beside a
 * half-written one. Real Redis, durable work, the in-process work side and router, the real SlackMessenger against
 * the fake Slack Web API (spec- and limit-checked).
 *
 * The death: the first run's capability posts, then waits forever while its `route` call fails as interrupted —
 * what the work pool reports when a work thread dies (src/work/work-errors.ts) — so the item is left to the sweeper.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { CapabilityHandler, IncomingRequest } from '../../src/ports/capability.ts';
import type { ReplyAnchors } from '../../src/ports/reply-anchor.ts';
import { RedisThreadMemory } from '../../src/router/thread-memory.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { BackgroundJobs } from '../../src/work/background-jobs.ts';
import { DeliveryDeduplicator } from '../../src/work/dedupe.ts';
import { DurableWork } from '../../src/work/durable-work.ts';
import { RedisReplyAnchors } from '../../src/work/reply-anchors.ts';
import { createInProcessWork, type Work } from '../../src/work/work.ts';
import { WorkInterruptedError } from '../../src/work/work-errors.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

const keyPrefix = `test:${randomUUID()}:`;
const channel = 'C0RESUME';
const placeholder = 'Searching the documents this channel can see…';
const answer = 'Orders ship within 5 days. Tracking links arrive by email once the parcel leaves.';

let redis: Redis;
let slack: FakeSlackWebApi;
let messenger: SlackMessenger;

before(async () => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  slack = await FakeSlackWebApi.start();
  messenger = new SlackMessenger({
    client: createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 5000 }),
    logger: createSilentLogger(),
    postIntervalMs: 20,
    messageUpdateIntervalMs: 20,
    stream: { flushIntervalMs: 20 },
  });
});
beforeEach(() => slack.reset());
afterEach(() => slack.expectNoViolations());
after(async () => {
  await messenger.drain();
  await slack.close();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/**
 * Runs one mention through durable work: the first run calls `firstRun` (which posts and then never ends) and
 * "dies" once `died` resolves; the sweeper's re-run calls `reRun`. Resolves once the item is finished.
 */
async function crashAndReRun(options: {
  firstRun: CapabilityHandler;
  reRun: CapabilityHandler;
  died: () => Promise<unknown>;
  anchors: ReplyAnchors | undefined;
}) {
  const logger = createSilentLogger();
  const registry = createMetricsRegistry();
  const parent = slack.addMessage({ channel, user: 'W222', text: '<@U0BOT> ask where is my order?' });
  let runs = 0;
  const inner = createInProcessWork({
    messenger,
    gateway: new ScriptedModel(),
    threads: new RedisThreadMemory({ redis, keyPrefix }),
    logger,
    registry,
    classifierModel: 'gpt-4o-mini',
    threadContextTokens: 1000,
    encoding: 'o200k_base',
    capabilities: { question: (request, reply) => (runs === 1 ? options.firstRun : options.reRun)(request, reply) },
    ...(options.anchors ? { replyAnchors: options.anchors } : {}),
  });
  const work: Work = {
    ...inner,
    async route(request) {
      runs += 1;
      if (runs > 1) return inner.route(request);
      void inner.route(request);
      await options.died();
      throw new WorkInterruptedError('work thread exited with code 1');
    },
  };
  const dedupe = new DeliveryDeduplicator({ redis, keyPrefix, leaseMs: 30_000 });
  const durable = new DurableWork({
    redis,
    keyPrefix,
    dedupe,
    jobs: new BackgroundJobs({ logger, registry }),
    work,
    logger,
    registry,
    leaseMs: 30_000,
    notify: async () => assert.fail('nothing is given up'),
  });
  const request: IncomingRequest = {
    origin: 'mention',
    workspaceId: 'T111',
    channelId: channel,
    userId: 'W222',
    text: 'ask where is my order?',
    messageTs: parent.ts,
    requestId: `Ev-${randomUUID()}`,
  };
  const deliveryId = request.requestId;
  const claimed = await dedupe.claim(deliveryId);
  if (claimed.status !== 'claimed') throw new Error('not claimed');
  const { finished } = await durable.dispatch(deliveryId, 'mention', { kind: 'route', request }, claimed.claim);
  await finished;
  const saved = (await durable.stored(deliveryId))?.replyTs;
  assert.equal(await durable.sweep(), 1, 'the interrupted item is re-run at once');
  for (let tries = 0; tries < 200 && (await durable.stored(deliveryId)); tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(await durable.stored(deliveryId), undefined, 'the re-run finished the item');
  assert.equal(runs, 2);
  await messenger.drain();
  const replies = slack.thread(channel, parent.ts).filter((message) => message.ts !== parent.ts);
  return { replies, saved };
}

const never = () => new Promise<never>(() => {});

const placeholderThenAnswer: CapabilityHandler = async (_request, reply) => {
  const posted = await reply.post({ text: placeholder });
  await reply.update(posted.ts, { text: answer });
  return { kind: 'posted' };
};

describe('a re-run after a crash resumes the reply it had started', () => {
  test('the placeholder the first run posted becomes the answer: one message, complete', async () => {
    const anchors = new RedisReplyAnchors({ redis, keyPrefix, logger: createSilentLogger() });
    const { replies, saved } = await crashAndReRun({
      anchors,
      firstRun: async (_request, reply) => {
        await reply.post({ text: placeholder });
        return never();
      },
      died: () => slack.waitForCalls('chat.postMessage', 1),
      reRun: placeholderThenAnswer,
    });
    assert.equal(replies.length, 1, `one reply in the thread, got: ${replies.map((m) => m.text).join(' | ')}`);
    assert.equal(replies[0]?.ts, saved, "the reply is the first run's message, whose ts was kept with the item");
    assert.equal(replies[0]?.text, answer);
    assert.equal(slack.callsTo('chat.postMessage').length, 1, 'never posted a second time');
  });

  test("a stream the first run left open is stopped and rewritten with the re-run's answer", async () => {
    const anchors = new RedisReplyAnchors({ redis, keyPrefix, logger: createSilentLogger() });
    const { replies, saved } = await crashAndReRun({
      anchors,
      firstRun: async (_request, reply) => {
        const stream = await reply.startStream();
        stream.append('Orders ship within');
        return never();
      },
      died: () => slack.waitForCalls('chat.startStream', 1),
      reRun: async (_request, reply) => {
        const stream = await reply.startStream();
        stream.append(answer);
        await stream.stop({ text: answer });
        return { kind: 'posted' };
      },
    });
    assert.equal(replies.length, 1, `one reply in the thread, got: ${replies.map((m) => m.text).join(' | ')}`);
    assert.equal(replies[0]?.ts, saved);
    assert.equal(replies[0]?.text, answer, 'the half-written stream holds the complete answer');
    assert.equal(replies[0]?.streaming?.stopped, true, 'the stream left open was stopped');
    assert.equal(slack.callsTo('chat.startStream').length, 1, 'no second stream');
    assert.equal(slack.callsTo('chat.postMessage').length, 0);
  });

  test('a placeholder resumed by a streamed answer: the stream continues in the placeholder', async () => {
    const anchors = new RedisReplyAnchors({ redis, keyPrefix, logger: createSilentLogger() });
    const { replies } = await crashAndReRun({
      anchors,
      firstRun: async (_request, reply) => {
        await reply.post({ text: placeholder });
        return never();
      },
      died: () => slack.waitForCalls('chat.postMessage', 1),
      reRun: async (_request, reply) => {
        const stream = await reply.startStream();
        stream.append(answer);
        await stream.stop({ text: answer });
        return { kind: 'posted' };
      },
    });
    assert.equal(replies.length, 1);
    assert.equal(replies[0]?.text, answer);
    assert.ok(!replies.some((message) => message.text.includes('Searching')), 'no placeholder left');
  });

  test('a saved message Slack no longer has: the re-run posts anew and keeps the new message', async () => {
    const anchors = new RedisReplyAnchors({ redis, keyPrefix, logger: createSilentLogger() });
    let deleted = '';
    const { replies, saved } = await crashAndReRun({
      anchors,
      firstRun: async (_request, reply) => {
        deleted = (await reply.post({ text: placeholder })).ts;
        return never();
      },
      died: async () => {
        await slack.waitForCalls('chat.postMessage', 1);
        slack.inject('chat.update', { kind: 'platform_error', error: 'message_not_found' });
      },
      reRun: placeholderThenAnswer,
    });
    assert.equal(saved, deleted);
    assert.equal(slack.callsTo('chat.postMessage').length, 2, 'posted anew after the refused edit');
    assert.equal(replies.at(-1)?.text, answer);
  });

  test('without anchors the re-run opens a second reply (what the anchor prevents)', async () => {
    const { replies } = await crashAndReRun({
      anchors: undefined,
      firstRun: async (_request, reply) => {
        await reply.post({ text: placeholder });
        return never();
      },
      died: () => slack.waitForCalls('chat.postMessage', 1),
      reRun: placeholderThenAnswer,
    });
    assert.deepEqual(
      replies.map((message) => message.text),
      [placeholder, answer],
    );
  });
});
