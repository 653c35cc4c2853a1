/**
 * The work pool on real worker threads (test/integration/work-pool-thread.ts serves a scripted `Work` through the
 * production protocol and heartbeat): a CPU-heavy call in one channel does not delay another channel's quick
 * calls with two threads (and does with one — the contrast shows the test measures the thing), a thread that dies
 * is replaced, its call in flight gets the reason, the next call is answered with the identity re-sent, and
 * `/healthz` follows.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ThreadedWork } from '../../src/composition/worker/threaded-work.ts';
import { WorkPool, type WorkPoolOptions } from '../../src/composition/worker/work-pool.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { healthRoutes } from '../../src/slack/health-routes.ts';
import { isWorkInterrupted } from '../../src/work/work-errors.ts';

const entry = new URL('./work-pool-thread.ts', import.meta.url);
const logger = createSilentLogger();
const pools: WorkPool[] = [];
const servers: Server[] = [];

after(async () => {
  for (const pool of pools) await pool.close(1_000);
  for (const server of servers) server.close();
});

async function startPool(size: number, overrides: Partial<WorkPoolOptions> = {}) {
  const registry = createMetricsRegistry();
  const pool = await WorkPool.start({
    size,
    logger,
    registry,
    stallAfterMs: 300,
    restartBackoffMs: { initial: 50, max: 1_000 },
    startThread: () => ThreadedWork.start({ logger, entry, heartbeatMs: 50 }),
    ...overrides,
  });
  pools.push(pool);
  return { pool, registry };
}

type Answer = { threadId: number; identity: { botUserId?: string } };

function ask(pool: WorkPool, channelId: string, text: string): Promise<Answer> {
  const request = { origin: 'command' as const, workspaceId: 'T1', channelId, userId: 'U1', text };
  return pool.route({ ...request, command: '/budget', requestId: randomUUID() }) as unknown as Promise<Answer>;
}

/** Asks `/budget` in `channelId` every 100 ms for `forMs`; resolves with each reply time in ms. */
async function budgetEvery100ms(pool: WorkPool, channelId: string, forMs: number): Promise<number[]> {
  const replies: Promise<number>[] = [];
  const end = performance.now() + forMs;
  while (performance.now() < end) {
    const started = performance.now();
    replies.push(ask(pool, channelId, 'budget').then(() => performance.now() - started));
    await sleep(100);
  }
  return Promise.all(replies);
}

async function healthServer(pool: WorkPool): Promise<string> {
  const routes = healthRoutes({
    registry: createMetricsRegistry(),
    logger,
    accepting: () => true,
    readiness: [{ name: 'work', check: () => pool.ready() }],
    workThreads: () => pool.health(),
  });
  const server = createServer((request, response) => routes[request.url as '/healthz'](request, response));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

describe('WorkPool on worker threads', () => {
  test('with two threads, a 2.5 s CPU-bound call in one channel does not delay another channel’s quick calls', async () => {
    const { pool } = await startPool(2);
    const heavy = ask(pool, 'C-heavy', 'heavy:2500');
    await sleep(20);
    const [replies, followUp] = await Promise.all([
      budgetEvery100ms(pool, 'C-quiet', 2_000),
      // The heavy channel's own next call avoids the thread its heavy call blocks (pin-avoidance).
      (async () => {
        const started = performance.now();
        await ask(pool, 'C-heavy', 'budget');
        return performance.now() - started;
      })(),
    ]);
    await heavy;
    assert.ok(Math.max(...replies) < 1_000, `quick calls took up to ${Math.max(...replies).toFixed(0)} ms`);
    assert.ok(followUp < 1_000, `the heavy channel's follow-up took ${followUp.toFixed(0)} ms`);
  });

  test('with one thread, the same heavy call does delay them (what the pool is for)', async () => {
    const { pool } = await startPool(1);
    const heavy = ask(pool, 'C-heavy', 'heavy:2500');
    await sleep(20);
    const replies = await budgetEvery100ms(pool, 'C-quiet', 1_000);
    await heavy;
    assert.ok(Math.max(...replies) > 1_500, `quick calls took up to ${Math.max(...replies).toFixed(0)} ms`);
  });

  test('a thread that dies is replaced: its call in flight gets the reason, the next call is answered', async () => {
    const { pool, registry } = await startPool(1);
    const url = await healthServer(pool);
    pool.setIdentity({ botUserId: 'UBOT' });
    const before = await ask(pool, 'C1', 'whoami');
    assert.equal(before.identity.botUserId, 'UBOT');

    const inFlight = ask(pool, 'C1', 'sleep:5000').then(
      () => assert.fail('the call in flight on the dead thread cannot succeed'),
      (error: unknown) => error,
    );
    await sleep(50);
    const crashed = ask(pool, 'C2', 'crash').catch((error: unknown) => error);
    const interrupted = await inFlight;
    assert.ok(isWorkInterrupted(interrupted), String(interrupted));
    assert.match(interrupted.userMessage, /interrupted because a Deskhand worker stopped/);
    assert.ok(isWorkInterrupted(await crashed));

    const next = await ask(pool, 'C1', 'whoami');
    assert.notEqual(next.threadId, before.threadId, 'a new thread answered');
    assert.equal(next.identity.botUserId, 'UBOT', 'the identity was re-sent to the replacement');
    const { responsive: _responsive, ...health } = pool.health();
    assert.deepEqual(health, { healthy: true, alive: 1, total: 1, restarts: 1 });
    const response = await fetch(`${url}/healthz`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { status: string; workThreads: Record<string, number> };
    assert.equal(body.status, 'ok');
    assert.deepEqual({ ...body.workThreads, responsive: 0 }, { alive: 1, responsive: 0, total: 1, restarts: 1 });
    assert.match(await registry.metrics(), /deskhand_work_threads_restarted_total 1/);
  });

  test('/healthz answers 503 while no work thread is alive, /readyz says which check failed', async () => {
    const { pool } = await startPool(1, { restartBackoffMs: { initial: 1_500, max: 1_500 } });
    const url = await healthServer(pool);
    await ask(pool, 'C1', 'crash').catch(() => {});
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 503);
    assert.deepEqual(await health.json(), {
      status: 'unhealthy',
      workThreads: { alive: 0, responsive: 0, total: 1, restarts: 0 },
    });
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { work: false, workThreads: false });
    // Waiting calls are served by the replacement.
    const answered = await ask(pool, 'C1', 'whoami');
    assert.equal(typeof answered.threadId, 'number');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });

  test('closing does not wait past its deadline for a thread whose loop is blocked', async () => {
    const { pool } = await startPool(1);
    const heavy = ask(pool, 'C1', 'heavy:6000').catch((error: unknown) => error);
    await sleep(50);
    const started = performance.now();
    await pool.close(300);
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 3_000, `close took ${tookMs.toFixed(0)} ms; the blocked call runs 6 s`);
    assert.ok(isWorkInterrupted(await heavy));
  });

  test('metrics are every thread’s, summed, next to the pool’s own', async () => {
    const { pool, registry } = await startPool(2);
    await Promise.all([ask(pool, 'C1', 'sleep:100'), ask(pool, 'C2', 'sleep:100'), ask(pool, 'C3', 'budget')]);
    const merged = await pool.metrics();
    const calls = merged.find((metric) => metric.name === 'test_pool_calls_total');
    assert.equal(calls?.values[0]?.value, 3);
    const own = await registry.metrics();
    assert.match(own, /deskhand_work_queue_wait_seconds_count 3/);
    assert.match(own, /deskhand_work_thread_in_flight\{thread="1"\} 0/);
  });
});
