/**
 * The work side as a pool of N work threads (`WORK_THREADS`), seen from the ingress as one `Work`, so that one
 * channel's heavy request cannot delay another channel's `/budget` or answer, and a dead thread is replaced.
 *
 * Why each part is there:
 * - **Several threads.** A CPU-heavy call (a huge document, a pathological pattern) blocks its thread's whole
 *   event loop, and with it every call in flight on that thread. With N ≥ 2 threads the others keep answering.
 * - **At most M calls in flight per channel** (`maxInFlightPerKey`, default 8) **and K per thread**
 *   (`maxInFlightPerThread`, default 256). Beyond either, calls wait in a **fair queue** keyed by
 *   `workspaceId:channelId` (src/work/fair-queue.ts: round-robin across channels, FIFO within one, at most
 *   `maxQueuedPerKey` waiting per channel — beyond that the call is refused with "Deskhand is busy with N
 *   requests from this channel…", a `WorkRefusedError` the ingress shows to the user). M is what makes it fair:
 *   a channel firing a hundred requests holds M slots, and every other channel's call starts at once. K is a
 *   bound on memory and on how many calls can share the fate of one blocked loop, not a throughput limit: calls
 *   are mostly I/O waits (a model reply takes seconds), so a small K would cap the whole process at K×N/latency
 *   requests per second (K = 8, two threads, 5 s replies: 3 per second; the ingress bench sends 50). A queue in
 *   front of the threads is not enough by itself: the call it starts can still land behind a blocked loop. Hence
 *   the next two points.
 * - **Heartbeats.** Each thread reports from a timer on its own loop every `heartbeatMs` (serve-work.ts); a thread
 *   whose last heartbeat is older than `stallAfterMs` is *stalled* and gets no new calls while another thread
 *   can take them (when every thread is stalled, the one that answered last does). Dispatch goes to the
 *   responsive thread with the fewest calls in flight.
 * - **Pin-avoidance.** Among those, a thread with no call in flight from the same channel is preferred: a
 *   channel's follow-up does not land on the thread its own heavy call is blocking (the heartbeat needs
 *   `stallAfterMs` to notice; this covers the gap) — and spreading a channel's calls spreads the damage it can do.
 * - **Replacement.** A thread that exits (crash, out of memory, `resourceLimits`) is restarted with exponential
 *   backoff, gets the bot identity again, and counts in `deskhand_work_threads_restarted_total`. Its calls in
 *   flight reject with `WorkInterruptedError`: durable work re-runs them through its sweeper (at most
 *   `maxAttempts` times, then the user is told), a modal submission shows the reason.
 * - **Views** (modal submissions) skip the queue: Slack waits at most 3 s for their ack and their quick part is
 *   small by contract (requests.ts), so they go straight to the best thread, K notwithstanding.
 * - **Health** (`health()`, for `/healthz`): unhealthy when no thread is alive, or when none has answered a
 *   heartbeat for longer than `unhealthyAfterMs` (all loops blocked: the process serves no one).
 */
import { performance } from 'node:perf_hooks';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import type { RouterOutcome } from '../../router/router.ts';
import type { BotIdentity } from '../../router/thread-context.ts';
import type { WorkThreadsHealth } from '../../slack/health-routes.ts';
import type { AdminIngestRequest, AdminIngestResult } from '../../work/admin-ingest.ts';
import { FairQueue } from '../../work/fair-queue.ts';
import type { ViewAckResponse } from '../../work/requests.ts';
import type { Work } from '../../work/work.ts';
import { fairnessKey, WorkInterruptedError, WorkRefusedError } from '../../work/work-errors.ts';
import { poolMetrics, withTimeout } from './work-pool-metrics.ts';

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

/** One work thread as the pool sees it (a `ThreadedWork`, or a test double). */
export interface PoolThread extends Work {
  readonly alive: boolean;
  /** performance.now() of the thread's last heartbeat. */
  readonly lastHeartbeatAt: number;
  readonly eventLoopDelayMs: number;
  /** Resolves with the exit code once the thread has ended. */
  readonly exited: Promise<number>;
  metrics(): Promise<Metrics>;
}

export interface WorkPoolOptions {
  /** Number of threads (WORK_THREADS). */
  size: number;
  /** Starts one thread; resolves once its work side is built. */
  startThread: () => Promise<PoolThread>;
  logger: Logger;
  /** The ingress's registry: the pool's own metrics (queue, in flight, restarts) go there. */
  registry: Registry;
  /** K: calls in flight per thread before calls wait in the fair queue (default 256). */
  maxInFlightPerThread?: number;
  /** M: calls in flight per `workspaceId:channelId` before that channel's further calls wait (default 8). */
  maxInFlightPerKey?: number;
  /** Calls waiting per `workspaceId:channelId` before further ones are refused (default 20). */
  maxQueuedPerKey?: number;
  /** A thread without a heartbeat for this long gets no new calls while another can take them (default 1000). */
  stallAfterMs?: number;
  /** First and largest delay before restarting a dead thread (default 250 ms, doubling up to 30 s). */
  restartBackoffMs?: { initial: number; max: number };
  /** `/healthz` fails when no thread has answered a heartbeat for this long (default 30 s). */
  unhealthyAfterMs?: number;
  /** Time limit of each thread's part of `metrics()` (default 1 s): a blocked thread is left out. */
  metricsTimeoutMs?: number;
  /** Runs at the end of `close`, after every thread has closed (e.g. closing what they shared). */
  onClose?: () => Promise<void>;
}

type QueuedMethod = 'route' | 'reaction' | 'action' | 'fileShared' | 'assistantThread' | 'homeOpened' | 'adminIngest';

interface Waiting {
  key: string;
  method: QueuedMethod;
  request: unknown;
  enqueuedAt: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  index: number;
  thread: PoolThread | undefined;
  inFlight: number;
  /** Calls in flight per fairness key. */
  keys: Map<string, number>;
  startedAt: number;
  /** Consecutive quick deaths, for the restart backoff. */
  failures: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export class WorkPool implements Work {
  readonly #options: WorkPoolOptions;
  readonly #slots: Slot[];
  readonly #queue: FairQueue<Waiting>;
  readonly #maxInFlight: number;
  readonly #maxInFlightPerKey: number;
  readonly #stallAfterMs: number;
  readonly #metrics;
  readonly #tick: NodeJS.Timeout;
  #identity: BotIdentity | undefined;
  #restarts = 0;
  #closing = false;

  private constructor(options: WorkPoolOptions, threads: PoolThread[]) {
    this.#options = options;
    this.#maxInFlight = options.maxInFlightPerThread ?? 256;
    this.#maxInFlightPerKey = options.maxInFlightPerKey ?? 8;
    this.#stallAfterMs = options.stallAfterMs ?? 1_000;
    this.#queue = new FairQueue({ maxPerKey: options.maxQueuedPerKey ?? 20 });
    this.#metrics = poolMetrics(options.registry);
    this.#slots = threads.map((thread, index) => {
      const slot: Slot = {
        index,
        thread: undefined,
        inFlight: 0,
        keys: new Map(),
        startedAt: 0,
        failures: 0,
        restartTimer: undefined,
      };
      this.#attach(slot, thread);
      return slot;
    });
    // Dispatches calls that wait for a stalled thread to answer again, and keeps the gauges current.
    this.#tick = setInterval(() => this.#pump(), Math.max(10, Math.min(100, this.#stallAfterMs / 4)));
    this.#tick.unref();
  }

  /** Starts `size` threads in parallel; rejects (after stopping the others) when one cannot start. */
  static async start(options: WorkPoolOptions): Promise<WorkPool> {
    const started = await Promise.allSettled(Array.from({ length: options.size }, () => options.startThread()));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) {
      for (const result of started) if (result.status === 'fulfilled') await result.value.close(1_000);
      throw failure.reason;
    }
    return new WorkPool(
      options,
      started.map((result) => (result as PromiseFulfilledResult<PoolThread>).value),
    );
  }

  route(request: Parameters<Work['route']>[0]): Promise<RouterOutcome> {
    return this.#submit('route', request, fairnessKey(request));
  }

  reaction(request: Parameters<Work['reaction']>[0]): Promise<RouterOutcome> {
    return this.#submit('reaction', request, fairnessKey(request));
  }

  action(request: Parameters<Work['action']>[0]): Promise<void> {
    return this.#submit('action', request, fairnessKey(request));
  }

  fileShared(request: Parameters<Work['fileShared']>[0]): Promise<void> {
    return this.#submit('fileShared', request, fairnessKey(request));
  }

  assistantThread(request: Parameters<Work['assistantThread']>[0]): Promise<void> {
    return this.#submit('assistantThread', request, fairnessKey(request));
  }

  homeOpened(request: Parameters<Work['homeOpened']>[0]): Promise<void> {
    return this.#submit('homeOpened', request, fairnessKey(request));
  }

  /** Queued like the rest, keyed by workspace (`POST /admin/ingest` has no channel). */
  adminIngest(request: AdminIngestRequest): Promise<AdminIngestResult> {
    return this.#submit('adminIngest', request, fairnessKey({ workspaceId: request.workspaceId }));
  }

  /** Straight to the best thread (no queue, K notwithstanding): Slack waits at most 3 s for the ack. */
  async view(request: Parameters<Work['view']>[0]): Promise<{ response?: ViewAckResponse; settled: Promise<void> }> {
    const key = fairnessKey(request);
    const slot = this.#choose(this.#responsiveOrFreshest(), key);
    if (!slot?.thread) {
      this.#options.logger.warn({ code: 'upstream_unavailable', requestId: request.requestId }, 'view refused');
      this.#metrics.refused.inc({ reason: 'no_thread' });
      throw new WorkRefusedError('no work thread is alive', {
        userMessage: 'Deskhand is restarting its workers. Please try again in a minute.',
      });
    }
    const done = this.#enter(slot, key);
    try {
      const result = await slot.thread.view(request);
      void result.settled.finally(done);
      return result;
    } catch (error) {
      done();
      throw error;
    }
  }

  setIdentity(identity: BotIdentity): void {
    this.#identity = identity;
    for (const slot of this.#slots) if (slot.thread?.alive) slot.thread.setIdentity(identity);
  }

  /** Whether a thread's work side is ready (its Redis and vector index): the first to answer true decides. */
  async ready(): Promise<boolean> {
    const threads = this.#alive().map((slot) => slot.thread as PoolThread);
    if (threads.length === 0) return false;
    return new Promise((resolve) => {
      let pending = threads.length;
      for (const thread of threads) {
        thread.ready().then(
          (ready) => {
            if (ready) resolve(true);
            if (--pending === 0) resolve(false);
          },
          () => {
            if (--pending === 0) resolve(false);
          },
        );
      }
    });
  }

  /** Every live thread's metrics, summed (AggregatorRegistry); a thread that does not answer in time is left out. */
  async metrics(): Promise<Metrics> {
    const timeoutMs = this.#options.metricsTimeoutMs ?? 1_000;
    const parts = await Promise.all(
      this.#alive().map((slot) => withTimeout((slot.thread as PoolThread).metrics(), timeoutMs)),
    );
    const answered = parts.filter((part): part is Metrics => part !== undefined);
    if (answered.length === 0) return [];
    return (await AggregatorRegistry.aggregate(answered).getMetricsAsJSON()) as Metrics;
  }

  health(): WorkThreadsHealth {
    const now = performance.now();
    const alive = this.#alive();
    const lastHeartbeatAt = Math.max(...alive.map((slot) => (slot.thread as PoolThread).lastHeartbeatAt));
    const healthy = alive.length > 0 && now - lastHeartbeatAt <= (this.#options.unhealthyAfterMs ?? 30_000);
    const responsive = this.#live().length;
    return { healthy, alive: alive.length, responsive, total: this.#slots.length, restarts: this.#restarts };
  }

  /** Calls not yet started are interrupted (durable work leaves them to a sweeper); running ones may finish. */
  async close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    clearInterval(this.#tick);
    for (const slot of this.#slots) clearTimeout(slot.restartTimer);
    for (const waiting of this.#queue.drain()) {
      waiting.reject(new WorkInterruptedError('the work pool closed before this call started'));
    }
    await Promise.all(this.#slots.map((slot) => slot.thread?.close(timeoutMs)));
    await this.#options.onClose?.();
  }

  #submit<T>(method: QueuedMethod, request: unknown, key: string): Promise<T> {
    if (this.#closing) return Promise.reject(new WorkInterruptedError('the work pool is closing'));
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = {
        key,
        method,
        request,
        enqueuedAt: performance.now(),
        resolve: resolve as (value: unknown) => void,
        reject,
      };
      if (this.#queue.push(key, waiting)) {
        this.#pump();
        return;
      }
      const busy = this.#queue.sizeOf(key) + this.#inFlightOf(key);
      const requestId = (request as { requestId?: string }).requestId;
      this.#options.logger.warn({ code: 'upstream_rate_limited', key, method, requestId, busy }, 'work refused: busy');
      this.#metrics.refused.inc({ reason: 'busy' });
      reject(
        new WorkRefusedError(`the fair queue of ${key} is full`, {
          userMessage: `Deskhand is busy with ${busy} requests from this channel; try again in a minute.`,
          details: { key, busy },
        }),
      );
    });
  }

  /** Starts waiting calls while a responsive thread has room: round-robin across keys, best thread for each. */
  #pump(): void {
    while (this.#queue.size > 0) {
      const open = this.#responsiveOrFreshest().filter((slot) => slot.inFlight < this.#maxInFlight);
      if (open.length === 0) break;
      const next = this.#queue.shift((key) => this.#inFlightOf(key) < this.#maxInFlightPerKey);
      if (!next) break;
      this.#run(this.#choose(open, next.key) as Slot, next.item);
    }
    this.#metrics.queueLength.set(this.#queue.size);
    this.#metrics.alive.set(this.#alive().length);
    for (const slot of this.#slots) {
      const thread = String(slot.index);
      this.#metrics.inFlight.set({ thread }, slot.inFlight);
      this.#metrics.loopDelay.set({ thread }, (slot.thread?.eventLoopDelayMs ?? 0) / 1_000);
    }
  }

  #run(slot: Slot, waiting: Waiting): void {
    this.#metrics.wait.observe((performance.now() - waiting.enqueuedAt) / 1_000);
    const done = this.#enter(slot, waiting.key);
    const thread = slot.thread as PoolThread;
    const method = thread[waiting.method] as ((request: unknown) => Promise<unknown>) | undefined;
    const call = method
      ? method.call(thread, waiting.request)
      : Promise.reject(new Error(`work thread has no ${waiting.method}`));
    call.then(waiting.resolve, waiting.reject).finally(() => {
      done();
      this.#pump();
    });
  }

  /** Counts a call in flight on `slot`; the returned function ends it (once). */
  #enter(slot: Slot, key: string): () => void {
    slot.inFlight += 1;
    slot.keys.set(key, (slot.keys.get(key) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      slot.inFlight -= 1;
      const left = (slot.keys.get(key) ?? 1) - 1;
      if (left > 0) slot.keys.set(key, left);
      else slot.keys.delete(key);
    };
  }

  /** Prefers a thread with no call of `key` in flight (pin-avoidance), then the fewest calls in flight. */
  #choose(candidates: Slot[], key: string): Slot | undefined {
    let best: Slot | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const slot of candidates) {
      const score = (slot.keys.has(key) ? 1_000_000 : 0) + slot.inFlight;
      if (score < bestScore) {
        best = slot;
        bestScore = score;
      }
    }
    return best;
  }

  #inFlightOf(key: string): number {
    return this.#slots.reduce((sum, slot) => sum + (slot.keys.get(key) ?? 0), 0);
  }

  #alive(): Slot[] {
    return this.#slots.filter((slot) => slot.thread?.alive === true);
  }

  /** Alive and answering heartbeats. */
  #live(): Slot[] {
    const now = performance.now();
    return this.#alive().filter((slot) => now - (slot.thread as PoolThread).lastHeartbeatAt <= this.#stallAfterMs);
  }

  /**
   * The responsive threads; when none is (every loop blocked, or the whole machine starved of CPU), the one that
   * answered last: waiting for a heartbeat would only add the wait to every call.
   */
  #responsiveOrFreshest(): Slot[] {
    const live = this.#live();
    if (live.length > 0) return live;
    const freshest = this.#alive().sort(
      (a, b) => (b.thread as PoolThread).lastHeartbeatAt - (a.thread as PoolThread).lastHeartbeatAt,
    )[0];
    return freshest ? [freshest] : [];
  }

  #attach(slot: Slot, thread: PoolThread): void {
    slot.thread = thread;
    slot.startedAt = performance.now();
    if (this.#identity) thread.setIdentity(this.#identity);
    void thread.exited.then((code) => this.#onExit(slot, thread, code));
  }

  #onExit(slot: Slot, thread: PoolThread, exitCode: number): void {
    if (slot.thread !== thread) return;
    slot.thread = undefined;
    this.#pump();
    if (this.#closing) return;
    // A thread that ran for a minute did not die of starting: its replacement gets the shortest delay.
    slot.failures = performance.now() - slot.startedAt > 60_000 ? 1 : slot.failures + 1;
    this.#options.logger.error({ code: 'internal', thread: slot.index, exitCode }, 'work thread exited; replacing it');
    this.#scheduleRestart(slot);
  }

  #scheduleRestart(slot: Slot): void {
    const { initial, max } = this.#options.restartBackoffMs ?? { initial: 250, max: 30_000 };
    const delayMs = Math.min(max, initial * 2 ** Math.max(0, slot.failures - 1));
    slot.restartTimer = setTimeout(() => void this.#restart(slot), delayMs);
  }

  async #restart(slot: Slot): Promise<void> {
    const { logger } = this.#options;
    let thread: PoolThread;
    try {
      thread = await this.#options.startThread();
    } catch (error) {
      slot.failures += 1;
      logger.error({ err: error, code: 'internal', thread: slot.index }, 'work thread could not be restarted');
      if (!this.#closing) this.#scheduleRestart(slot);
      return;
    }
    if (this.#closing) {
      await thread.close(1_000);
      return;
    }
    this.#attach(slot, thread);
    this.#restarts += 1;
    this.#metrics.restarted.inc();
    logger.warn({ code: 'ok', thread: slot.index, restarts: this.#restarts }, 'work thread replaced');
    this.#pump();
  }
}
