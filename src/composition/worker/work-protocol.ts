/** Messages between the ingress (main thread) and the work thread. Everything is structured-clone data. */
import type { BotIdentity } from '../../router/thread-context.ts';

export type WorkMethod = 'route' | 'reaction' | 'action' | 'view' | 'fileShared';

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
  | { type: 'settled'; id: number };
