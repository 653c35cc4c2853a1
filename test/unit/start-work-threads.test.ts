/**
 * How main.ts's work threads are started (src/composition/worker/start-work-threads.ts), on scripted threads: with
 * the embedded index and several threads they share one index thread; with Qdrant, or one thread, there is none;
 * when the index thread dies a new one starts and every work thread is replaced to reconnect to it; closing closes
 * the index after the work threads.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import {
  type IndexThreadHandle,
  startWorkThreads,
  type WorkThreadStarters,
} from '../../src/composition/worker/start-work-threads.ts';
import type { ThreadedWorkOptions } from '../../src/composition/worker/threaded-work.ts';
import type { PoolThread } from '../../src/composition/worker/work-pool.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';

const events: string[] = [];

class ScriptedIndex implements IndexThreadHandle {
  readonly ports = new Set<MessagePort>();
  readonly exited: Promise<number>;
  die!: (code: number) => void;

  readonly name: string;

  constructor(name: string) {
    this.name = name;
    this.exited = new Promise((resolve) => {
      this.die = resolve;
    });
  }

  connect(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    port1.close();
    this.ports.add(port2);
    return port2;
  }

  async close(): Promise<void> {
    events.push(`close ${this.name}`);
  }
}

class ScriptedWorkThread implements PoolThread {
  alive = true;
  readonly lastHeartbeatAt = Number.POSITIVE_INFINITY;
  readonly eventLoopDelayMs = 0;
  readonly exited: Promise<number>;
  #exit!: (code: number) => void;

  readonly indexPort: MessagePort | undefined;

  constructor(indexPort: MessagePort | undefined) {
    this.indexPort = indexPort;
    this.exited = new Promise((resolve) => {
      this.#exit = resolve;
    });
  }

  async terminate(): Promise<void> {
    this.alive = false;
    this.#exit(1);
  }

  route = async () => ({ status: 'ignored' as const });
  reaction = async () => ({ status: 'ignored' as const });
  action = async () => {};
  fileShared = async () => {};
  assistantThread = async () => {};
  homeOpened = async () => {};
  view = async () => ({ settled: Promise.resolve() });
  setIdentity(): void {}
  ready = async () => true;
  metrics = async () => [];
  close = async () => {
    events.push('close work thread');
  };
}

function scripted() {
  const indexes: ScriptedIndex[] = [];
  const threads: ScriptedWorkThread[] = [];
  const starters: WorkThreadStarters = {
    startIndexThread: async () => {
      const index = new ScriptedIndex(`index ${indexes.length + 1}`);
      indexes.push(index);
      return index;
    },
    startWorkThread: async (options: ThreadedWorkOptions) => {
      const thread = new ScriptedWorkThread(options.vectorIndexPort);
      threads.push(thread);
      return thread;
    },
  };
  const indexOf = (thread: ScriptedWorkThread) =>
    indexes.find((index) => thread.indexPort && index.ports.has(thread.indexPort))?.name;
  return { indexes, threads, starters, indexOf };
}

const logger = createSilentLogger();

describe('startWorkThreads', () => {
  test('with the embedded index, several work threads share one index thread', async () => {
    const { indexes, threads, starters, indexOf } = scripted();
    const pool = await startWorkThreads(
      { workThreads: 3, qdrant: { url: undefined } } as never,
      logger,
      createMetricsRegistry(),
      starters,
    );
    assert.equal(indexes.length, 1);
    assert.deepEqual(threads.map(indexOf), ['index 1', 'index 1', 'index 1']);
    events.length = 0;
    await pool.close(100);
    assert.deepEqual(events, ['close work thread', 'close work thread', 'close work thread', 'close index 1']);
  });

  test('with Qdrant, or a single work thread, there is no index thread', async () => {
    for (const configuration of [
      { workThreads: 2, qdrant: { url: 'http://qdrant:6333' } },
      { workThreads: 1, qdrant: { url: undefined } },
    ]) {
      const { indexes, threads, starters } = scripted();
      const pool = await startWorkThreads(configuration as never, logger, createMetricsRegistry(), starters);
      assert.equal(indexes.length, 0);
      assert.ok(threads.every((thread) => thread.indexPort === undefined));
      await pool.close(100);
    }
  });

  test('when the index thread dies, a new one starts and every work thread is replaced to reconnect', async () => {
    const { indexes, threads, starters, indexOf } = scripted();
    const pool = await startWorkThreads(
      { workThreads: 2, qdrant: { url: undefined } } as never,
      logger,
      createMetricsRegistry(),
      starters,
    );
    indexes[0]?.die(1);
    for (let tries = 0; tries < 50 && threads.length < 4; tries += 1) await sleep(50);
    assert.equal(indexes.length, 2);
    assert.deepEqual(threads.map(indexOf), ['index 1', 'index 1', 'index 2', 'index 2']);
    assert.deepEqual(
      threads.map((thread) => thread.alive),
      [false, false, true, true],
    );
    assert.equal(pool.health().restarts, 2);
    await pool.close(100);
  });
});
