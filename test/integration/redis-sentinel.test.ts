/**
 * Redis under Sentinel, as an operator runs it: a master (port 7110), one replica (7111) and three sentinels
 * (7120–7122, quorum 2, `down-after-milliseconds` 1000) started locally. The app's own factory connects through
 * the sentinels (`REDIS_SENTINELS`, `REDIS_SENTINEL_NAME` → createRedis) and writes budget reservations (Lua
 * scripts) without pause while the master is first demoted by a switchover (`SENTINEL FAILOVER`: the old master
 * lives on as a replica and would answer READONLY; no caller sees an error), then killed with SIGKILL, and:
 * - calls in flight reserve through the gateway's own path (`retryBudgetOutage` around `reserve`, the same request
 *   id on every attempt): each is either reserved once on the new master or refused with a reason
 *   (`budget_unenforceable`), never a conflict with its own earlier attempt — an attempt that timed out while the
 *   client was reconnecting stays queued in ioredis and runs on the new master before the retry does;
 * - the client follows the failover to the promoted replica by itself and writes again within a few seconds
 *   (printed: time from the kill to the sentinels' switch and to the first write on the new master);
 * - what was settled before the kill (and replicated) is still there, and no reservation is left holding budget.
 * Skipped only when `redis-server` is missing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type Configuration, loadConfiguration } from '../../src/composition/config.ts';
import { createQueueConnection, createRedis, type RedisClient } from '../../src/composition/create-redis.ts';
import { isDeskhandError } from '../../src/errors.ts';
import { retryBudgetOutage } from '../../src/llm/budget-outage-retry.ts';
import { BudgetStore, type Reservation } from '../../src/llm/budget-store.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { type LocalRedisProcesses, redisServerMissing, startLocalSentinels } from './local-redis-topology.ts';

const name = 'deskhand-test';
const masterPort = 7110;
const replicaPort = 7111;
const sentinelPorts = [7120, 7121, 7122];
const missing = redisServerMissing();
const keyPrefix = `test:${randomUUID().slice(0, 8)}:`;
const workspaceId = 'T0SENTINEL';

let processes: LocalRedisProcesses | undefined;
let redis: RedisClient;
let budgets: BudgetStore;
let configuration: Configuration;

function input() {
  return { requestId: randomUUID(), workspaceId, channelId: 'C1', amountMicroUsd: 2_000 };
}

type Outcome =
  | { kind: 'reserved'; reservation: Reservation; attempts: number; startAfterMs: number }
  | { kind: 'refused'; error: unknown; attempts: number; startAfterMs: number };

/** The master the sentinels name now, as host:port. */
async function masterOfSentinels(): Promise<string> {
  const sentinel = new Redis({ port: sentinelPorts[0] as number, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  try {
    const [host, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
    return `${host}:${port}`;
  } finally {
    sentinel.disconnect();
  }
}

describe('Redis under Sentinel: a switchover, then the master killed mid-operation', { skip: missing }, () => {
  before(async () => {
    const started = await startLocalSentinels({ name, masterPort, replicaPort, sentinelPorts });
    processes = started.processes;
    const loaded = loadConfiguration({
      SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
      SLACK_SIGNING_SECRET: 'secret-123456',
      REDIS_SENTINELS: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
      REDIS_SENTINEL_NAME: name,
    });
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.join('\n'));
    configuration = loaded.configuration;
    redis = createRedis(configuration, { logger: createSilentLogger() });
    budgets = new BudgetStore({
      redis,
      keyPrefix,
      timeZone: 'UTC',
      defaults: {
        channelDailyMicroUsd: 10_000_000,
        channelMonthlyMicroUsd: 10_000_000,
        workspaceDailyMicroUsd: 10_000_000,
      },
      reservationTtlMs: 600_000,
    });
  });

  after(async () => {
    // quit() alone, as the app and the scripts close it: nothing may keep the process alive (the runner checks).
    await redis?.quit().catch(() => {});
    await processes?.stop();
  });

  test('a switchover (SENTINEL FAILOVER) moves the client to the new master at once, before the old one is demoted', async () => {
    assert.equal(await masterOfSentinels(), `127.0.0.1:${masterPort}`);
    const errors: string[] = [];
    let writes = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        try {
          const reservation = await retryBudgetOutage(() => budgets.reserve(input()), {
            deadline: Date.now() + 15_000,
          });
          await budgets.release(reservation);
          writes += 1;
        } catch (error) {
          errors.push((error as Error).message);
        }
        await sleep(20);
      }
    })();
    const old = new Redis({ port: masterPort, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    const promoted = new Redis({ port: replicaPort, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      await sleep(200);
      const startedAt = Date.now();
      const sentinel = new Redis({ port: sentinelPorts[0] as number, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      await sentinel.call('SENTINEL', 'FAILOVER', name).finally(() => sentinel.disconnect());
      while ((await masterOfSentinels()) !== `127.0.0.1:${replicaPort}`) {
        assert.ok(Date.now() - startedAt < 15_000, 'the sentinels promoted the replica within 15 s');
        await sleep(50);
      }
      const switchedMs = Date.now() - startedAt;
      const writesAtSwitch = writes;
      // For several seconds the old master still believes it is one (Sentinel converts it on its next 10 s check):
      // a client left on it would write where every write is lost at the conversion, then be answered READONLY.
      await sleep(300);
      const marker = `${keyPrefix}marker:${randomUUID()}`;
      await redis.set(marker, 'after the switch');
      assert.equal(((await old.call('ROLE')) as string[])[0], 'master', 'the old master is not yet demoted');
      assert.equal(await promoted.get(marker), 'after the switch', 'written on the new master');
      assert.equal(await old.get(marker), null, 'not on the old one (+switch-master moved the client at once)');
      let demotedMs = Number.NaN;
      while (Date.now() - startedAt < 25_000) {
        if (((await old.call('ROLE')) as string[])[0] === 'slave') {
          demotedMs = Date.now() - startedAt;
          break;
        }
        await sleep(100);
      }
      await sleep(500);
      writing = false;
      await writer;
      console.log(
        `sentinel switchover: replica promoted ${switchedMs} ms after SENTINEL FAILOVER, old master demoted after ` +
          `${demotedMs} ms; ${writes} reservations written and released meanwhile ` +
          `(${writes - writesAtSwitch} after the switch), ${errors.length} failed`,
      );
      assert.deepEqual(errors, [], 'no caller saw READONLY or any other error');
      assert.ok(writes > writesAtSwitch, 'writes continued on the new master');
      assert.ok(demotedMs > 0, 'the old master became a replica');
    } finally {
      writing = false;
      await writer;
      old.disconnect();
      promoted.disconnect();
    }
  });

  test('calls in flight when the master dies are retried onto the new master, each reserved once; nothing is left half-applied', async () => {
    // After the switchover above the master is the first replica; the old master, now its replica, is promoted.
    const current = await masterOfSentinels();
    const victim = processes?.servers.find((server) => `127.0.0.1:${server.port}` === current);
    assert.ok(victim, `the current master ${current} is one of ours`);
    const survivor = victim.port === masterPort ? replicaPort : masterPort;
    const spentBefore = (await budgets.status(workspaceId, 'C1')).windows.find(
      (window) => window.window === 'channel_daily',
    )?.spentMicroUsd as number;
    const before = await budgets.reserve(input());
    await budgets.settle(before, 1_000);
    // Replicated before the kill (asynchronous replication would otherwise lose the last write, by design).
    // (After the switchover the demoted master resynchronises from the new one first: wait until it acknowledges.)
    let acknowledged = 0;
    for (let tries = 0; tries < 50 && acknowledged < 1; tries += 1) acknowledged = await (redis as Redis).wait(1, 200);
    assert.equal(acknowledged, 1, 'the replica acknowledged the writes before the kill');

    const killedAt = Date.now();
    processes?.kill(victim);

    // The gateway's own path: reserve, asked again with backoff while Redis is unreachable (same request id).
    const outcomes: Outcome[] = [];
    let firstWriteMs = Number.NaN;
    const call = async (startAfterMs: number) => {
      await sleep(startAfterMs);
      const started = Date.now();
      const reserveInput = input();
      let attempts = 0;
      try {
        const reservation = await retryBudgetOutage(
          () => {
            attempts += 1;
            return budgets.reserve(reserveInput);
          },
          { deadline: started + 15_000 },
        );
        const atMs = Date.now() - killedAt;
        if (!(firstWriteMs <= atMs)) firstWriteMs = atMs;
        outcomes.push({ kind: 'reserved', reservation, attempts, startAfterMs });
      } catch (error) {
        outcomes.push({ kind: 'refused', error, attempts, startAfterMs });
      }
    };
    const watchSentinels = async () => {
      while (Date.now() - killedAt < 20_000) {
        if ((await masterOfSentinels()) === `127.0.0.1:${survivor}`) return Date.now() - killedAt;
        await sleep(50);
      }
      return Number.NaN;
    };
    const [switchedMs] = await Promise.all([watchSentinels(), ...[0, 0, 200, 400, 600, 800, 1_000, 1_200].map(call)]);

    const refused = outcomes.filter((outcome) => outcome.kind === 'refused');
    const reserved = outcomes.filter((outcome) => outcome.kind === 'reserved');
    console.log(
      `sentinel failover: sentinels promoted the replica ${switchedMs} ms after SIGKILL of the master; the first ` +
        `write on the new master landed ${firstWriteMs} ms after it; of ${outcomes.length} calls in flight, ` +
        `${reserved.length} were reserved (attempts: ${reserved.map((outcome) => outcome.attempts).join(', ')}) and ` +
        `${refused.length} refused${refused.map((outcome) => ` (${(outcome.error as Error).message})`).join('')}`,
    );
    assert.equal(await masterOfSentinels(), `127.0.0.1:${survivor}`, 'the replica was promoted');
    assert.ok(firstWriteMs < 10_000, `wrote again ${firstWriteMs} ms after the kill (expected within a few seconds)`);
    for (const outcome of refused) {
      // Refused only for the outage, with a message for the person asking: never a conflict with its own retry.
      assert.ok(isDeskhandError(outcome.error), String(outcome.error));
      assert.equal(outcome.error.code, 'budget_unenforceable', outcome.error.message);
      assert.ok(outcome.error.userMessage);
    }
    assert.equal(refused.length, 0, 'with 15 s to spare, every call waited out the failover');

    // Each call's reservation is held once; settled, the spend is exact and no reservation is left behind.
    for (const outcome of reserved) await budgets.settle(outcome.reservation, 2_000);
    const status = await budgets.status(workspaceId, 'C1');
    const daily = status.windows.find((window) => window.window === 'channel_daily');
    assert.equal(daily?.spentMicroUsd, spentBefore + 1_000 + 2_000 * reserved.length);
    assert.equal(daily?.reservedMicroUsd, 0, 'no reservation of an abandoned attempt is left holding budget');
  });

  test('BullMQ (the agent queue) runs through the sentinels on the promoted master', async () => {
    const { Queue, Worker } = await import('bullmq');
    // The app's queue options, but for ioredis's failover detector: BullMQ closes its connections with quit(), which
    // leaves the detector subscribed to the sentinels and would keep this test's process alive (the app's process
    // exits after closing, work threads are terminated). Following the failover is the first test's subject.
    const connection = { ...(createQueueConnection(configuration) as object), failoverDetector: false };
    const prefix = `${keyPrefix}{agent}`;
    const queue = new Queue('sentinel-check', { connection, prefix });
    let resolveProcessed: (value: string) => void = () => {};
    const processed = new Promise<string>((resolve) => {
      resolveProcessed = resolve;
    });
    const worker = new Worker('sentinel-check', async (job) => resolveProcessed(String(job.data.value)), {
      connection,
      prefix,
    });
    worker.on('error', () => {});
    try {
      await queue.add('check', { value: 'ok' });
      assert.equal(await processed, 'ok');
      const survivor = await masterOfSentinels();
      const port = Number(survivor.split(':')[1]);
      const direct = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      assert.ok((await direct.keys(`${prefix}:sentinel-check:*`)).length > 0, `the queue lives on ${survivor}`);
      direct.disconnect();
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});
