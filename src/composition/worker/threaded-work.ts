/**
 * The work side in a worker thread, seen from the ingress as a `Work`. Node runs one event loop per thread: with
 * the model, index, tokenizer and Slack work on the worker's loop, the main loop only parses, verifies,
 * de-duplicates and acknowledges — its latency no longer depends on how busy the background is.
 *
 * One thread of the pool (work-pool.ts): it also reports whether it is alive, when its event loop last answered
 * (`lastHeartbeatAt`, from the thread's heartbeat timer) and when it exited. When the thread dies, its calls in
 * flight reject with `WorkInterruptedError`, which durable work retries (src/work/work-errors.ts).
 */
import { performance } from 'node:perf_hooks';
import { type MessagePort, type ResourceLimits, Worker } from 'node:worker_threads';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { DeskhandError, type OutcomeCode, outcomeCodes } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { RouterOutcome } from '../../router/router.ts';
import type { BotIdentity } from '../../router/thread-context.ts';
import type { AdminIngestRequest, AdminIngestResult } from '../../work/admin-ingest.ts';
import type { ViewAckResponse } from '../../work/requests.ts';
import type { Work } from '../../work/work.ts';
import { WorkInterruptedError } from '../../work/work-errors.ts';
import type { FromWorker, ToWorker, WorkMethod, WorkThreadData } from './work-protocol.ts';

export interface ThreadedWorkOptions {
  logger: Logger;
  /** The thread's entry module (default: work-thread.ts, the real work side); tests serve a scripted `Work`. */
  entry?: URL;
  /** Heartbeat period of the thread's event loop (default 100 ms). */
  heartbeatMs?: number;
  /** A connection to the shared embedded index (shared-index.ts), handed to the thread. */
  vectorIndexPort?: MessagePort;
  /** Memory limits of the thread (Node's `resourceLimits`); exceeding them ends the thread, not the process. */
  resourceLimits?: ResourceLimits;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class ThreadedWork implements Work {
  readonly #worker: Worker;
  readonly #logger: Logger;
  readonly #pending = new Map<number, Pending>();
  readonly #settling = new Map<number, () => void>();
  readonly #exited: Promise<number>;
  #nextId = 1;
  #alive = true;
  #closing = false;
  #lastHeartbeatAt = performance.now();
  #eventLoopDelayMs = 0;

  private constructor(worker: Worker, logger: Logger) {
    this.#worker = worker;
    this.#logger = logger;
    this.#exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.on('message', (message: FromWorker) => this.#onMessage(message));
    worker.on('error', (error) => {
      logger.error({ err: error, code: 'internal' }, 'work thread crashed');
    });
    worker.on('exit', (code) => {
      this.#alive = false;
      const error = new WorkInterruptedError(`work thread exited with code ${code}`, { details: { exitCode: code } });
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
      for (const settle of this.#settling.values()) settle();
      this.#settling.clear();
      if (!this.#closing) logger.error({ code: 'internal', exitCode: code }, 'work thread exited');
    });
  }

  /** Starts the thread and resolves once its work side is built (rejects with its configuration problem). */
  static async start(options: ThreadedWorkOptions): Promise<ThreadedWork> {
    const { vectorIndexPort } = options;
    const workerData: WorkThreadData = { heartbeatMs: options.heartbeatMs ?? 100, vectorIndexPort };
    const worker = new Worker(options.entry ?? new URL('./work-thread.ts', import.meta.url), {
      workerData,
      ...(vectorIndexPort ? { transferList: [vectorIndexPort] } : {}),
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.type === 'started') settle(() => resolve());
        if (message.type === 'failed')
          settle(() => reject(new DeskhandError('configuration', message.message, { userMessage: message.message })));
      };
      const onError = (error: Error) => settle(() => reject(error));
      const onExit = (code: number) =>
        settle(() => reject(new Error(`work thread exited with code ${code} while starting`)));
      // Only our own listeners are removed: Worker relies on internal 'newListener' hooks to deliver messages.
      const settle = (outcome: () => void) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        outcome();
      };
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    });
    return new ThreadedWork(worker, options.logger);
  }

  /** False once the thread has exited (crashed, was terminated or closed). */
  get alive(): boolean {
    return this.#alive;
  }

  /** When (performance.now()) the thread's event loop last sent its heartbeat. */
  get lastHeartbeatAt(): number {
    return this.#lastHeartbeatAt;
  }

  /** The worst event-loop delay the thread reported in its last heartbeat. */
  get eventLoopDelayMs(): number {
    return this.#eventLoopDelayMs;
  }

  /** Resolves with the exit code once the thread has ended, however it ended. */
  get exited(): Promise<number> {
    return this.#exited;
  }

  /** Ends the thread at once (its calls in flight reject as interrupted); for a stop that must not wait. */
  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }

  #onMessage(message: FromWorker): void {
    if (message.type === 'heartbeat') {
      this.#lastHeartbeatAt = performance.now();
      this.#eventLoopDelayMs = message.delayMs;
      return;
    }
    if (message.type === 'settled') {
      this.#settling.get(message.id)?.();
      this.#settling.delete(message.id);
      return;
    }
    if (message.type !== 'result') return;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.ok) pending.resolve(message.value);
    else {
      const code = (outcomeCodes as readonly string[]).includes(message.code)
        ? (message.code as OutcomeCode)
        : 'internal';
      pending.reject(new DeskhandError(code, message.message, { userMessage: message.userMessage }));
    }
  }

  #request<T>(build: (id: number) => ToWorker): { id: number; promise: Promise<T> } {
    const id = this.#nextId++;
    if (!this.#alive) {
      return { id, promise: Promise.reject(new WorkInterruptedError('work thread is not running')) };
    }
    const promise = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
    this.#worker.postMessage(build(id));
    return { id, promise };
  }

  #call<T>(method: WorkMethod, request: unknown): Promise<T> {
    return this.#request<T>((id) => ({ type: 'call', id, method, request })).promise;
  }

  route(request: Parameters<Work['route']>[0]): Promise<RouterOutcome> {
    return this.#call('route', request);
  }

  reaction(request: Parameters<Work['reaction']>[0]): Promise<RouterOutcome> {
    return this.#call('reaction', request);
  }

  action(request: Parameters<Work['action']>[0]): Promise<void> {
    return this.#call('action', request);
  }

  async view(request: Parameters<Work['view']>[0]): Promise<{ response?: ViewAckResponse; settled: Promise<void> }> {
    const { id, promise } = this.#request<{ response?: ViewAckResponse }>((requestId) => ({
      type: 'call',
      id: requestId,
      method: 'view',
      request,
    }));
    const settled = new Promise<void>((resolve) => this.#settling.set(id, resolve));
    const { response } = await promise;
    return { ...(response ? { response } : {}), settled };
  }

  fileShared(request: Parameters<Work['fileShared']>[0]): Promise<void> {
    return this.#call('fileShared', request);
  }

  assistantThread(request: Parameters<Work['assistantThread']>[0]): Promise<void> {
    return this.#call('assistantThread', request);
  }

  homeOpened(request: Parameters<Work['homeOpened']>[0]): Promise<void> {
    return this.#call('homeOpened', request);
  }

  adminIngest(request: AdminIngestRequest): Promise<AdminIngestResult> {
    return this.#call('adminIngest', request);
  }

  setIdentity(identity: BotIdentity): void {
    if (this.#alive) this.#worker.postMessage({ type: 'identity', identity } satisfies ToWorker);
  }

  async ready(): Promise<boolean> {
    if (!this.#alive) return false;
    return this.#request<boolean>((id) => ({ type: 'ready', id })).promise;
  }

  /** The work thread's metrics, for `GET /metrics`. */
  async metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    if (!this.#alive) return [];
    return this.#request<MetricObjectWithValues<MetricValue<string>>[]>((id) => ({ type: 'metrics', id })).promise;
  }

  /**
   * Asks the work side to finish its work and release what it owns, then ends the thread — after `timeoutMs` plus a
   * second at most, so that a thread whose loop is blocked does not hold up the shutdown.
   */
  async close(timeoutMs: number): Promise<void> {
    if (!this.#alive) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs + 1_000);
    });
    try {
      const closed = this.#request<void>((id) => ({ type: 'close', id, timeoutMs })).promise;
      if ((await Promise.race([closed, deadline])) === 'late') {
        this.#logger.warn({ code: 'deadline_exceeded', timeoutMs }, 'work thread did not close in time; ending it');
      }
    } catch (error) {
      this.#logger.warn({ err: error }, 'work thread did not close cleanly');
    } finally {
      clearTimeout(timer);
    }
    this.#closing = true;
    await this.#worker.terminate();
  }
}
