/**
 * Issue 17: a killed replica's work was picked up only after its 30 s delivery lease. Two `DurableWork` replicas on
 * one real Redis: replica A claims a mention and its job hangs; while A's heartbeat is renewed, replica B leaves the
 * item alone (the lease is A's); once A "dies" (stops heartbeating, its job still hung, its 30 s lease still live),
 * B takes the item over and runs it exactly once, within 10 s. A replica whose own heartbeat fails does not judge
 * others (after a Redis outage every heartbeat is missing at once).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { IncomingRequest } from '../../src/ports/capability.ts';
import { BackgroundJobs } from '../../src/work/background-jobs.ts';
import { DeliveryDeduplicator } from '../../src/work/dedupe.ts';
import { DurableWork } from '../../src/work/durable-work.ts';
import { ReplicaHeartbeat } from '../../src/work/replica-heartbeat.ts';
import type { Work } from '../../src/work/work.ts';
import { waitUntil } from '../support/redis-process.ts';

const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const keyPrefix = `test:${randomUUID()}:`;

after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** One replica: its own heartbeat, deduplicator, jobs and durable work over the shared Redis. */
function replica(name: string, work: Partial<Work>) {
  const logger = createSilentLogger();
  const registry = createMetricsRegistry();
  const heartbeat = new ReplicaHeartbeat({ redis, keyPrefix, replicaId: name });
  const dedupe = new DeliveryDeduplicator({ redis, keyPrefix, heartbeat });
  const jobs = new BackgroundJobs({ logger, registry });
  const durable = new DurableWork({
    redis,
    keyPrefix,
    dedupe,
    jobs,
    work: work as Work,
    logger,
    registry,
    leaseMs: dedupe.leaseMs,
    notify: async () => {},
  });
  return { heartbeat, dedupe, jobs, durable };
}

const mention = (deliveryId: string): IncomingRequest => ({
  origin: 'mention',
  workspaceId: 'T111',
  channelId: 'C111',
  userId: 'W222',
  text: 'How do refunds work?',
  messageTs: '1700000000.000100',
  requestId: deliveryId,
});

test('a replica that stops heartbeating has its work re-run by another within 10 s, exactly once', async () => {
  const runsOnB: string[] = [];
  const a = replica('replica-a', { route: () => new Promise(() => {}) });
  const b = replica('replica-b', {
    route: async (request) => {
      runsOnB.push(request.requestId);
      return { status: 'done', route: 'question', classified: false };
    },
  });
  b.durable.start();
  try {
    const deliveryId = `event:Ev${randomUUID()}`;
    const claimed = await a.dedupe.claim(deliveryId);
    assert.equal(claimed.status, 'claimed');
    if (claimed.status !== 'claimed') return;
    // A's job hangs and never renews its 30 s lease, as in a frozen or killed process.
    const frozenClaim = { ...claimed.claim, renew: async () => 'held' as const };
    await a.durable.dispatch(deliveryId, 'mention', { kind: 'route', request: mention(deliveryId) }, frozenClaim);

    // A is alive (heartbeating): B looks at the item every 2 s but leaves it alone.
    await sleep(7_000);
    assert.ok(b.dedupe.heartbeat.mayJudgeOthers(), 'B has been beating for a whole TTL');
    assert.deepEqual(runsOnB, [], 'B did not take over the work of a live replica');

    a.heartbeat.stop();
    const died = performance.now();
    await waitUntil(() => runsOnB.length > 0, 10_000, 50);
    const takeoverMs = performance.now() - died;
    assert.ok(takeoverMs < 10_000, `re-run ${Math.round(takeoverMs)} ms after A stopped`);
    console.log(`takeover after A stopped heartbeating: ${Math.round(takeoverMs)} ms (heartbeat TTL 5 s, lease 30 s)`);

    assert.equal(await b.jobs.drain(5_000), true);
    await sleep(2_500);
    assert.deepEqual(runsOnB, [deliveryId], 'run exactly once');
    assert.equal(await b.durable.stored(deliveryId), undefined, 'the item is finished and deleted');
    assert.equal((await b.dedupe.claim(deliveryId)).status, 'duplicate', 'the delivery is done');
  } finally {
    await b.durable.stop();
    a.heartbeat.stop();
    b.heartbeat.stop();
  }
});

test('a replica judged dead that finishes after the takeover leaves the item to the replica that took it over', async () => {
  let releaseA: () => void = () => {};
  let releaseB: () => void = () => {};
  const runs: string[] = [];
  const gated = (name: string, gate: Promise<void>) => ({
    route: async () => {
      runs.push(name);
      await gate;
      return { status: 'done' as const, route: 'question' as const, classified: false };
    },
  });
  const a = replica('zombie-a', gated('a', new Promise<void>((resolve) => (releaseA = resolve))));
  const b = replica('survivor-b', gated('b', new Promise<void>((resolve) => (releaseB = resolve))));
  // B has been beating for a whole TTL before it may judge A (replica-heartbeat.ts).
  b.durable.start();
  try {
    const deliveryId = `event:Ev${randomUUID()}`;
    const claimed = await a.dedupe.claim(deliveryId);
    assert.equal(claimed.status, 'claimed');
    if (claimed.status !== 'claimed') return;
    await a.durable.dispatch(deliveryId, 'mention', { kind: 'route', request: mention(deliveryId) }, claimed.claim);
    a.heartbeat.stop(); // A freezes: no heartbeat, its job still running
    await waitUntil(() => runs.includes('b'), 15_000, 50);

    // A wakes up and finishes: its claim is no longer its own, so it must not delete B's item.
    releaseA();
    assert.equal(await a.jobs.drain(5_000), true);
    assert.notEqual(await b.durable.stored(deliveryId), undefined, 'the item survives the zombie finishing');

    releaseB();
    assert.equal(await b.jobs.drain(5_000), true);
    assert.equal(await b.durable.stored(deliveryId), undefined, 'deleted by the replica that finished it');
    assert.deepEqual(runs, ['a', 'b']);
  } finally {
    releaseA();
    releaseB();
    await b.durable.stop();
    a.heartbeat.stop();
    b.heartbeat.stop();
  }
});

test('a replica whose own heartbeat fails does not judge others', async () => {
  const closed = new Redis({ port: 7206, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
  closed.on('error', () => {});
  const failures: unknown[] = [];
  const heartbeat = new ReplicaHeartbeat({ redis: closed, keyPrefix, onFailure: (error) => failures.push(error) });
  try {
    await heartbeat.start();
    assert.equal(failures.length, 1);
    assert.equal(heartbeat.mayJudgeOthers(Date.now() + 60_000), false);
  } finally {
    heartbeat.stop();
    closed.disconnect();
  }
  const healthy = new ReplicaHeartbeat({ redis, keyPrefix, ttlMs: 300, intervalMs: 100 });
  try {
    await healthy.start();
    assert.equal(healthy.mayJudgeOthers(), false, 'not before its own heartbeat held for a TTL');
    assert.equal(await healthy.alive(healthy.replicaId), true);
    await sleep(350);
    assert.equal(healthy.mayJudgeOthers(), true);
  } finally {
    healthy.stop();
  }
});
