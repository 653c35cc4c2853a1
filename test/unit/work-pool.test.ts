/**
 * The work pool's dispatch rules on scripted threads (no worker threads: each call waits until the test settles
 * it, and a thread is stalled by the test): fair order at capacity, pin-avoidance over least-loaded, stalled
 * threads skipped, the busy refusal, views skipping the queue, and close interrupting waiting calls.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type PoolThread, WorkPool, type WorkPoolOptions } from '../../src/composition/worker/work-pool.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { IncomingRequest } from '../../src/ports/capability.ts';
import type { RouterOutcome } from '../../src/router/router.ts';
import { views } from '../../src/slack-kit/ids.ts';
import type { ViewRequest } from '../../src/work/requests.ts';
import { isWorkInterrupted, isWorkRefused } from '../../src/work/work-errors.ts';

interface Call {
  text: string;
  resolve: (value: unknown) => void;
}

class ScriptedThread implements PoolThread {
  readonly calls: Call[] = [];
  readonly exited = new Promise<number>(() => {});
  /** performance.now() of the last heartbeat before the thread stalled; undefined while it answers. */
  stalledSince: number | undefined;
  alive = true;
  eventLoopDelayMs = 0;

  get lastHeartbeatAt(): number {
    return this.stalledSince ?? performance.now();
  }

  set stalled(stalled: boolean) {
    this.stalledSince = stalled ? performance.now() - 5_000 : undefined;
  }

  /** Texts of the calls this thread has taken, in order. */
  get texts(): string[] {
    return this.calls.map((call) => call.text);
  }

  /** Settles this thread's call with `text`. */
  finish(text: string): void {
    const call = this.calls.find((candidate) => candidate.text === text);
    assert.ok(call, `no call ${text} on this thread`);
    call.resolve({ status: 'done', route: 'budget', classified: false });
  }

  route(request: IncomingRequest): Promise<RouterOutcome> {
    return new Promise((resolve) => this.calls.push({ text: request.text, resolve: resolve as Call['resolve'] }));
  }

  reaction = async (): Promise<RouterOutcome> => ({ status: 'ignored' });
  action = async (): Promise<void> => {};
  fileShared = async (): Promise<void> => {};
  assistantThread = async (): Promise<void> => {};
  homeOpened = async (): Promise<void> => {};
  view = async (request: ViewRequest) => {
    this.calls.push({ text: `view:${request.viewId}`, resolve: () => {} });
    return { settled: Promise.resolve() };
  };
  setIdentity(): void {}
  ready = async () => true;
  metrics = async () => [];
  close = async () => {};
}

const pools: WorkPool[] = [];
after(async () => {
  for (const pool of pools) await pool.close(100);
});

async function startPool(size: number, options: Partial<WorkPoolOptions> = {}) {
  const threads = Array.from({ length: size }, () => new ScriptedThread());
  let next = 0;
  const registry = createMetricsRegistry();
  const pool = await WorkPool.start({
    size,
    logger: createSilentLogger(),
    registry,
    startThread: async () => threads[next++] as ScriptedThread,
    stallAfterMs: 200,
    ...options,
  });
  pools.push(pool);
  return { pool, threads: threads as [ScriptedThread, ScriptedThread], registry };
}

function ask(pool: WorkPool, channelId: string, text: string): Promise<RouterOutcome> {
  return pool.route({ origin: 'mention', workspaceId: 'T1', channelId, userId: 'U1', text, requestId: randomUUID() });
}

/** Starts a call the test does not wait for (the pools are closed at the end, which interrupts what still waits). */
function launch(pool: WorkPool, channelId: string, text: string): void {
  ask(pool, channelId, text).catch(() => {});
}

const settle = () => sleep(0);

describe('WorkPool dispatch', () => {
  test('at capacity, waiting calls are served round-robin across channels, in order within one', async () => {
    const { pool, threads, registry } = await startPool(1, { maxInFlightPerThread: 1 });
    const [thread] = threads;
    const replies = ['A1', 'A2', 'A3', 'B1'].map((text) => ask(pool, `C-${text[0]}`, text));
    await settle();
    assert.deepEqual(thread.texts, ['A1'], 'K = 1: the others wait');
    for (const text of ['A1', 'A2', 'B1']) {
      thread.finish(text);
      await settle();
      await settle();
    }
    assert.deepEqual(thread.texts, ['A1', 'A2', 'B1', 'A3']);
    thread.finish('A3');
    await Promise.all(replies);
    assert.match(await registry.metrics(), /deskhand_work_queue_wait_seconds_count 4/);
  });

  test('a channel holds at most M calls in flight: its further calls wait, other channels start at once', async () => {
    const { pool, threads } = await startPool(1, { maxInFlightPerKey: 2 });
    const [thread] = threads;
    for (const text of ['f1', 'f2', 'f3', 'f4']) launch(pool, 'C-flood', text);
    launch(pool, 'C-quiet', 'q1');
    await settle();
    assert.deepEqual(thread.texts, ['f1', 'f2', 'q1']);
    thread.finish('f1');
    await settle();
    await settle();
    assert.deepEqual(thread.texts, ['f1', 'f2', 'q1', 'f3']);
  });

  test('a channel’s next call goes to a thread without its call in flight, even when that thread is busier', async () => {
    const { pool, threads } = await startPool(2);
    const [first, second] = threads;
    launch(pool, 'C-heavy', 'heavy');
    await settle();
    first.stalled = true;
    launch(pool, 'C-other', 'o1');
    launch(pool, 'C-more', 'm1');
    await settle();
    first.stalled = false;
    assert.deepEqual([first.texts, second.texts], [['heavy'], ['o1', 'm1']]);
    launch(pool, 'C-heavy', 'follow-up');
    await settle();
    assert.deepEqual(second.texts, ['o1', 'm1', 'follow-up'], 'not behind its own heavy call on the first thread');
  });

  test('a thread without a heartbeat gets no new calls; when all are stalled, the one that answered last does', async () => {
    const { pool, threads } = await startPool(2);
    const [first, second] = threads;
    first.stalled = true;
    launch(pool, 'C1', 'x');
    launch(pool, 'C2', 'y');
    await settle();
    assert.deepEqual([first.texts, second.texts], [[], ['x', 'y']]);
    assert.equal(pool.health().responsive, 1);
    second.stalledSince = performance.now() - 4_000;
    launch(pool, 'C3', 'z');
    await settle();
    assert.deepEqual([first.texts, second.texts], [[], ['x', 'y', 'z']], 'the second answered more recently');
    first.stalledSince = performance.now() - 3_000;
    launch(pool, 'C4', 'w');
    await settle();
    assert.deepEqual(first.texts, ['w']);
    const health = pool.health();
    assert.equal(health.responsive, 0);
    assert.equal(health.healthy, true, 'not for long enough to be unhealthy');
  });

  test('unhealthy once no thread has answered a heartbeat for longer than unhealthyAfterMs', async () => {
    const { pool, threads } = await startPool(2, { unhealthyAfterMs: 2_000 });
    const [first, second] = threads;
    first.stalledSince = performance.now() - 5_000;
    second.stalledSince = performance.now() - 1_000;
    assert.equal(pool.health().healthy, true, 'the second answered a second ago');
    second.stalledSince = performance.now() - 2_500;
    assert.deepEqual(pool.health(), { healthy: false, alive: 2, responsive: 0, total: 2, restarts: 0 });
    second.stalled = false;
    assert.equal(pool.health().healthy, true);
  });

  test('a channel with too many calls waiting is refused with the reason; other channels are not', async () => {
    const { pool } = await startPool(1, { maxInFlightPerThread: 1, maxQueuedPerKey: 2 });
    launch(pool, 'C-busy', 'b1');
    launch(pool, 'C-busy', 'b2');
    launch(pool, 'C-busy', 'b3');
    await assert.rejects(ask(pool, 'C-busy', 'b4'), (error) => {
      assert.ok(isWorkRefused(error));
      assert.equal(error.userMessage, 'Deskhand is busy with 3 requests from this channel; try again in a minute.');
      return true;
    });
    launch(pool, 'C-calm', 'c1');
  });

  test('a modal submission skips the queue: Slack waits at most 3 s for its ack', async () => {
    const { pool, threads } = await startPool(1, { maxInFlightPerThread: 1 });
    launch(pool, 'C1', 'a1');
    launch(pool, 'C1', 'a2');
    await settle();
    const request: ViewRequest = {
      callbackId: Object.values(views)[0] as ViewRequest['callbackId'],
      workspaceId: 'T1',
      userId: 'U1',
      viewId: 'V1',
      privateMetadata: '',
      values: {},
      requestId: randomUUID(),
    };
    await pool.view(request);
    assert.deepEqual(threads[0].texts, ['a1', 'view:V1']);
  });

  test('close interrupts the calls still waiting, so durable work leaves them for a sweeper', async () => {
    const { pool } = await startPool(1, { maxInFlightPerThread: 1 });
    launch(pool, 'C1', 'a1');
    const waiting = ask(pool, 'C1', 'a2');
    await pool.close(100);
    await assert.rejects(waiting, (error) => isWorkInterrupted(error));
  });
});
