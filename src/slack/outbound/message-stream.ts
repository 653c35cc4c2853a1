/**
 * `SlackMessageStream`: a reply that grows while it is written, on Slack's streaming API
 * (`chat.startStream` / `chat.appendStream` / `chat.stopStream`, docs/platform-facts.md "AI surfaces"), with a
 * fallback to one posted message edited through the messenger's coalesced `update()` path.
 *
 * Guarantees:
 * - `append`/`updateTasks` only buffer; the buffer is sent at most once per `flushIntervalMs` (sooner once
 *   `flushChars` are waiting), each call ≤ 12,000 characters of `markdown_text`, every call through the
 *   messenger's Tier 4 budget. The stream starts lazily with its first content (Slack needs content to start).
 * - A call carries either `markdown_text` or `chunks`, never both, in the order the caller produced them.
 * - Streaming unavailable (`unknown_method`, `not_allowed`, `missing_recipient…`, any refusal of
 *   `chat.startStream`) → the reply becomes one posted message updated with everything written so far.
 *   Stream expired or refused mid-way (`message_not_in_streaming_state`) → the streamed message itself is
 *   updated to the full text (or, if Slack refuses that edit, a new message carries it). Nothing is lost.
 * - Outcome unknown (timeout, 5xx): a stream call is never repeated (an append could show twice); the message is
 *   reconciled with `chat.update` (idempotent) after the stream stops. A first post with an unknown outcome is
 *   never repeated either: `stop()` then rejects so the caller can tell the user.
 * - A streamed message holds at most `maxStreamChars`; beyond that it is stopped (an open code fence closed)
 *   and the rest continues in a posted, updated message; final content too long for one message is split
 *   with split-message.ts into further thread replies.
 *
 * Hand-written rather than @slack/web-api's `ChatStreamer`: that helper flushes by size only (no time bound),
 * calls the client directly (bypassing the messenger's timeouts, 429 handling and pacing) and has no fallback.
 *
 * The parts: stream-reply.ts (the state they share), flush-stream.ts (the streaming calls, rolling over, stopping),
 * flush-update.ts (the posted-and-updated fallback), compose-reply.ts (tasks as chunks, the reply as a message),
 * stream-transport.ts (what the messenger provides). This file buffers content, paces the flushes and stops.
 */
import { DeskhandError } from '../../errors.ts';
import type { MessageStream, StreamOptions, StreamTask } from '../../ports/messenger.ts';
import { flushStream, stopStream } from './flush-stream.ts';
import { finishUpdate, flushUpdate, switchToUpdate } from './flush-update.ts';
import { slackMessageLimits } from './split-message.ts';
import { type FinalContent, pendingChars, type StreamReply, throwIfLost } from './stream-reply.ts';
import type { MessageStreamTuning, StreamTransport } from './stream-transport.ts';

/** The `MessageStream` port on Slack; see the module comment for the guarantees. */
export class SlackMessageStream implements MessageStream {
  #reply: StreamReply;
  #flushIntervalMs: number;
  #flushChars: number;

  #lastFlush = Number.NEGATIVE_INFINITY;
  #pump: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #stopped: Promise<{ channel: string; ts: string }> | undefined;

  constructor(options: StreamOptions, transport: StreamTransport, tuning: MessageStreamTuning = {}) {
    this.#flushIntervalMs = tuning.flushIntervalMs ?? 1000;
    this.#flushChars = tuning.flushChars ?? 1000;
    this.#reply = {
      options,
      transport,
      logger: transport.logger.child({ channel: options.channel, threadTs: options.threadTs }),
      maxCallChars: tuning.maxCallChars ?? 12_000,
      maxStreamChars: tuning.maxStreamChars ?? 12_000,
      limits: tuning.limits ?? slackMessageLimits,
      mode: 'stream',
      state: 'open',
      text: '',
      tasks: new Map<string, StreamTask>(),
      queue: [],
      streamTs: undefined,
      streamedChars: 0,
      uncertain: false,
      segmentStart: 0,
      segmentPrefix: '',
      updateTs: undefined,
      updatingStreamMessage: false,
      dirty: false,
      lost: undefined,
      firstTs: undefined,
      resuming: false,
    };
    if (options.resumeTs !== undefined) this.#resume(options.resumeTs);
  }

  /** Continues the message an interrupted run started: edited with everything this run writes (see the port). */
  #resume(ts: string): void {
    const reply = this.#reply;
    reply.mode = 'update';
    reply.updateTs = ts;
    reply.updatingStreamMessage = true;
    reply.firstTs = ts;
    reply.resuming = true;
    reply.logger.info({ ts }, 'resuming the reply an interrupted run started');
  }

  get mode(): 'stream' | 'update' {
    return this.#reply.mode;
  }

  append(markdown: string): void {
    if (!this.#acceptsContent('append') || markdown === '') return;
    const reply = this.#reply;
    reply.text += markdown;
    if (reply.mode === 'stream') {
      const last = reply.queue.at(-1);
      if (last?.kind === 'text') last.text += markdown;
      else reply.queue.push({ kind: 'text', text: markdown });
    }
    reply.dirty = true;
    this.#schedule();
  }

  updateTasks(tasks: StreamTask[]): void {
    if (!this.#acceptsContent('updateTasks') || tasks.length === 0) return;
    const reply = this.#reply;
    for (const task of tasks) reply.tasks.set(task.id, task);
    if (reply.mode === 'stream') {
      const last = reply.queue.at(-1);
      const pending = last?.kind === 'tasks' ? last.tasks : new Map<string, StreamTask>();
      for (const task of tasks) pending.set(task.id, task);
      if (last?.kind !== 'tasks') reply.queue.push({ kind: 'tasks', tasks: pending });
    }
    reply.dirty = true;
    this.#schedule();
  }

  stop(final?: FinalContent): Promise<{ channel: string; ts: string }> {
    if (this.#stopped === undefined) {
      const stopping = this.#stop(final);
      const transport = this.#reply.transport;
      this.#stopped = transport.track ? transport.track(stopping) : stopping;
    }
    return this.#stopped;
  }

  #acceptsContent(method: string): boolean {
    if (this.#reply.state === 'open') return true;
    this.#reply.logger.warn({ method }, 'content after the stream was stopped is ignored');
    return false;
  }

  #hasPending(): boolean {
    return this.#reply.mode === 'stream' ? this.#reply.queue.length > 0 : this.#reply.dirty;
  }

  #schedule(): void {
    const reply = this.#reply;
    if (this.#pump) {
      if (pendingChars(reply) >= this.#flushChars) this.#wake?.();
      return;
    }
    if (reply.lost !== undefined) return;
    const run = this.#run();
    reply.transport.track?.(run).catch(() => undefined);
    this.#pump = run
      .catch((error: unknown) => reply.logger.error({ err: error }, 'message stream flush failed'))
      .finally(() => {
        this.#pump = undefined;
        if (reply.state === 'open' && this.#hasPending() && reply.lost === undefined) this.#schedule();
      });
  }

  async #run(): Promise<void> {
    const reply = this.#reply;
    const clock = reply.transport.clock;
    // Let a synchronous burst of appends land in the same first call.
    await Promise.resolve();
    while (reply.state === 'open' && this.#hasPending() && reply.lost === undefined) {
      const wait = this.#lastFlush + this.#flushIntervalMs - clock.now();
      if (wait > 0 && pendingChars(reply) < this.#flushChars) {
        const early = new AbortController();
        this.#wake = () => early.abort();
        // Clocks that ignore the signal still end the wait early through the race.
        await Promise.race([
          clock.sleep(wait, early.signal),
          new Promise<void>((resolve) => early.signal.addEventListener('abort', () => resolve(), { once: true })),
        ]);
        this.#wake = undefined;
        if (reply.state !== 'open') return;
        if (clock.now() < this.#lastFlush + this.#flushIntervalMs) {
          if (pendingChars(reply) < this.#flushChars) continue;
        }
      }
      this.#lastFlush = clock.now();
      if (reply.mode === 'stream') await flushStream(reply, false);
      else await flushUpdate(reply, undefined);
    }
  }

  async #stop(final: FinalContent | undefined): Promise<{ channel: string; ts: string }> {
    const reply = this.#reply;
    reply.state = 'stopping';
    this.#wake?.();
    await this.#pump;
    try {
      if (final?.markdown) {
        reply.text += final.markdown;
        if (reply.mode === 'stream') reply.queue.push({ kind: 'text', text: final.markdown });
      }
      throwIfLost(reply);
      if (reply.mode === 'stream' && reply.streamTs === undefined) {
        // Nothing was streamed yet: one ordinary message is fewer calls than start + stop.
        switchToUpdate(reply, undefined, 'finished before the first flush', false);
      }
      if (reply.mode === 'stream') {
        await flushStream(reply, true);
        throwIfLost(reply);
        if (reply.mode === 'stream') await stopStream(reply, final);
      }
      if (reply.mode === 'update') await finishUpdate(reply, final);
      const ts = reply.firstTs;
      if (ts === undefined) throw new DeskhandError('internal', 'The streamed reply has no message');
      return { channel: reply.options.channel, ts };
    } finally {
      reply.state = 'stopped';
    }
  }
}
