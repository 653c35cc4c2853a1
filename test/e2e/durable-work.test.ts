/**
 * Durable hand-off of acknowledged work, in-process against the fakes and a real Redis: the ack is sent only
 * after the work item is stored; a store failure is not acknowledged; finished items are deleted; work whose
 * worker died is re-run by the sweeper, and given up (with a message to the user) after the last attempt.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { actions } from '../../src/slack-kit/ids.ts';
import { BackgroundJobs } from '../../src/work/background-jobs.ts';
import { DeliveryDeduplicator } from '../../src/work/dedupe.ts';
import { DurableWork, type WorkUnit } from '../../src/work/durable-work.ts';
import type { ActionRequest } from '../../src/work/requests.ts';
import type { Work } from '../../src/work/work.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const handled: CapabilityRequest[] = [];
const clicks: ActionRequest[] = [];
/** When set, the question capability waits for it before answering. */
let gate: Promise<void> | undefined;

let harness: AppHarness;

before(async () => {
  harness = await startAppHarness({
    capabilities: {
      question: async (request) => {
        handled.push(request);
        await gate;
        return { kind: 'reply', text: `answer to ${request.text}` };
      },
    },
    interactions: {
      actions: {
        [actions.ticketDiscard]: async (request) => {
          clicks.push(request);
          return { kind: 'reply', text: 'Discarded.' };
        },
      },
    },
  });
});

after(async () => {
  await harness?.close();
});

beforeEach(() => {
  handled.length = 0;
  clicks.length = 0;
  gate = undefined;
  harness.slack.reset();
  harness.openai.reset();
});

async function settled(): Promise<void> {
  await sleep(20);
  assert.equal(await harness.app.jobs.drain(10_000), true, 'background work did not finish');
}

const pendingKey = () => `${harness.keyPrefix}{work}:pending`;

/** Makes the next `MULTI … EXEC` on the app's Redis connection slow or failing, until restored. */
function interceptTransactions(redis: Redis, behaviour: { delayMs?: number; fail?: boolean }): () => void {
  const original = redis.multi;
  const patched = function (this: Redis, ...args: unknown[]) {
    const transaction = (original as (...a: unknown[]) => ReturnType<Redis['multi']>).apply(this, args);
    const exec = transaction.exec.bind(transaction);
    transaction.exec = (async () => {
      if (behaviour.delayMs) await sleep(behaviour.delayMs);
      if (behaviour.fail) {
        transaction.discard();
        throw new Error('READONLY You cannot write against a read only replica (scripted)');
      }
      return exec();
    }) as typeof transaction.exec;
    return transaction;
  };
  redis.multi = patched as unknown as Redis['multi'];
  return () => {
    redis.multi = original;
  };
}

/** A work side that never finishes: the job of a process that froze or died mid-work. */
const frozenWork: Work = {
  route: () => new Promise(() => {}),
  reaction: () => new Promise(() => {}),
  action: () => new Promise(() => {}),
  view: () => new Promise(() => {}),
  fileShared: () => new Promise(() => {}),
  assistantThread: () => new Promise(() => {}),
  homeOpened: () => new Promise(() => {}),
  setIdentity: () => {},
  ready: async () => true,
  close: async () => {},
};

/**
 * Stores `unit` the way a listener does, in an instance that then dies: its claim (300 ms lease) is never renewed
 * nor completed, its job never ends.
 */
async function dispatchAndDie(deliveryId: string, unit: WorkUnit): Promise<void> {
  const deadDedupe = new DeliveryDeduplicator({ redis: harness.redis, keyPrefix: harness.keyPrefix, leaseMs: 300 });
  const outcome = await deadDedupe.claim(deliveryId);
  assert.equal(outcome.status, 'claimed');
  if (outcome.status !== 'claimed') return;
  const logger = createSilentLogger();
  const registry = createMetricsRegistry();
  const dead = new DurableWork({
    redis: harness.redis,
    keyPrefix: harness.keyPrefix,
    dedupe: deadDedupe,
    jobs: new BackgroundJobs({ logger, registry }),
    work: frozenWork,
    logger,
    registry,
    leaseMs: 300,
    notify: async () => {},
  });
  await dead.dispatch(deliveryId, 'mention', unit, { ...outcome.claim, renew: async () => 'held' as const });
}

function mentionUnit(request: ReturnType<typeof slackPayloads.appMention>): WorkUnit {
  const event = request.payload.event as { ts: string; channel: string; user: string; text: string };
  return {
    kind: 'route',
    request: {
      origin: 'mention',
      workspaceId: 'T111',
      channelId: event.channel,
      userId: event.user,
      text: 'How do refunds work?',
      messageTs: event.ts,
      requestId: `event:${String(request.payload.event_id)}`,
    },
  };
}

describe('durable work: stored before the ack', () => {
  test('a mention is stored before the 200, deleted once answered, and a redelivery afterwards does nothing', async () => {
    let open: () => void = () => {};
    gate = new Promise((resolve) => {
      open = resolve;
    });
    const request = slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' });
    const deliveryId = `event:${String(request.payload.event_id)}`;
    const response = await harness.driver.send(request);
    assert.equal(response.status, 200);

    // The answer is still being worked on: the item is in Redis, listed as pending.
    const item = await harness.app.durable.stored(deliveryId);
    assert.equal(item?.kind, 'route');
    assert.equal(item?.attempts, 1);
    assert.equal(item?.kind === 'route' ? item.request.channelId : undefined, 'C111');
    assert.notEqual(await harness.redis.zscore(pendingKey(), deliveryId), null);

    open();
    await settled();
    assert.equal(harness.slack.callsTo('chat.postMessage').length, 1);
    assert.equal(await harness.redis.exists(harness.app.durable.itemKey(deliveryId)), 0, 'item deleted');
    assert.equal(await harness.redis.zscore(pendingKey(), deliveryId), null, 'no longer pending');

    const redelivery = await harness.driver.send(request, { retryNum: 1, retryReason: 'http_timeout' });
    await settled();
    assert.equal(redelivery.status, 200);
    assert.equal(handled.length, 1, 'the redelivery ran nothing');
    assert.equal(harness.slack.callsTo('chat.postMessage').length, 1);
    assert.equal(await harness.redis.exists(harness.app.durable.itemKey(deliveryId)), 0, 'no item re-created');
  });

  test('the ack of a button click is sent only after the click is stored', async () => {
    const restore = interceptTransactions(harness.redis, { delayMs: 400 });
    let response: Awaited<ReturnType<typeof harness.driver.send>>;
    try {
      response = await harness.driver.send(slackPayloads.blockActions({ actionId: actions.ticketDiscard }));
    } finally {
      restore();
    }
    assert.equal(response.status, 200);
    assert.ok(response.latencyMs >= 400, `the ack came after ${response.latencyMs} ms, before the 400 ms store`);
    await settled();
    assert.equal(clicks.length, 1);
    assert.equal(harness.slack.callsTo('chat.postEphemeral').length, 1);
  });

  test('a click that cannot be stored is not acknowledged (500), runs nothing, and a second click works', async () => {
    const click = slackPayloads.blockActions({ actionId: actions.ticketDiscard });
    const restore = interceptTransactions(harness.redis, { fail: true });
    let refused: Awaited<ReturnType<typeof harness.driver.send>>;
    try {
      refused = await harness.driver.send(click);
    } finally {
      restore();
    }
    await settled();
    assert.equal(refused.status, 500, 'Slack shows the click as failed instead of a silent ack');
    assert.equal(clicks.length, 0, 'nothing ran');
    assert.equal(harness.slack.calls.length, 0);

    // The claim was released, so the same payload (a retry) is processed once Redis accepts writes again.
    const retried = await harness.driver.send(click);
    await settled();
    assert.equal(retried.status, 200);
    assert.equal(clicks.length, 1);
  });

  test('an event that cannot be stored gets a 500 so that Slack retries it, and the retry is answered once', async () => {
    const request = slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' });
    const restore = interceptTransactions(harness.redis, { fail: true });
    let refused: Awaited<ReturnType<typeof harness.driver.send>>;
    try {
      refused = await harness.driver.send(request);
    } finally {
      restore();
    }
    await settled();
    assert.equal(refused.status, 500);
    assert.equal(handled.length, 0);

    const retry = await harness.driver.send(request, { retryNum: 1, retryReason: 'http_error' });
    await settled();
    assert.equal(retry.status, 200);
    assert.equal(handled.length, 1);
    assert.equal(harness.slack.callsTo('chat.postMessage').length, 1);
  });
});

describe('durable work: recovery sweeper', () => {
  test('work left by a dead instance is re-run by the sweeper once its lease expired, exactly once', async () => {
    const request = slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' });
    const deliveryId = `event:${String(request.payload.event_id)}`;
    await dispatchAndDie(deliveryId, mentionUnit(request));

    assert.equal(await harness.app.durable.sweep(), 0, 'nothing is due while the dead lease still holds');
    await sleep(350);
    // Two replicas sweep at once: the delivery claim lets exactly one of them re-run it.
    const logger = createSilentLogger();
    const registry = createMetricsRegistry();
    const otherJobs = new BackgroundJobs({ logger, registry });
    const otherReplica = new DurableWork({
      redis: harness.redis,
      keyPrefix: harness.keyPrefix,
      dedupe: new DeliveryDeduplicator({ redis: harness.redis, keyPrefix: harness.keyPrefix }),
      jobs: otherJobs,
      work: harness.app.work,
      logger,
      registry,
      leaseMs: 30_000,
      notify: async () => {},
    });
    const swept = await Promise.all([harness.app.durable.sweep(), otherReplica.sweep()]);
    assert.equal(await otherJobs.drain(10_000), true);
    await settled();
    assert.equal(swept[0] + swept[1], 1, 'one replica re-ran it');
    assert.equal(handled.length, 1);
    const posts = harness.slack.callsTo('chat.postMessage');
    assert.equal(posts.length, 1, 'exactly one reply');
    assert.equal(posts[0]?.params.thread_ts, (request.payload.event as { ts: string }).ts);
    assert.equal(await harness.redis.exists(harness.app.durable.itemKey(deliveryId)), 0, 'item deleted');
    assert.equal(await harness.app.durable.sweep(), 0, 'a later sweep finds nothing');
  });

  test('after the last attempt the item is given up, the user is told in the thread, and it is not re-run', async () => {
    const request = slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' });
    const deliveryId = `event:${String(request.payload.event_id)}`;
    await dispatchAndDie(deliveryId, mentionUnit(request));
    // It has already been started (and died) as many times as allowed.
    await harness.redis.hset(harness.app.durable.itemKey(deliveryId), 'attempts', harness.app.durable.maxAttempts);
    await sleep(350);

    assert.equal(await harness.app.durable.sweep(), 1);
    await settled();
    assert.equal(handled.length, 0, 'not run again');
    const notices = harness.slack.callsTo('chat.postMessage');
    assert.equal(notices.length, 1);
    assert.equal(notices[0]?.params.channel, 'C111');
    assert.equal(notices[0]?.params.thread_ts, (request.payload.event as { ts: string }).ts);
    assert.match(String(notices[0]?.params.text), /could not complete this request/);
    assert.equal(await harness.redis.exists(harness.app.durable.itemKey(deliveryId)), 0);

    const redelivery = await harness.driver.send(request, { retryNum: 1, retryReason: 'http_timeout' });
    await settled();
    assert.equal(redelivery.status, 200);
    assert.equal(handled.length, 0, 'a redelivery after giving up does nothing');
  });
});
