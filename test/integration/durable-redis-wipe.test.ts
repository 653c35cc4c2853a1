/**
 * Issue 17: acknowledged work survives Redis losing its data (a master restarted empty, no persistence). On a real
 * Redis with a random key prefix, a "wipe" deletes every key of the prefix — items, pending entries, delivery
 * claims, heartbeats and the work epoch — as the restarted master did.
 *
 * - A replica killed with work in hand (its job hangs, it stops beating, its journal left on disk) and Redis wiped:
 *   a new replica on the same journal directory puts the item back (same delivery id, attempts and reply anchor)
 *   and it runs exactly once across two sweeping replicas. Without the journal it never runs.
 * - The same with the restarted replica up before the wipe: it notices the loss through the work epoch.
 * - A running job whose claim vanishes (claim deleted; then everything wiped): the renewal re-creates the lease,
 *   logging that once, the item is put back, and another replica's sweeper never runs it a second time.
 * - A real redis-server of the test's own (port 7330) killed and started empty: the replica notices as soon as its
 *   connection is ready again, not at its next sweep, and a Slack retry of a delivery it finished stays a duplicate.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createLogger, createSilentLogger, type Logger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { IncomingRequest } from '../../src/ports/capability.ts';
import { BackgroundJobs } from '../../src/work/background-jobs.ts';
import { DeliveryDeduplicator } from '../../src/work/dedupe.ts';
import { DurableWork } from '../../src/work/durable-work.ts';
import { ReplicaHeartbeat } from '../../src/work/replica-heartbeat.ts';
import { RedisReplyAnchors } from '../../src/work/reply-anchors.ts';
import type { Work } from '../../src/work/work.ts';
import { WorkJournal } from '../../src/work/work-journal.ts';
import { RedisProcess, waitUntil } from '../support/redis-process.ts';
import { redisServerMissing } from './local-redis-topology.ts';

const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const directories: string[] = [];
const prefixes: string[] = [];
const stops: (() => Promise<void> | void)[] = [];

after(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const keyPrefix of prefixes) await wipe(keyPrefix);
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  await redis.quit();
});

/** What Redis restarted without persistence leaves of this test's keys: nothing. */
async function wipe(keyPrefix: string): Promise<number> {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  return keys.length;
}

function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'deskhand-journal-'));
  directories.push(directory);
  return directory;
}

function newPrefix(): string {
  const keyPrefix = `test:${randomUUID()}:`;
  prefixes.push(keyPrefix);
  return keyPrefix;
}

interface ReplicaOptions {
  keyPrefix: string;
  name: string;
  route: Work['route'];
  journalDirectory?: string | undefined;
  leaseMs?: number;
  logger?: Logger;
  heartbeatTtlMs?: number;
}

/** One replica: its own heartbeat, deduplicator, jobs, journal (when given a directory) and durable work. */
function replica(options: ReplicaOptions) {
  const logger = options.logger ?? createSilentLogger();
  const registry = createMetricsRegistry();
  const { keyPrefix } = options;
  const heartbeat = new ReplicaHeartbeat({
    redis,
    keyPrefix,
    replicaId: options.name,
    ttlMs: options.heartbeatTtlMs ?? 1_500,
    intervalMs: 250,
  });
  const leaseMs = options.leaseMs ?? 30_000;
  const dedupe = new DeliveryDeduplicator({ redis, keyPrefix, heartbeat, leaseMs });
  const jobs = new BackgroundJobs({ logger, registry });
  const journal = options.journalDirectory
    ? new WorkJournal({ directory: options.journalDirectory, logger })
    : undefined;
  const durable = new DurableWork({
    redis,
    keyPrefix,
    dedupe,
    jobs,
    work: { route: options.route } as Work,
    logger,
    registry,
    leaseMs,
    sweepIntervalMs: 100,
    reconcileEveryMs: 1_000,
    notify: async () => {},
    ...(journal ? { journal } : {}),
  });
  const anchors = new RedisReplyAnchors({
    redis,
    keyPrefix,
    logger,
    ...(journal ? { anchorsDirectory: journal.anchors } : {}),
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await durable.stop();
    heartbeat.stop();
    await journal?.close();
  };
  stops.push(stop);
  return { heartbeat, dedupe, jobs, journal, durable, anchors, stop };
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

const answered = { status: 'done' as const, route: 'question' as const, classified: false };

/** Replica A takes a mention, posts its first message (anchor saved) and hangs: it is then "killed". */
async function killedWithWorkInHand(keyPrefix: string, journalDirectory: string | undefined) {
  const deliveryId = `event:Ev${randomUUID()}`;
  const dead = replica({ keyPrefix, name: 'replica-a-killed', journalDirectory, route: () => new Promise(() => {}) });
  const claimed = await dead.dedupe.claim(deliveryId);
  assert.equal(claimed.status, 'claimed');
  if (claimed.status !== 'claimed') throw new Error('not claimed');
  // Its job hangs and never renews (a killed process), as in replica-heartbeat.test.ts.
  const frozenClaim = { ...claimed.claim, renew: async () => 'held' as const };
  await dead.durable.dispatch(deliveryId, 'mention', { kind: 'route', request: mention(deliveryId) }, frozenClaim);
  await dead.anchors.save(deliveryId, '1700000000.000200');
  // kill -9: no more beats, renewals or sweeps; the journal stays on disk as the process left it.
  await dead.stop();
  return deliveryId;
}

/** A replica that counts its runs, and records what each run was given. */
function counting(keyPrefix: string, name: string, journalDirectory?: string) {
  const runs: IncomingRequest[] = [];
  const live = replica({
    keyPrefix,
    name,
    journalDirectory,
    route: async (request) => {
      runs.push(request);
      return answered;
    },
  });
  return { ...live, runs };
}

describe('durable work after Redis lost its data', () => {
  test('a killed replica’s item, wiped from Redis, is put back from its journal by its restart and run exactly once', async () => {
    const keyPrefix = newPrefix();
    const journalDirectory = temporaryDirectory();
    const deliveryId = await killedWithWorkInHand(keyPrefix, journalDirectory);
    assert.ok((await wipe(keyPrefix)) > 0, 'the wipe took the item, its claim and the heartbeat');

    const other = counting(keyPrefix, 'replica-b');
    const restarted = counting(keyPrefix, 'replica-a-restarted', journalDirectory);
    other.durable.start();
    restarted.durable.start();
    await waitUntil(() => other.runs.length + restarted.runs.length > 0, 15_000, 20);
    // Sweeps keep going on both replicas: a second run would show up here.
    await waitUntil(async () => (await restarted.durable.stored(deliveryId)) === undefined, 5_000, 20);
    await sleep(1_500);
    const runs = [...other.runs, ...restarted.runs];
    assert.equal(runs.length, 1, 'run exactly once');
    assert.equal(runs[0]?.requestId, deliveryId);
    assert.deepEqual(runs[0]?.replyAnchor, { deliveryId, replyTs: '1700000000.000200' }, 'continues its first reply');
    assert.equal(await restarted.dedupe.state(deliveryId), 'done');
    // Finished here, or by the other replica (then the restarted one's journal forgets it at its next reconcile).
    await waitUntil(async () => (await restarted.journal?.unfinished())?.length === 0, 3_000, 50);
  });

  test('without the journal the same item is never run (what issue 17 measured)', async () => {
    const keyPrefix = newPrefix();
    const deliveryId = await killedWithWorkInHand(keyPrefix, undefined);
    await wipe(keyPrefix);
    const other = counting(keyPrefix, 'replica-b');
    const restarted = counting(keyPrefix, 'replica-a-restarted');
    other.durable.start();
    restarted.durable.start();
    await sleep(3_000);
    assert.equal(other.runs.length + restarted.runs.length, 0);
    assert.equal(await other.dedupe.state(deliveryId), 'none', 'Redis no longer knows the delivery');
  });

  test('a restarted replica up before the wipe notices it through the work epoch and puts its item back', async () => {
    const keyPrefix = newPrefix();
    const journalDirectory = temporaryDirectory();
    const deliveryId = await killedWithWorkInHand(keyPrefix, journalDirectory);
    // The killed process's heartbeat is still live: nobody takes its item over yet.
    const dead = new ReplicaHeartbeat({ redis, keyPrefix, replicaId: 'replica-a-killed', ttlMs: 60_000 });
    await dead.beatNow();
    const restarted = counting(keyPrefix, 'replica-a-restarted', journalDirectory);
    const other = counting(keyPrefix, 'replica-b');
    restarted.durable.start();
    other.durable.start();
    await sleep(500);
    assert.ok(await restarted.durable.stored(deliveryId), 'start: the item was still in Redis, left alone');
    assert.equal(other.runs.length + restarted.runs.length, 0);

    await wipe(keyPrefix);
    const wipedAt = performance.now();
    await waitUntil(() => other.runs.length + restarted.runs.length > 0, 15_000, 20);
    const afterMs = Math.round(performance.now() - wipedAt);
    await waitUntil(async () => (await restarted.durable.stored(deliveryId)) === undefined, 5_000, 20);
    await sleep(1_500);
    assert.equal(other.runs.length + restarted.runs.length, 1, 'run exactly once');
    console.log(`item of a killed replica re-run ${afterMs} ms after the wipe (grace = heartbeat TTL 1.5 s)`);
  });

  test('a running job whose claim vanishes keeps it (one log line), and no other replica runs it again', async () => {
    const keyPrefix = newPrefix();
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let runsOnR = 0;
    // A 600 ms lease: renewed every 200 ms, so the 4 s below see about twenty renewals.
    const r = replica({
      keyPrefix,
      name: 'replica-r',
      logger,
      leaseMs: 600,
      journalDirectory: temporaryDirectory(),
      route: async () => {
        runsOnR += 1;
        await gate;
        return answered;
      },
    });
    const s = counting(keyPrefix, 'replica-s');
    r.durable.start();
    s.durable.start();
    await sleep(1_600); // both may judge others by now
    const deliveryId = `event:Ev${randomUUID()}`;
    const claimed = await r.dedupe.claim(deliveryId);
    if (claimed.status !== 'claimed') throw new Error('not claimed');
    await r.durable.dispatch(deliveryId, 'mention', { kind: 'route', request: mention(deliveryId) }, claimed.claim);

    // The claim alone vanishes (e.g. lost in a failover): the renewal re-creates it.
    await redis.del(claimed.claim.key);
    await sleep(2_000);
    assert.equal(await r.dedupe.state(deliveryId), 'leased');
    // Then everything is wiped, item and pending entry included: the epoch tells R, which puts both back.
    await wipe(keyPrefix);
    await waitUntil(async () => (await r.durable.stored(deliveryId)) !== undefined, 5_000, 20);
    await sleep(2_000);
    assert.equal(s.runs.length, 0, 'the other replica never ran it');
    release();
    await waitUntil(async () => (await r.durable.stored(deliveryId)) === undefined, 5_000, 20);
    await sleep(500);
    assert.equal(runsOnR, 1);
    assert.equal(s.runs.length, 0);
    assert.equal(await r.dedupe.state(deliveryId), 'done');

    const leaseLines = lines.filter((line) => String(line.msg).includes('lease'));
    assert.equal(leaseLines.length, 1, `one line about the lease, not one per renewal: ${JSON.stringify(leaseLines)}`);
    assert.equal(leaseLines[0]?.outcome, 'restored');
    const putBack = lines.filter((line) => line.msg === 'durable work put back into Redis');
    assert.ok(putBack.length >= 1, 'the wipe is logged with what was put back');
  });
});

describe('a Redis restarted empty under a live replica', { skip: redisServerMissing() }, () => {
  test('is noticed when the connection is ready again: the done marker is back before any sweep tick', async () => {
    const server = new RedisProcess(7330);
    await server.start();
    const connection = new Redis(server.url, { maxRetriesPerRequest: 1 });
    connection.on('error', () => {});
    const keyPrefix = `test:${randomUUID()}:`;
    const logger = createSilentLogger();
    const registry = createMetricsRegistry();
    const heartbeat = new ReplicaHeartbeat({ redis: connection, keyPrefix, replicaId: 'replica-live' });
    const dedupe = new DeliveryDeduplicator({ redis: connection, keyPrefix, heartbeat });
    const journal = new WorkJournal({ directory: temporaryDirectory(), logger });
    const durable = new DurableWork({
      redis: connection,
      keyPrefix,
      dedupe,
      jobs: new BackgroundJobs({ logger, registry }),
      work: { route: async () => answered } as unknown as Work,
      logger,
      registry,
      leaseMs: dedupe.leaseMs,
      // No tick within the test: only the connection's `ready` can trigger the sweep that notices the loss.
      sweepIntervalMs: 600_000,
      notify: async () => {},
      journal,
    });
    try {
      durable.start();
      const deliveryId = `event:Ev${randomUUID()}`;
      const claimed = await dedupe.claim(deliveryId);
      if (claimed.status !== 'claimed') throw new Error('not claimed');
      const { finished } = await durable.dispatch(
        deliveryId,
        'mention',
        { kind: 'route', request: mention(deliveryId) },
        claimed.claim,
      );
      await finished;
      assert.equal(await dedupe.state(deliveryId), 'done');

      await server.restart();
      const restartedAt = performance.now();
      await waitUntil(async () => (await dedupe.state(deliveryId).catch(() => 'none')) === 'done', 5_000, 20);
      console.log(`done marker back ${Math.round(performance.now() - restartedAt)} ms after Redis answered again`);
      assert.deepEqual(
        await dedupe.claim(deliveryId),
        { status: 'duplicate', reason: 'done' },
        'a retry stays a duplicate',
      );
    } finally {
      await durable.stop();
      heartbeat.stop();
      await journal.close();
      connection.disconnect();
      await server.stop();
    }
  });
});
