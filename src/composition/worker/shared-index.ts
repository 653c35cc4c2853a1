/**
 * The embedded vector index shared by several work threads. The embedded index (`QDRANT_URL` unset) keeps its data
 * in the memory of the thread that opened it and takes one writer (its log and snapshot under `DATA_DIR/index`):
 * two work threads each opening it would each see only their own writes and interleave the files. So with a pool
 * of work threads it lives in a thread of its own (index-thread.ts), and each work thread gets a
 * `RemoteVectorIndex`: the `VectorIndex` port forwarded over a MessagePort. The index keeps its guarantees (it
 * serialises mutations itself; searches see a document's old chunks or its new ones), and a search's scan runs on
 * the index thread, not on a work thread's loop. Every argument and result is structured-clone data.
 */
import type { MessagePort } from 'node:worker_threads';
import { DeskhandError, type OutcomeCode, outcomeCodes, toDeskhandError } from '../../errors.ts';
import type { VectorIndex } from '../../ports/vector-index.ts';

const methods = [
  'ensureReady',
  'ping',
  'replaceDocument',
  'deleteDocument',
  'deleteWorkspace',
  'getDocument',
  'listDocuments',
  'search',
  'getChunks',
  'indexVersion',
] as const;
type IndexMethod = (typeof methods)[number];

interface IndexCall {
  id: number;
  method: IndexMethod;
  args: unknown[];
}

type IndexReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; code: string; message: string; userMessage: string };

/** Index-thread side: answers the calls arriving on `port` with `index` (which this side owns and closes). */
export function serveVectorIndex(port: MessagePort, index: VectorIndex): void {
  port.on('message', (call: IndexCall) => {
    const send = (reply: IndexReply) => port.postMessage(reply);
    if (!(methods as readonly string[]).includes(call.method)) {
      send({ id: call.id, ok: false, code: 'internal', message: `no index method ${call.method}`, userMessage: '' });
      return;
    }
    const method = index[call.method] as (...args: unknown[]) => Promise<unknown>;
    method.apply(index, call.args).then(
      (value) => send({ id: call.id, ok: true, value }),
      (error: unknown) => {
        const coded = toDeskhandError(error);
        send({ id: call.id, ok: false, code: coded.code, message: coded.message, userMessage: coded.userMessage });
      },
    );
  });
}

/** Work-thread side: the `VectorIndex` port, answered by the index thread. `close` closes only the connection. */
export class RemoteVectorIndex implements VectorIndex {
  readonly #port: MessagePort;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  #nextId = 1;
  #closed = false;

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (reply: IndexReply) => this.#onReply(reply));
    // The other end closes when the index thread ends: nothing will answer what is pending.
    port.on('close', () => {
      this.#closed = true;
      const error = new DeskhandError('upstream_unavailable', 'the index thread stopped', {
        retryable: true,
        userMessage: 'The document index is restarting. Please try again in a minute.',
      });
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    });
  }

  ensureReady(): Promise<void> {
    return this.#call('ensureReady', []);
  }

  async ping(): Promise<boolean> {
    return !this.#closed && this.#call<boolean>('ping', []);
  }

  replaceDocument(...args: Parameters<VectorIndex['replaceDocument']>): Promise<void> {
    return this.#call('replaceDocument', args);
  }

  deleteDocument(...args: Parameters<VectorIndex['deleteDocument']>): Promise<boolean> {
    return this.#call('deleteDocument', args);
  }

  deleteWorkspace(...args: Parameters<VectorIndex['deleteWorkspace']>): ReturnType<VectorIndex['deleteWorkspace']> {
    return this.#call('deleteWorkspace', args);
  }

  getDocument(...args: Parameters<VectorIndex['getDocument']>): ReturnType<VectorIndex['getDocument']> {
    return this.#call('getDocument', args);
  }

  listDocuments(...args: Parameters<VectorIndex['listDocuments']>): ReturnType<VectorIndex['listDocuments']> {
    return this.#call('listDocuments', args);
  }

  search(...args: Parameters<VectorIndex['search']>): ReturnType<VectorIndex['search']> {
    return this.#call('search', args);
  }

  getChunks(...args: Parameters<VectorIndex['getChunks']>): ReturnType<VectorIndex['getChunks']> {
    return this.#call('getChunks', args);
  }

  indexVersion(...args: Parameters<VectorIndex['indexVersion']>): Promise<number> {
    return this.#call('indexVersion', args);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#port.close();
  }

  #call<T>(method: IndexMethod, args: unknown[]): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new DeskhandError('upstream_unavailable', 'the index connection is closed'));
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#port.postMessage({ id, method, args } satisfies IndexCall);
    });
  }

  #onReply(reply: IndexReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply.value);
    else {
      const code = (outcomeCodes as readonly string[]).includes(reply.code) ? (reply.code as OutcomeCode) : 'internal';
      pending.reject(
        new DeskhandError(code, reply.message, reply.userMessage ? { userMessage: reply.userMessage } : {}),
      );
    }
  }
}
