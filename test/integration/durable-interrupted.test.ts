/**
 * Durable work when the work side itself fails a call (src/work/work-errors.ts), on a real Redis: an interrupted
 * call (its work thread died) is re-run by the sweeper without telling the user, so the retry's answer is the
 * only message; a call refused as busy is not retried and the requester is told why, once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { IncomingRequest } from '../../src/ports/capability.ts';
import type { RouterOutcome } from '../../src/router/router.ts';
import { BackgroundJobs } from '../../src/work/background-jobs.ts';
import { DeliveryDeduplicator } from '../../src/work/dedupe.ts';
import { DurableWork, type UndeliverableNotice } from '../../src/work/durable-work.ts';
import type { Work } from '../../src/work/work.ts';
import { WorkInterruptedError, WorkRefusedError } from '../../src/work/work-errors.ts';

const keyPrefix = `test:${randomUUID()}:`;
let redis: Redis;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});

after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const request: IncomingRequest = {
  origin: 'mention',
  workspaceId: 'T1',
  channelId: 'C1',
  userId: 'U1',
  text: 'where is my order',
  messageTs: '1700000000.000100',
  requestId: 'Ev1',
};

function durableWith(route: () => Promise<RouterOutcome>) {
  const logger = createSilentLogger();
  const registry = createMetricsRegistry();
  const dedupe = new DeliveryDeduplicator({ redis, keyPrefix, leaseMs: 30_000 });
  const jobs = new BackgroundJobs({ logger, registry });
  const notices: UndeliverableNotice[] = [];
  const work = { route } as unknown as Work;
  const durable = new DurableWork({
    redis,
    keyPrefix,
    dedupe,
    jobs,
    work,
    logger,
    registry,
    leaseMs: 30_000,
    maxAttempts: 3,
    notify: async (notice) => {
      notices.push(notice);
    },
  });
  const dispatch = async () => {
    const deliveryId = `Ev-${randomUUID()}`;
    const claimed = await dedupe.claim(deliveryId);
    assert.equal(claimed.status, 'claimed');
    if (claimed.status !== 'claimed') throw new Error('not claimed');
    const { finished } = await durable.dispatch(deliveryId, 'mention', { kind: 'route', request }, claimed.claim);
    await finished;
    return deliveryId;
  };
  return { durable, dedupe, notices, dispatch };
}

const done: RouterOutcome = { status: 'done', route: 'question', classified: true };

describe('durable work and work-side failures', () => {
  test('an interrupted call is left to the sweeper, which re-runs it at once; the user is not told', async () => {
    let calls = 0;
    const { durable, dedupe, notices, dispatch } = durableWith(async () => {
      calls += 1;
      if (calls === 1) throw new WorkInterruptedError('work thread exited with code 1');
      return done;
    });
    const deliveryId = await dispatch();
    assert.equal(calls, 1);
    assert.ok(await durable.stored(deliveryId), 'the item is kept for a retry');
    assert.equal(await durable.sweep(), 1, 'due at once, not after the 30 s lease');
    // The sweeper starts the retry in the background: wait for the item to be finished and deleted.
    for (let tries = 0; tries < 100 && (await durable.stored(deliveryId)); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(calls, 2);
    assert.equal(await durable.stored(deliveryId), undefined);
    assert.deepEqual(notices, []);
    const again = await dedupe.claim(deliveryId);
    assert.equal(again.status, 'duplicate', 'the delivery is done');
  });

  test('a call interrupted on every attempt is given up with one notice', async () => {
    let calls = 0;
    const { durable, notices, dispatch } = durableWith(async () => {
      calls += 1;
      throw new WorkInterruptedError('work thread exited with code 1');
    });
    const deliveryId = await dispatch();
    for (let sweep = 0; sweep < 10 && (await durable.stored(deliveryId)); sweep += 1) {
      await durable.sweep();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(calls, 3, 'maxAttempts starts');
    assert.equal(notices.length, 1);
    assert.match(notices[0]?.text ?? '', /could not complete this request/);
  });

  test('a call refused as busy tells the requester why, only them, and is not retried', async () => {
    let calls = 0;
    const { durable, notices, dispatch } = durableWith(async () => {
      calls += 1;
      throw new WorkRefusedError('the fair queue of T1:C1 is full', {
        userMessage: 'Deskhand is busy with 21 requests from this channel; try again in a minute.',
      });
    });
    const deliveryId = await dispatch();
    assert.deepEqual(notices, [
      {
        workspaceId: 'T1',
        channelId: 'C1',
        userId: 'U1',
        text: 'Deskhand is busy with 21 requests from this channel; try again in a minute.',
      },
    ]);
    assert.equal(await durable.stored(deliveryId), undefined);
    assert.equal(await durable.sweep(), 0);
    assert.equal(calls, 1);
  });
});
