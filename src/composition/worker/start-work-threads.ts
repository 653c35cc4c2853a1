/**
 * Starts the work side's threads for main.ts: a pool of `WORK_THREADS` work threads (work-pool.ts) and, when they
 * use the embedded index (`QDRANT_URL` unset) and there are several, the one index thread they share
 * (shared-index.ts). The index thread is restarted when it dies, and the work threads with it (the pool replaces
 * them; their calls in flight are interrupted, which durable work retries), so that they reconnect.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import type { Configuration } from '../config.ts';
import type { FromIndexThread, ToIndexThread } from './index-thread.ts';
import { ThreadedWork, type ThreadedWorkOptions } from './threaded-work.ts';
import { type PoolThread, WorkPool } from './work-pool.ts';

/** The index thread as the work threads' starter needs it. */
export interface IndexThreadHandle {
  readonly exited: Promise<number>;
  /** A new connection to the index, for one work thread. */
  connect(): MessagePort;
  close(): Promise<void>;
}

/** How threads are started: the real ones by default; tests script them. */
export interface WorkThreadStarters {
  startIndexThread: (logger: Logger) => Promise<IndexThreadHandle>;
  startWorkThread: (options: ThreadedWorkOptions) => Promise<PoolThread & { terminate(): Promise<void> }>;
}

export async function startWorkThreads(
  configuration: Pick<Configuration, 'workThreads' | 'qdrant'>,
  logger: Logger,
  registry: Registry,
  starters: Partial<WorkThreadStarters> = {},
): Promise<WorkPool> {
  const startIndexThread = starters.startIndexThread ?? ((log: Logger) => IndexThread.start(log));
  const startWorkThread = starters.startWorkThread ?? ((options: ThreadedWorkOptions) => ThreadedWork.start(options));
  const size = configuration.workThreads;
  const threads = new Set<PoolThread & { terminate(): Promise<void> }>();
  let closing = false;
  let index: Promise<IndexThreadHandle> | undefined;
  const watch = (started: IndexThreadHandle) => {
    void started.exited.then((exitCode) => {
      if (closing) return;
      logger.error({ code: 'internal', exitCode }, 'index thread exited; restarting it and the work threads');
      index = startWithRetry(() => startIndexThread(logger), logger);
      void index.then((restarted) => {
        watch(restarted);
        for (const thread of threads) void thread.terminate();
      });
    });
    return started;
  };
  if (!configuration.qdrant.url && size > 1) index = startIndexThread(logger).then(watch);
  const startThread = async () => {
    const vectorIndexPort = index ? (await index).connect() : undefined;
    const thread = await startWorkThread({ logger, ...(vectorIndexPort ? { vectorIndexPort } : {}) });
    threads.add(thread);
    void thread.exited.then(() => threads.delete(thread));
    return thread;
  };
  const onClose = async () => {
    closing = true;
    await (await index)?.close();
  };
  try {
    return await WorkPool.start({ size, logger, registry, startThread, onClose });
  } catch (error) {
    await onClose().catch(() => {});
    throw error;
  }
}

/** Starts it again until it starts, waiting 1 s, 2 s, 4 s… (at most 30 s) between tries. */
async function startWithRetry(start: () => Promise<IndexThreadHandle>, logger: Logger): Promise<IndexThreadHandle> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      const delayMs = Math.min(30_000, 1_000 * 2 ** attempt);
      logger.error({ err: error, code: 'internal', delayMs }, 'index thread could not be restarted');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** The main thread's handle on the index thread. */
class IndexThread implements IndexThreadHandle {
  readonly exited: Promise<number>;
  readonly #worker: Worker;

  private constructor(worker: Worker) {
    this.#worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
  }

  static async start(logger: Logger): Promise<IndexThread> {
    const worker = new Worker(new URL('./index-thread.ts', import.meta.url));
    worker.on('error', (error) => logger.error({ err: error, code: 'internal' }, 'index thread crashed'));
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromIndexThread) => {
        if (message.type === 'started') done(resolve);
        if (message.type === 'failed') {
          done(() => reject(new DeskhandError('configuration', message.message, { userMessage: message.message })));
        }
      };
      const onExit = (code: number) => done(() => reject(new Error(`index thread exited with code ${code}`)));
      const done = (outcome: () => void) => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        outcome();
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });
    return new IndexThread(worker);
  }

  /** A new connection to the index, for one work thread. */
  connect(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.#worker.postMessage({ type: 'connect', port: port1 } satisfies ToIndexThread, [port1]);
    return port2;
  }

  /** Closes the index (its log flushed), then ends the thread; at most 5 s. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.#worker.on('message', (message: FromIndexThread) => {
        if (message.type === 'closed') resolve();
      });
      void this.exited.then(() => resolve());
    });
    this.#worker.postMessage({ type: 'close' } satisfies ToIndexThread);
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await this.#worker.terminate();
  }
}
