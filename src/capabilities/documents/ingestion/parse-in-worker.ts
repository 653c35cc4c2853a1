/**
 * Parsing off the calling thread, bounded: each parse runs in a worker thread with V8 memory and stack limits
 * (`resourceLimits`) and a wall-clock limit, so a hostile document costs at most one worker's heap and
 * `maxParseMilliseconds` of one core, and the thread that serves Slack never runs a parser.
 *
 * Guarantees:
 * - At most `maxConcurrent` parses run per `ParseWorkers` (one shared instance per process by default); more wait
 *   in FIFO order, so parses cannot exhaust memory together.
 * - A worker past its heap limit (ERR_WORKER_OUT_OF_MEMORY) is a `too_large` refusal naming the limit in MB; a parse
 *   past `maxParseMilliseconds` + `killGraceMs` is terminated and refused as `too_slow` naming the limit (the PDF
 *   parser refuses at `maxParseMilliseconds` by itself, between pages, before the kill); a worker that dies any other
 *   way is a `corrupt_file` refusal with its exit code. The calling process survives all three.
 * - A worker that answered is kept for the next parse (starting one costs ~0.3–0.6 s of module loading) and ended
 *   after `idleMs` unused; idle workers do not keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import type { DeskhandError } from '../../../errors.ts';
import type { ParseReply, ParseRequest } from './parse-worker-protocol.ts';
import { deserializeError } from './parse-worker-protocol.ts';
import type { ParsedDocument } from './parsers/document-blocks.ts';
import type { DocumentFile } from './parsers/parse-document.ts';
import { type IngestionLimits, rejectDocument, tooSlow } from './safety.ts';

export interface ParseWorkerOptions {
  /** Parses running at once (default 2); the rest wait in FIFO order. */
  maxConcurrent?: number;
  /** An idle worker is ended after this long (default 10 s). */
  idleMs?: number;
  /** Past `maxParseMilliseconds`, how long a parse may run before its worker is terminated (default 2 s). */
  killGraceMs?: number;
  /** V8 young generation of each worker (default 32 MB); the old generation is `limits.maxParseHeapMb`. */
  youngGenerationMb?: number;
  /** Stack of each worker (default 8 MB: parsers recurse over document trees). */
  stackSizeMb?: number;
}

interface IdleWorker {
  worker: Worker;
  heapMb: number;
  timer: NodeJS.Timeout;
  /** Drops the worker from the idle list should it exit while idle, so no parse is sent to a dead thread. */
  onExit: () => void;
}

export class ParseWorkers {
  readonly #maxConcurrent: number;
  readonly #idleMs: number;
  readonly #killGraceMs: number;
  readonly #youngGenerationMb: number;
  readonly #stackSizeMb: number;
  readonly #idle: IdleWorker[] = [];
  readonly #waiting: (() => void)[] = [];
  #running = 0;
  #nextId = 1;

  constructor(options: ParseWorkerOptions = {}) {
    this.#maxConcurrent = Math.max(1, options.maxConcurrent ?? 2);
    this.#idleMs = options.idleMs ?? 10_000;
    this.#killGraceMs = options.killGraceMs ?? 2_000;
    this.#youngGenerationMb = options.youngGenerationMb ?? 32;
    this.#stackSizeMb = options.stackSizeMb ?? 8;
  }

  /** Parses currently running (not waiting). */
  get running(): number {
    return this.#running;
  }

  /** `parseDocument` in a bounded worker: same result or refusal, plus the memory and wall-clock refusals. */
  async parse(file: DocumentFile, limits: IngestionLimits): Promise<ParsedDocument> {
    await this.#acquire();
    try {
      return await this.#run(file, limits);
    } finally {
      this.#release();
    }
  }

  /** Ends the idle workers (running parses finish on their own). */
  async close(): Promise<void> {
    const idle = this.#idle.splice(0);
    await Promise.all(
      idle.map(({ worker, timer, onExit }) => {
        clearTimeout(timer);
        worker.off('exit', onExit);
        return worker.terminate();
      }),
    );
  }

  #acquire(): Promise<void> {
    if (this.#running < this.#maxConcurrent) {
      this.#running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#running -= 1;
  }

  #worker(heapMb: number): Worker {
    const index = this.#idle.findIndex((idle) => idle.heapMb === heapMb);
    const [idle] = index === -1 ? [] : this.#idle.splice(index, 1);
    if (idle) {
      clearTimeout(idle.timer);
      idle.worker.off('exit', idle.onExit);
      idle.worker.ref();
      return idle.worker;
    }
    return new Worker(new URL('./parse-worker-entry.ts', import.meta.url), {
      resourceLimits: {
        maxOldGenerationSizeMb: heapMb,
        maxYoungGenerationSizeMb: this.#youngGenerationMb,
        stackSizeMb: this.#stackSizeMb,
      },
    });
  }

  #keep(worker: Worker, heapMb: number): void {
    worker.unref();
    const forget = () => {
      const index = this.#idle.findIndex((idle) => idle.worker === worker);
      if (index !== -1) this.#idle.splice(index, 1);
    };
    const timer = setTimeout(() => {
      forget();
      worker.off('exit', forget);
      void worker.terminate();
    }, this.#idleMs);
    timer.unref();
    worker.once('exit', forget);
    this.#idle.push({ worker, heapMb, timer, onExit: forget });
  }

  #run(file: DocumentFile, limits: IngestionLimits): Promise<ParsedDocument> {
    const heapMb = limits.maxParseHeapMb;
    const worker = this.#worker(heapMb);
    const id = this.#nextId++;
    const startedAt = performance.now();
    return new Promise<ParsedDocument>((resolve, reject) => {
      const finish = (outcome: { parsed: ParsedDocument } | { error: DeskhandError }, keep: boolean) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (keep) this.#keep(worker, heapMb);
        if ('parsed' in outcome) resolve(outcome.parsed);
        else reject(outcome.error);
      };
      const onMessage = (reply: ParseReply) => {
        if (reply.id !== id) return;
        finish(reply.ok ? { parsed: reply.parsed } : { error: deserializeError(reply.error) }, true);
      };
      let failure: Error | undefined;
      const onError = (error: Error) => {
        failure = error;
      };
      const onExit = (exitCode: number) =>
        finish({ error: this.#died(file.fileName, limits, exitCode, failure) }, false);
      const timer = setTimeout(() => {
        finish({ error: tooSlow(file.fileName, performance.now() - startedAt, limits) }, false);
        void worker.terminate();
      }, limits.maxParseMilliseconds + this.#killGraceMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      // The worker gets its own copy (transferred, not cloned twice); the caller's bytes stay intact.
      const bytes = new Uint8Array(file.bytes);
      const request: ParseRequest = { id, file: { ...file, bytes }, limits };
      worker.postMessage(request, [bytes.buffer]);
    });
  }

  #died(fileName: string, limits: IngestionLimits, exitCode: number, error: Error | undefined): DeskhandError {
    if ((error as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return rejectDocument(
        'too_large',
        `${fileName}: the parse worker ran out of memory (${limits.maxParseHeapMb} MB heap)`,
        `"${fileName}" is too large: reading it needs more than the ${limits.maxParseHeapMb} MB of memory I allow for one document. Split it into smaller documents.`,
        { limit: limits.maxParseHeapMb, unit: 'MB' },
        error,
      );
    }
    return rejectDocument(
      'corrupt_file',
      `${fileName}: the parse worker exited with code ${exitCode}: ${error?.message ?? 'no error'}`,
      `"${fileName}" could not be read: the reader stopped on it (${error?.message ?? `exit code ${exitCode}`}).`,
      { exitCode },
      error,
    );
  }
}

let shared: ParseWorkers | undefined;

/** The process's shared `ParseWorkers` (created on first use with the defaults). */
export function sharedParseWorkers(): ParseWorkers {
  shared ??= new ParseWorkers();
  return shared;
}

/** `parseDocument` in the process's shared bounded workers: what `ingestDocument` uses unless told otherwise. */
export function parseInWorker(file: DocumentFile, limits: IngestionLimits): Promise<ParsedDocument> {
  return sharedParseWorkers().parse(file, limits);
}
