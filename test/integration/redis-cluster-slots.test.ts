/**
 * Every store whose writes span several keys (Lua scripts, MULTI) works on a Redis Cluster: a local cluster of
 * three masters (ports 7101–7103, no replicas) is started, the app's own factory connects to it
 * (`REDIS_CLUSTER_NODES` → createRedis → an ioredis `Cluster`), and each store is driven through its real
 * operations. Keys a script or transaction touches together must share a hash slot, or the server answers
 * CROSSSLOT (or "non local key" from a script); a store that swallows such an error is caught by the servers'
 * own error counters (`INFO errorstats`), checked after each store. Skipped only when `redis-server` is missing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { ApprovalStore } from '../../src/capabilities/agent/approval-store.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { RedisEmbeddingCache } from '../../src/capabilities/documents/ingestion/embedding-cache.ts';
import { ActivityStore } from '../../src/capabilities/report/activity-store.ts';
import { SettingsStore } from '../../src/capabilities/settings/settings-store.ts';
import { ticketExampleOf } from '../../src/capabilities/tickets/learning/ticket-example.ts';
import { TicketExampleStore } from '../../src/capabilities/tickets/learning/ticket-example-store.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { TicketStore } from '../../src/capabilities/tickets/ticket-store.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createQueueConnection, createRedis, type RedisClient } from '../../src/composition/create-redis.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { requestPurge, WorkspacePurger } from '../../src/slack/installations/workspace-purge.ts';
import { RedisSharedPacing } from '../../src/slack/outbound/shared-pacing.ts';
import { BackgroundJobs } from '../../src/work/background-jobs.ts';
import { DeliveryDeduplicator } from '../../src/work/dedupe.ts';
import { DurableWork } from '../../src/work/durable-work.ts';
import { RedisReplyAnchors } from '../../src/work/reply-anchors.ts';
import type { Work } from '../../src/work/work.ts';
import { WorkInterruptedError } from '../../src/work/work-errors.ts';
import { WorkJournal } from '../../src/work/work-journal.ts';
import { MemoryVectorIndex } from '../fakes/memory-vector-index.ts';
import { type LocalRedisProcesses, redisServerMissing, startLocalCluster } from './local-redis-topology.ts';

const ports = [7101, 7102, 7103];
const missing = redisServerMissing();
const keyPrefix = `test:${randomUUID().slice(0, 8)}:`;
const workspaceId = 'T0CLUSTER1';

let cluster: LocalRedisProcesses | undefined;
let redis: RedisClient;
let slots: [number, number, number][] = [];
// The slot function ioredis's own Cluster client routes with (a dependency of ioredis; it ships no types).
const keySlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

/**
 * Commands the servers refused or failed since the last reset (`INFO commandstats`: `rejected_calls` — CROSSSLOT is
 * one — and `failed_calls`, e.g. a script touching a key of another slot), as `command` → count. `CLIENT SETINFO`
 * is left out: ioredis sends it on connecting and Redis before 7.2 does not know it.
 */
async function serverErrors(): Promise<Record<string, number>> {
  const counted: Record<string, number> = {};
  for (const port of ports) {
    const node = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      const stats = await node.info('commandstats');
      for (const match of stats.matchAll(/^cmdstat_([^:]+):.*rejected_calls=(\d+),failed_calls=(\d+)/gm)) {
        const [, command = '', rejected = '0', failed = '0'] = match;
        const count = Number(rejected) + Number(failed);
        if (count === 0 || command === 'client|setinfo') continue;
        counted[command] = (counted[command] ?? 0) + count;
      }
    } finally {
      node.disconnect();
    }
  }
  return counted;
}

/** The port of the master that serves `key`'s slot (from CLUSTER SLOTS through the client). */
function keySlotOwner(key: string): string {
  const slot = keySlot(key);
  const owner = slots.find(([from, to]) => slot >= from && slot <= to);
  return String(owner?.[2]);
}

async function resetServerErrors(): Promise<void> {
  for (const port of ports) {
    const node = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    await node.config('RESETSTAT').finally(() => node.disconnect());
  }
}

/** Runs a store's operations, then checks that no server answered an error to any of them (CROSSSLOT above all). */
async function withoutServerErrors(operations: () => Promise<void>): Promise<void> {
  await resetServerErrors();
  await operations();
  assert.deepEqual(
    await serverErrors(),
    {},
    'commands a server refused or failed (CROSSSLOT: keys of one script or MULTI in two slots)',
  );
}

describe('multi-key scripts and transactions on a Redis Cluster', { skip: missing }, () => {
  before(async () => {
    cluster = await startLocalCluster(ports);
    const loaded = loadConfiguration({
      SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
      SLACK_SIGNING_SECRET: 'secret-123456',
      REDIS_CLUSTER_NODES: ports.map((port) => `127.0.0.1:${port}`).join(','),
    });
    assert.ok(loaded.ok);
    assert.equal(loaded.configuration.redis.topology.kind, 'cluster');
    redis = createRedis(loaded.configuration, { logger: createSilentLogger() });
    const reply = (await (redis as Cluster).cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    slots = reply.map(([from, to, [, port]]) => [from, to, port]);
  });

  after(async () => {
    await redis?.quit().catch(() => {});
    await cluster?.stop();
  });

  test('the factory gives a Cluster client that spreads keys over the three masters', async () => {
    assert.ok(redis instanceof Cluster, 'REDIS_CLUSTER_NODES opens an ioredis Cluster');
    const nodes = 'nodes' in redis ? redis.nodes('master') : [];
    assert.equal(nodes.length, 3);
  });

  test('budget: reserve, settle (with its response-cache write), cache hit, release', async () => {
    await withoutServerErrors(async () => {
      const budgets = new BudgetStore({
        redis,
        keyPrefix,
        timeZone: 'UTC',
        defaults: {
          channelDailyMicroUsd: 1_000_000,
          channelMonthlyMicroUsd: 5_000_000,
          workspaceDailyMicroUsd: 5_000_000,
          userDailyMicroUsd: 500_000,
        },
        reservationTtlMs: 60_000,
      });
      const first = await budgets.reserve({
        requestId: randomUUID(),
        workspaceId,
        channelId: 'C1',
        userId: 'U1',
        amountMicroUsd: 10_000,
      });
      const cacheKey = `${keyPrefix}{${workspaceId}}:cache:${randomUUID()}`;
      const settled = await budgets.settle(first, 4_000, { key: cacheKey, value: '{"text":"cached"}', ttlSeconds: 60 });
      assert.equal(settled.charged, true);
      const hit = await budgets.reserveOrServeCached({
        requestId: randomUUID(),
        workspaceId,
        channelId: 'C1',
        userId: 'U1',
        amountMicroUsd: 10_000,
        cacheKey,
      });
      assert.ok('kind' in hit && hit.kind === 'cache_hit');
      const second = await budgets.reserve({
        requestId: randomUUID(),
        workspaceId,
        channelId: 'C2',
        amountMicroUsd: 7_000,
      });
      await budgets.release(second);
      await budgets.setChannelCap(workspaceId, 'C2', 'daily', 2_000_000);
      const status = await budgets.status(workspaceId, 'C1', 'U1');
      assert.ok(status.windows.some((window) => window.spentMicroUsd === 4_000));
      await budgets.tokenUsage(workspaceId, 'C1');
    });
  });

  test('delivery de-duplication: claim, renew, complete; release lets another claim it', async () => {
    await withoutServerErrors(async () => {
      const dedupe = new DeliveryDeduplicator({ redis, keyPrefix, leaseMs: 30_000 });
      const claimed = await dedupe.claim(`Ev-${randomUUID()}`);
      assert.equal(claimed.status, 'claimed');
      if (claimed.status !== 'claimed') return;
      assert.equal(await claimed.claim.renew(), 'held');
      assert.equal(await claimed.claim.complete(), true);
      const other = `Ev-${randomUUID()}`;
      const once = await dedupe.claim(other);
      assert.equal((await dedupe.claim(other)).status, 'duplicate');
      if (once.status === 'claimed') assert.equal(await once.claim.release(), true);
      assert.equal((await dedupe.claim(other)).status, 'claimed');
    });
  });

  test('durable work: dispatch stores item and pending entry in one MULTI; an interrupted run is re-run by the sweep', async () => {
    await withoutServerErrors(async () => {
      const logger = createSilentLogger();
      const registry = createMetricsRegistry();
      const dedupe = new DeliveryDeduplicator({ redis, keyPrefix, leaseMs: 30_000 });
      let runs = 0;
      const work = {
        route: async () => {
          runs += 1;
          // The first run's work thread "dies": the item stays stored for the sweeper, as after a crash.
          if (runs === 1) throw new WorkInterruptedError('work thread exited with code 1');
          return { status: 'done', route: 'question', classified: true };
        },
      } as unknown as Work;
      const durable = new DurableWork({
        redis,
        keyPrefix,
        dedupe,
        jobs: new BackgroundJobs({ logger, registry }),
        work,
        logger,
        registry,
        leaseMs: 30_000,
        notify: async () => {},
      });
      const deliveryId = `Ev-${randomUUID()}`;
      const claimed = await dedupe.claim(deliveryId);
      assert.equal(claimed.status, 'claimed');
      if (claimed.status !== 'claimed') return;
      const request = {
        origin: 'mention' as const,
        workspaceId,
        channelId: 'C1',
        userId: 'U1',
        text: 'where is my order',
        messageTs: '1700000000.000100',
        requestId: deliveryId,
      };
      const { finished } = await durable.dispatch(deliveryId, 'mention', { kind: 'route', request }, claimed.claim);
      await finished;
      assert.equal(runs, 1);
      assert.ok(await durable.stored(deliveryId), 'kept for a retry');
      assert.equal(await durable.sweep(), 1, 'the sweep claims it again and re-runs it');
      for (let tries = 0; tries < 100 && (await durable.stored(deliveryId)); tries += 1) await sleep(20);
      assert.equal(runs, 2);
      assert.equal(await durable.stored(deliveryId), undefined, 'done: item and pending entry deleted together');
      assert.equal(await durable.sweep(), 0);
    });
  });

  test('durable work after Redis lost its data: the epoch, the put-back item and pending entry, lease and anchor', async () => {
    const journalDirectory = mkdtempSync(join(tmpdir(), 'deskhand-cluster-journal-'));
    try {
      await withoutServerErrors(async () => {
        const logger = createSilentLogger();
        const registry = createMetricsRegistry();
        const dedupe = new DeliveryDeduplicator({ redis, keyPrefix, leaseMs: 30_000 });
        let release: () => void = () => {};
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        const work = {
          route: async () => {
            await gate;
            return { status: 'done', route: 'question', classified: true };
          },
        } as unknown as Work;
        const journal = new WorkJournal({ directory: journalDirectory, logger });
        const durable = new DurableWork({
          redis,
          keyPrefix,
          dedupe,
          jobs: new BackgroundJobs({ logger, registry }),
          work,
          logger,
          registry,
          leaseMs: 30_000,
          notify: async () => {},
          journal,
        });
        const anchors = new RedisReplyAnchors({ redis, keyPrefix, logger, anchorsDirectory: journal.anchors });
        assert.equal(await durable.sweep(), 0, 'first sweep: the epoch is created, the empty journal put back');
        const deliveryId = `Ev-${randomUUID()}`;
        const claimed = await dedupe.claim(deliveryId);
        if (claimed.status !== 'claimed') throw new Error('not claimed');
        const request = {
          origin: 'mention' as const,
          workspaceId,
          channelId: 'C1',
          userId: 'U1',
          text: 'where is my order',
          messageTs: '1700000000.000100',
          requestId: deliveryId,
        };
        const { finished } = await durable.dispatch(deliveryId, 'mention', { kind: 'route', request }, claimed.claim);
        await anchors.save(deliveryId, '1700000000.000200');
        const workKeys = [durable.itemKey(deliveryId), `${keyPrefix}{work}:pending`, `${keyPrefix}{work}:epoch`];
        assert.equal(new Set(workKeys.map(keySlot)).size, 1, 'item, pending entry and epoch share the {work} slot');
        // The loss, key by key (each key's own node, as a restarted master would have lost them).
        for (const key of [...workKeys, claimed.claim.key]) await redis.del(key);
        await durable.sweep();
        const back = await durable.stored(deliveryId);
        assert.equal(back?.attempts, 1);
        assert.equal(back?.replyTs, '1700000000.000200');
        assert.equal(await dedupe.state(deliveryId), 'leased', 'the running job’s lease is back');
        release();
        await finished;
        assert.equal(await durable.stored(deliveryId), undefined);
        await durable.close();
      });
    } finally {
      rmSync(journalDirectory, { recursive: true, force: true });
    }
  });

  test('shared Slack pacing: a channel’s slot reserved on its own key <prefix>pace:{channel}', async () => {
    await withoutServerErrors(async () => {
      const pacing = new RedisSharedPacing({ redis, keyPrefix, logger: createSilentLogger(), timeoutMs: 2_000 });
      const channel = `C${randomUUID().slice(0, 8).toUpperCase()}`;
      assert.equal(await pacing.reserve(channel, 1_000), 0);
      assert.ok((await pacing.reserve(channel, 1_000)) > 0, 'the second post waits for the next slot');
      assert.match(pacing.key(channel), /pace:\{C[0-9A-F]{8}\}$/);
    });
  });

  test('approvals: create, decide once, pending list, expiry sweep', async () => {
    await withoutServerErrors(async () => {
      let now = Date.now();
      const approvals = new ApprovalStore({
        redis,
        keyPrefix,
        ttlSeconds: 60,
        policy: { approverUserIds: ['UAPPROVER'], allowSelfApproval: false },
        now: () => now,
      });
      const input = {
        runId: randomUUID(),
        workspaceId,
        channelId: 'C1',
        threadTs: undefined,
        requesterId: 'U1',
        kind: 'write' as const,
        tool: 'file_ticket',
        canonicalArguments: '{"title":"x"}',
        target: 'tickets',
        summary: 'File a ticket',
        toolCallId: 'call-1',
      };
      const request = await approvals.create(input);
      const decision = { workspaceId, requestId: request.requestId, hash: request.hash, userId: 'UAPPROVER' };
      assert.equal((await approvals.decide({ ...decision, decision: 'approved' })).kind, 'decided');
      assert.equal((await approvals.decide({ ...decision, decision: 'rejected' })).kind, 'already_decided');
      const pending = await approvals.create({ ...input, toolCallId: 'call-2' });
      assert.equal((await approvals.pendingRequests(workspaceId, 5)).total, 1);
      now += 61_000;
      const expired = await approvals.sweepExpired();
      assert.deepEqual(
        expired.map((item) => item.requestId),
        [pending.requestId],
      );
      assert.ok((await approvals.auditLog(workspaceId, input.runId)).length >= 3);
    });
  });

  test('answer feedback: a vote and its reason update the answer, its votes, the index and the tally together', async () => {
    await withoutServerErrors(async () => {
      const feedback = new FeedbackStore(redis, { keyPrefix });
      const answerId = randomUUID();
      await feedback.recordAnswer(
        {
          kind: 'answered',
          answerId,
          question: 'Refunds?',
          standaloneQuestion: 'Refunds?',
          rewritten: false,
          usage: { modelCalls: 1, cacheHits: 0, inputTokens: 1, outputTokens: 1, costMicroUsd: 1, savedMicroUsd: 0 },
          markdown: 'Five days.',
          mrkdwn: 'Five days.',
          cited: [],
          sources: [],
          grounded: true,
          truncated: false,
          fromCache: false,
          model: 'gpt-4o-mini',
          indexVersion: 1,
        },
        { workspaceId, channelId: 'C1' },
      );
      assert.equal(
        await feedback.vote({ answerId, workspaceId, channelId: 'C1', userId: 'U1', helpful: false }),
        'recorded',
      );
      assert.equal(await feedback.setReason({ answerId, workspaceId, userId: 'U1', reason: 'wrong' }), 'recorded');
      assert.deepEqual(await feedback.tally(workspaceId), { helpful: 0, notHelpful: 1 });
      assert.equal((await feedback.export(workspaceId, 0)).length, 1);
    });
  });

  test('settings: a save writes the settings and their audit log in one script', async () => {
    await withoutServerErrors(async () => {
      const settings = new SettingsStore(redis, { keyPrefix });
      const saved = await settings.save(workspaceId, {}, undefined, { by: 'U1', change: 'nothing' });
      assert.equal(saved.kind, 'saved');
      assert.equal((await settings.auditLog(workspaceId)).length, 1);
    });
  });

  test('workspace purge: the request (pending set and reasons in one MULTI) and a purge that finds keys on every node', async () => {
    await withoutServerErrors(async () => {
      const doomed = 'T0PURGED1';
      // Keys without a workspace hash tag land on all three masters; SCAN on a Cluster client sees only one node.
      const keys = Array.from({ length: 30 }, (_, index) => `${keyPrefix}thread:${doomed}:C1:${index}.000`);
      for (const key of keys) await redis.set(key, 'x');
      const slotsUsed = new Set(keys.map((key) => keySlotOwner(key)));
      assert.equal(slotsUsed.size, 3, 'the seeded keys are spread over the three masters');
      await requestPurge(redis, keyPrefix, doomed, 'app_uninstalled');
      const purger = new WorkspacePurger({
        redis,
        keyPrefix,
        vectorIndex: new MemoryVectorIndex(),
        logger: createSilentLogger(),
        deleteInstallation: async () => true,
      });
      assert.deepEqual(await purger.runDue(), [doomed]);
      const left = await Promise.all(keys.map((key) => redis.exists(key)));
      assert.equal(
        left.reduce((sum, exists) => sum + exists, 0),
        0,
        'every node was scanned',
      );
    });
  });

  test('embedding cache: a batch of vectors (keys in many slots) written and read back', async () => {
    await withoutServerErrors(async () => {
      const cache = new RedisEmbeddingCache(redis, { keyPrefix, ttlSeconds: 60 });
      const keys = ['a', 'b', 'c', 'd'].map((text) => ({
        model: 'text-embedding-3-small',
        dimensions: 2,
        workspaceId,
        textHash: `${text}${randomUUID()}`,
      }));
      await cache.setMany(keys.map((key, index) => ({ key, vector: new Float32Array([index, 1]) })));
      const read = await cache.getMany(keys);
      assert.deepEqual(
        read.map((vector) => vector?.[0]),
        [0, 1, 2, 3],
      );
    });
  });

  test('tickets: a draft created, updated, filed under a lease with its deliveries, and discarded', async () => {
    await withoutServerErrors(async () => {
      const tickets = new TicketStore(redis, { keyPrefix });
      const draft = {
        id: `DH-${randomUUID().slice(0, 10)}`,
        workspaceId,
        channelId: 'C1',
        messageTs: '1700000000.000100',
        requestedBy: 'U1',
        createdAt: new Date().toISOString(),
        ticket: emptyTicket({ summary: 'printer on fire' }),
        flags: [],
        mode: 'rules' as const,
      };
      assert.equal(await tickets.create(draft), true);
      assert.deepEqual(await tickets.claimSource(draft), { claimed: true });
      await tickets.update(workspaceId, draft.id, (current) => ({ ...current, editedBy: 'U2' }));
      const lease = await tickets.acquireFilingLease(workspaceId, draft.id, 10_000);
      assert.ok(lease);
      await tickets.recordDelivery(workspaceId, draft.id, { sink: 'triage', at: new Date().toISOString() });
      assert.ok((await tickets.deliveries(workspaceId, draft.id)).triage);
      const delivered = { sink: 'triage', at: new Date().toISOString() };
      const filed = { by: 'U2', at: delivered.at, reference: draft.id, deliveries: { triage: delivered } };
      assert.equal((await tickets.markFiled(workspaceId, draft.id, lease, filed)).ok, true);
      await tickets.releaseFilingLease(workspaceId, draft.id, lease);
      await tickets.recentDrafts(workspaceId, 'U1', 5);
      const other = { ...draft, id: `DH-${randomUUID().slice(0, 10)}`, messageTs: '1700000000.000200' };
      await tickets.create(other);
      await tickets.discard(workspaceId, other.id, 'U1');
    });
  });

  test('ticket examples: record with eviction, snapshot, read, delete, clear', async () => {
    await withoutServerErrors(async () => {
      const examples = new TicketExampleStore(redis, { keyPrefix, cap: 2 });
      const example = (id: string) =>
        ticketExampleOf({
          id,
          text: `text ${id}`,
          ticket: emptyTicket({ summary: id }),
          messageTs: '1795510800.000000',
          timeZone: 'UTC',
          origin: 'corrected',
          recordedBy: 'U1',
          recordedAt: '2026-12-05T00:00:00.000Z',
        });
      for (const id of ['e1', 'e2', 'e3']) await examples.record(workspaceId, example(id));
      const { ids } = await examples.snapshot(workspaceId);
      assert.equal(ids.length, 2);
      assert.equal((await examples.read(workspaceId, ids)).length, 2);
      assert.equal(await examples.delete(workspaceId, ids[0] as string), true);
      assert.equal(await examples.clear(workspaceId), 1);
    });
  });

  test("weekly report activity: an event counted in the day's counters and lists, and read back", async () => {
    await withoutServerErrors(async () => {
      const activity = new ActivityStore(redis, { keyPrefix, timeZone: 'UTC' });
      await activity.record({ kind: 'ticket_drafted', workspaceId, category: 'billing' });
      await activity.record({ kind: 'vote', workspaceId, helpful: true });
      await activity.totals(workspaceId, activity.lastDays(7), 5);
    });
  });

  test('BullMQ: the agent queue (prefix with a hash tag) adds and processes a job on the cluster', async () => {
    const { Queue, Worker } = await import('bullmq');
    const loaded = loadConfiguration({
      SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
      SLACK_SIGNING_SECRET: 'secret-123456',
      REDIS_CLUSTER_NODES: ports.map((port) => `127.0.0.1:${port}`).join(','),
    });
    assert.ok(loaded.ok);
    const connection = createQueueConnection(loaded.configuration);
    const prefix = `${keyPrefix}{agent}`;
    await withoutServerErrors(async () => {
      const queue = new Queue('cluster-check', { connection, prefix });
      let resolveProcessed: (value: string) => void = () => {};
      const processed = new Promise<string>((resolve) => {
        resolveProcessed = resolve;
      });
      const worker = new Worker('cluster-check', async (job) => resolveProcessed(String(job.data.value)), {
        connection,
        prefix,
      });
      worker.on('error', () => {});
      await queue.add('check', { value: 'ok' });
      assert.equal(await processed, 'ok');
      await worker.close();
      await queue.close();
    });
    if (typeof (connection as { quit?: unknown }).quit === 'function') await (connection as RedisClient).quit();
  });
});
