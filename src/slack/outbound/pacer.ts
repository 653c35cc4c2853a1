/**
 * Pacing primitives for Slack egress (docs/platform-facts.md "Slack: egress"):
 * - `KeyedPacer`: one serial queue per channel, at most one start per interval, and a per-channel pause for
 *   429s — so a backlog or a rate limit in one channel never delays another.
 * - `TokenBucket`: a workspace-wide budget (for `chat.update`, Tier 3, ~50 per minute).
 * - `MethodBuckets`: one `TokenBucket` per Web API method, because Slack counts tiers "per API method per app per
 *   workspace" (api.slack.com/apis/rate-limits): `chat.startStream`, `chat.appendStream` and `chat.stopStream` each
 *   have their own Tier 4 budget, and one shared bucket held streamed replies to a third of what Slack allows.
 * - `Coalescer`: pending writes to the same key collapse to the latest value.
 *
 * Hand-written because the usual libraries do not fit: p-queue/bottleneck pace one queue globally (the very
 * behaviour that makes one channel's 429 stall all channels in @slack/web-api), and none coalesce by key.
 * Time is injected (`Clock`) so tests run in milliseconds.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface Clock {
  now(): number;
  /** Resolves after `ms`; when `signal` aborts first, resolves early and releases the timer. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) => (signal === undefined ? sleep(ms) : sleep(ms, undefined, { signal }).catch(() => undefined)),
};

interface KeyState {
  tail: Promise<unknown>;
  lastStart: number;
  blockedUntil: number;
  pending: number;
}

/** Waits for this key's next turn (interval and pause respected), then marks the start. */
export type Turn = () => Promise<void>;

/**
 * A pacing budget shared with other processes (shared-pacing.ts: in Redis, across replicas). `reserve` books the
 * key's next free slot, at least `intervalMs` after the previous one booked by anyone, and resolves with how long
 * to wait for it (ms). Never rejects and never waits long: when the shared budget cannot be reached it resolves 0
 * and the caller paces alone.
 */
export interface SharedPacing {
  reserve(key: string, intervalMs: number): Promise<number>;
}

/**
 * Serial queues per key. Tasks of one key run one at a time, each starting at least `intervalMs` after the
 * previous start and not before a pause set with `pause()`. Keys never wait for each other. With `shared`, each
 * start also takes a slot of the key's budget shared with other processes (other replicas' posts count too).
 */
export class KeyedPacer {
  readonly intervalMs: number;
  #clock: Clock;
  #shared: SharedPacing | undefined;
  #keys = new Map<string, KeyState>();
  #idleWaiters: (() => void)[] = [];

  constructor(options: { intervalMs: number; clock?: Clock; shared?: SharedPacing }) {
    this.intervalMs = options.intervalMs;
    this.#clock = options.clock ?? systemClock;
    this.#shared = options.shared;
  }

  /**
   * Runs `task` in `key`'s queue once its turn comes. The task receives `turn`, to call before retrying after
   * a `pause()` (it waits again for the pause and the interval, keeping this key's queue behind it).
   */
  run<T>(key: string, task: (turn: Turn) => Promise<T>): Promise<T> {
    let state = this.#keys.get(key);
    if (!state) {
      state = { tail: Promise.resolve(), lastStart: Number.NEGATIVE_INFINITY, blockedUntil: 0, pending: 0 };
      this.#keys.set(key, state);
    }
    const current = state;
    current.pending += 1;
    const turn: Turn = () => this.#turn(key, current);
    const result = current.tail.then(async () => {
      await turn();
      return task(turn);
    });
    current.tail = result.then(
      () => this.#settle(key, current),
      () => this.#settle(key, current),
    );
    return result;
  }

  /** Blocks `key` until `until` (clock time), e.g. `now + Retry-After`. Other keys are unaffected. */
  pause(key: string, until: number): void {
    const state = this.#keys.get(key);
    if (state) state.blockedUntil = Math.max(state.blockedUntil, until);
  }

  /** Tasks queued or running for `key`. */
  pending(key: string): number {
    return this.#keys.get(key)?.pending ?? 0;
  }

  /** Resolves when every queue is empty. */
  idle(): Promise<void> {
    if ([...this.#keys.values()].every((entry) => entry.pending === 0)) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #turn(key: string, state: KeyState): Promise<void> {
    for (;;) {
      const wait = Math.max(state.lastStart + this.intervalMs, state.blockedUntil) - this.#clock.now();
      if (wait <= 0) break;
      await this.#clock.sleep(wait);
    }
    if (this.#shared) {
      const sharedWait = await this.#shared.reserve(key, this.intervalMs);
      if (sharedWait > 0) await this.#clock.sleep(sharedWait);
    }
    state.lastStart = this.#clock.now();
  }

  #settle(key: string, state: KeyState): void {
    state.pending -= 1;
    if (state.pending > 0) return;
    const waitBeforeForgetting = Math.max(state.lastStart + this.intervalMs, state.blockedUntil) - this.#clock.now();
    // Keep the key's timing while it still constrains the next task; forget it afterwards (bounded memory).
    if (waitBeforeForgetting > 0) {
      const timer = setTimeout(() => {
        if (state.pending === 0 && this.#keys.get(key) === state) this.#keys.delete(key);
      }, waitBeforeForgetting);
      timer.unref();
    } else {
      this.#keys.delete(key);
    }
    if ([...this.#keys.values()].every((entry) => entry.pending === 0)) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

/**
 * A token bucket: `capacity` tokens, refilled at `refillPerMinute`. `take()` waits (FIFO) for a token;
 * `pause()` holds every taker until a time (a workspace-wide 429 for the method).
 */
export class TokenBucket {
  readonly capacity: number;
  readonly refillPerMinute: number;
  #clock: Clock;
  #tokens: number;
  #lastRefill: number;
  #blockedUntil = 0;
  #queue: Promise<void> = Promise.resolve();

  constructor(options: { capacity: number; refillPerMinute: number; clock?: Clock }) {
    this.capacity = options.capacity;
    this.refillPerMinute = options.refillPerMinute;
    this.#clock = options.clock ?? systemClock;
    this.#tokens = options.capacity;
    this.#lastRefill = this.#clock.now();
  }

  take(): Promise<void> {
    const next = this.#queue.then(() => this.#takeNow());
    this.#queue = next.catch(() => undefined);
    return next;
  }

  pause(until: number): void {
    this.#blockedUntil = Math.max(this.#blockedUntil, until);
  }

  async #takeNow(): Promise<void> {
    for (;;) {
      const now = this.#clock.now();
      if (now < this.#blockedUntil) {
        await this.#clock.sleep(this.#blockedUntil - now);
        continue;
      }
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#lastRefill) * this.refillPerMinute) / 60_000);
      this.#lastRefill = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await this.#clock.sleep(Math.ceil(((1 - this.#tokens) * 60_000) / this.refillPerMinute));
    }
  }
}

/** One token bucket per Web API method, made on first use with the same capacity and rate. */
export class MethodBuckets {
  readonly #options: { capacity: number; refillPerMinute: number; clock?: Clock };
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(options: { capacity: number; refillPerMinute: number; clock?: Clock }) {
    this.#options = options;
  }

  bucket(method: string): TokenBucket {
    let bucket = this.#buckets.get(method);
    if (!bucket) {
      bucket = new TokenBucket(this.#options);
      this.#buckets.set(method, bucket);
    }
    return bucket;
  }
}

interface Pending<V> {
  value: V;
  resolvers: { resolve: () => void; reject: (error: unknown) => void }[];
}

/**
 * Collapses writes per key: while a write for a key is in flight, later submissions replace each other and
 * only the latest is sent next. Every submitter's promise settles with the send that carried its value or a
 * newer one.
 */
export class Coalescer<V> {
  #send: (key: string, value: V) => Promise<void>;
  #pending = new Map<string, Pending<V>>();
  #running = new Set<string>();
  #idleWaiters: (() => void)[] = [];

  constructor(send: (key: string, value: V) => Promise<void>) {
    this.#send = send;
  }

  submit(key: string, value: V): Promise<void> {
    return new Promise((resolve, reject) => {
      const pending = this.#pending.get(key);
      if (pending) {
        pending.value = value;
        pending.resolvers.push({ resolve, reject });
      } else {
        this.#pending.set(key, { value, resolvers: [{ resolve, reject }] });
      }
      if (!this.#running.has(key)) void this.#drainKey(key);
    });
  }

  /** Keys with a write waiting or in flight. */
  get size(): number {
    return new Set([...this.#pending.keys(), ...this.#running]).size;
  }

  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #drainKey(key: string): Promise<void> {
    this.#running.add(key);
    try {
      for (let batch = this.#pending.get(key); batch; batch = this.#pending.get(key)) {
        this.#pending.delete(key);
        try {
          await this.#send(key, batch.value);
          for (const { resolve } of batch.resolvers) resolve();
        } catch (error) {
          for (const { reject } of batch.resolvers) reject(error);
        }
      }
    } finally {
      this.#running.delete(key);
      if (this.size === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }
}
