/** Messages between the ingress (main thread) and a work thread. Everything is structured-clone data. */
import type { MessagePort } from 'node:worker_threads';
import type { BotIdentity } from '../../router/thread-context.ts';

export type WorkMethod =
  | 'route'
  | 'reaction'
  | 'action'
  | 'view'
  | 'fileShared'
  | 'assistantThread'
  | 'homeOpened'
  | 'adminIngest';

/** What a work thread receives as `workerData`. */
export interface WorkThreadData {
  /** How often the thread reports that its event loop is turning (a `heartbeat` message), in ms. */
  heartbeatMs: number;
  /** A connection to the embedded index the pool's threads share (shared-index.ts); unset: the thread opens its own. */
  vectorIndexPort: MessagePort | undefined;
}

export type ToWorker =
  | { type: 'call'; id: number; method: WorkMethod; request: unknown }
  | { type: 'identity'; identity: BotIdentity }
  | { type: 'ready'; id: number }
  | { type: 'metrics'; id: number }
  | { type: 'close'; id: number; timeoutMs: number };

export type FromWorker =
  | { type: 'started' }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; code: string; message: string; userMessage: string }
  /** A view's work after the ack has ended. */
  | { type: 'settled'; id: number }
  /**
   * Sent every `heartbeatMs` from a timer on the thread's event loop: when it stops arriving, the loop is blocked
   * (a CPU-heavy call). `delayMs` is the worst event-loop delay seen since the previous heartbeat.
   */
  | { type: 'heartbeat'; delayMs: number };
