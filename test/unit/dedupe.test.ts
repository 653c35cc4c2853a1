import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { BackgroundJobs } from '../../src/work/background-jobs.ts';
import { DeliveryDeduplicator, deliveryIdOf } from '../../src/work/dedupe.ts';

const keyPrefix = `test:${randomUUID()}:`;
let redis: Redis;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: false, maxRetriesPerRequest: 1 });
});

after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function deduplicator(leaseMs = 5_000): DeliveryDeduplicator {
  return new DeliveryDeduplicator({ redis, keyPrefix, leaseMs, doneTtlMs: 60_000 });
}

describe('DeliveryDeduplicator', () => {
  test('the first claim wins and a redelivery while the lease is live is a duplicate in progress', async () => {
    const dedupe = deduplicator();
    const id = `event:${randomUUID()}`;
    const first = await dedupe.claim(id);
    assert.equal(first.status, 'claimed');
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'in_progress' });
  });

  test('after completion a redelivery is a duplicate that is done, even past the lease', async () => {
    const dedupe = deduplicator(100);
    const id = `event:${randomUUID()}`;
    const first = await dedupe.claim(id);
    assert.equal(first.status, 'claimed');
    if (first.status !== 'claimed') return;
    assert.equal(await first.claim.complete(), true);
    await sleep(200);
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'done' });
    const ttl = await redis.pttl(`${keyPrefix}delivery:${id}`);
    assert.ok(ttl > 50_000, `done marker keeps its own TTL, got ${ttl}`);
  });

  test('a claim whose worker died (no renewal, no completion) can be claimed again once the lease expires', async () => {
    const dedupe = deduplicator(150);
    const id = `event:${randomUUID()}`;
    assert.equal((await dedupe.claim(id)).status, 'claimed');
    assert.equal((await dedupe.claim(id)).status, 'duplicate');
    await sleep(250);
    assert.equal((await dedupe.claim(id)).status, 'claimed');
  });

  test('renewal keeps a working claim alive past its original lease', async () => {
    const dedupe = deduplicator(200);
    const id = `event:${randomUUID()}`;
    const first = await dedupe.claim(id);
    if (first.status !== 'claimed') assert.fail('expected a claim');
    for (let round = 0; round < 4; round += 1) {
      await sleep(100);
      assert.equal(await first.claim.renew(), 'held');
    }
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'in_progress' });
  });

  test('a stale worker cannot complete or release a delivery another worker has claimed since', async () => {
    const dedupe = deduplicator(100);
    const id = `event:${randomUUID()}`;
    const stale = await dedupe.claim(id);
    if (stale.status !== 'claimed') assert.fail('expected a claim');
    await sleep(200);
    const fresh = await dedupe.claim(id);
    if (fresh.status !== 'claimed') assert.fail('expected a second claim after expiry');
    assert.equal(await stale.claim.renew(), 'taken');
    assert.equal(await stale.claim.release(), false);
    assert.equal(await stale.claim.complete(), false);
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'in_progress' });
    assert.equal(await fresh.claim.complete(), true);
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'done' });
    assert.equal(await stale.claim.renew(), 'done', 'a renewal never turns a done marker back into a lease');
  });

  test('a renewal that finds no lease at all (Redis lost it) re-creates it with its own token', async () => {
    const dedupe = deduplicator(30_000);
    const id = `event:${randomUUID()}`;
    const running = await dedupe.claim(id);
    if (running.status !== 'claimed') assert.fail('expected a claim');
    await redis.del(running.claim.key);
    assert.equal(await dedupe.state(id), 'none');
    assert.equal(await running.claim.renew(), 'restored');
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'in_progress' });
    assert.equal(await running.claim.renew(), 'held', 'the re-created lease is its own');
    assert.equal(await running.claim.complete(), true);
    assert.equal(await dedupe.state(id), 'done');
  });

  test('restoreDone writes the done marker only where Redis holds nothing for the delivery', async () => {
    const dedupe = deduplicator(30_000);
    const leased = `event:${randomUUID()}`;
    assert.equal((await dedupe.claim(leased)).status, 'claimed');
    assert.equal(await dedupe.restoreDone(leased, 60_000), false);
    assert.equal(await dedupe.state(leased), 'leased');
    const lost = `event:${randomUUID()}`;
    assert.equal(await dedupe.restoreDone(lost, 60_000), true);
    assert.deepEqual(await dedupe.claim(lost), { status: 'duplicate', reason: 'done' });
  });

  test('release lets a redelivery be processed at once', async () => {
    const dedupe = deduplicator();
    const id = `event:${randomUUID()}`;
    const first = await dedupe.claim(id);
    if (first.status !== 'claimed') assert.fail('expected a claim');
    assert.equal(await first.claim.release(), true);
    assert.equal((await dedupe.claim(id)).status, 'claimed');
  });

  test('exactly one of many concurrent claims for the same delivery succeeds', async () => {
    const dedupe = deduplicator();
    const id = `event:${randomUUID()}`;
    const outcomes = await Promise.all(Array.from({ length: 25 }, () => dedupe.claim(id)));
    assert.equal(outcomes.filter((outcome) => outcome.status === 'claimed').length, 1);
  });
});

describe('deliveryIdOf', () => {
  test('uses the event id when there is one', () => {
    assert.equal(deliveryIdOf({ event_id: 'Ev123', event: { type: 'app_mention' } }), 'event:Ev123');
  });

  test('hashes payloads without an event id: equal payloads share an id, different ones do not', () => {
    const command = { command: '/ask', text: 'refunds?', trigger_id: '1.2.3' };
    assert.equal(deliveryIdOf(command), deliveryIdOf({ ...command }));
    assert.notEqual(deliveryIdOf(command), deliveryIdOf({ ...command, trigger_id: '1.2.4' }));
    assert.match(deliveryIdOf(command), /^sha256:[0-9a-f]{64}$/);
  });
});

describe('BackgroundJobs with a delivery claim', () => {
  test('renews the lease while the job runs longer than the lease, then marks the delivery done', async () => {
    const dedupe = deduplicator(150);
    const jobs = new BackgroundJobs({ logger: createSilentLogger(), registry: createMetricsRegistry() });
    const id = `event:${randomUUID()}`;
    const first = await dedupe.claim(id);
    if (first.status !== 'claimed') assert.fail('expected a claim');
    const job = jobs.run('slow', () => sleep(500), { claim: first.claim, leaseMs: 150 });
    await sleep(350);
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'in_progress' });
    await job;
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'done' });
  });

  test('a job that throws is logged, does not reject, and its delivery is still marked done', async () => {
    const dedupe = deduplicator();
    const jobs = new BackgroundJobs({ logger: createSilentLogger(), registry: createMetricsRegistry() });
    const id = `event:${randomUUID()}`;
    const first = await dedupe.claim(id);
    if (first.status !== 'claimed') assert.fail('expected a claim');
    await jobs.run(
      'boom',
      async () => {
        throw new Error('boom');
      },
      { claim: first.claim },
    );
    assert.deepEqual(await dedupe.claim(id), { status: 'duplicate', reason: 'done' });
    assert.equal(jobs.inFlight, 0);
  });

  test('drain waits for running jobs, including one started while draining', async () => {
    const jobs = new BackgroundJobs({ logger: createSilentLogger(), registry: createMetricsRegistry() });
    const finished: string[] = [];
    void jobs.run('first', async () => {
      await sleep(100);
      finished.push('first');
      void jobs.run('late', async () => {
        await sleep(100);
        finished.push('late');
      });
    });
    assert.equal(await jobs.drain(2_000), true);
    assert.deepEqual(finished, ['first', 'late']);
    assert.equal(jobs.inFlight, 0);
  });

  test('drain gives up after its timeout when a job runs longer', async () => {
    const jobs = new BackgroundJobs({ logger: createSilentLogger(), registry: createMetricsRegistry() });
    void jobs.run('slow', () => sleep(500));
    assert.equal(await jobs.drain(100), false);
    assert.equal(jobs.inFlight, 1);
    assert.equal(await jobs.drain(2_000), true);
  });
});
