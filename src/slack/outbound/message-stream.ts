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
 */
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type {
  Block,
  MessageStream,
  OutgoingMessage,
  PostedMessage,
  StreamOptions,
  StreamTask,
} from '../../ports/messenger.ts';
import type { Clock } from './pacer.ts';
import { type MessageLimits, openFenceAtEnd, slackMessageLimits, splitMessage, truncateText } from './split-message.ts';

/** What a stream needs from the messenger: streaming calls under its policy, and its post/update paths. */
export interface StreamTransport {
  /** One `chat.*Stream` call: paced, never retried on an unknown outcome, Slack errors as `DeskhandError`. */
  call(method: string, parameters: Record<string, unknown>): Promise<Record<string, unknown>>;
  post(message: OutgoingMessage): Promise<PostedMessage>;
  update(message: OutgoingMessage & { ts: string }): Promise<void>;
  logger: Logger;
  clock: Clock;
  /** Called once per switch to the fallback, with the reason (for a metric). */
  onFallback?: (reason: string) => void;
  /** Registers work the messenger's `drain()` must wait for (the stream's sends and its stop). */
  track?: <T>(work: Promise<T>) => Promise<T>;
}

export interface MessageStreamTuning {
  /** Longest wait before buffered content is sent (default 1000 ms). */
  flushIntervalMs?: number;
  /** Buffered characters that trigger a send before the interval (default 1000). */
  flushChars?: number;
  /** Most `markdown_text` characters in one call (Slack: 12,000). */
  maxCallChars?: number;
  /** Most characters one streamed message holds before the reply continues in another (default 12,000). */
  maxStreamChars?: number;
  limits?: MessageLimits;
}

type QueueItem = { kind: 'text'; text: string } | { kind: 'tasks'; tasks: Map<string, StreamTask> };

type SendOutcome =
  | { kind: 'ok'; result: Record<string, unknown> }
  | { kind: 'later' }
  | { kind: 'uncertain'; error: unknown }
  | { kind: 'refused'; slackError: string; error: unknown };

type FinalContent = { markdown?: string; blocks?: Block[]; text: string };

const taskEmoji: Record<StreamTask['status'], string> = {
  pending: ':white_circle:',
  in_progress: ':hourglass_flowing_sand:',
  complete: ':white_check_mark:',
  error: ':x:',
};
const taskFieldLimit = 256;

/** The `MessageStream` port on Slack; see the module comment for the guarantees. */
export class SlackMessageStream implements MessageStream {
  #options: StreamOptions;
  #transport: StreamTransport;
  #logger: Logger;
  #flushIntervalMs: number;
  #flushChars: number;
  #maxCallChars: number;
  #maxStreamChars: number;
  #limits: MessageLimits;

  #mode: 'stream' | 'update' = 'stream';
  #state: 'open' | 'stopping' | 'stopped' = 'open';
  /** Everything appended, in order: the source of truth for the fallback. */
  #text = '';
  #tasks = new Map<string, StreamTask>();
  /** Stream mode: content not yet sent. */
  #queue: QueueItem[] = [];
  #streamTs: string | undefined;
  /** Characters sent (or possibly sent) to the current streamed message. */
  #streamedChars = 0;
  /** A stream call's outcome was unknown: the message is rewritten with `chat.update` once stopped. */
  #uncertain = false;
  /** Update mode: where in `#text` the edited message's content starts, and a code fence it reopens. */
  #segmentStart = 0;
  #segmentPrefix = '';
  #updateTs: string | undefined;
  /** Update mode: `#updateTs` is the former streamed message (Slack may refuse to edit it). */
  #updatingStreamMessage = false;
  #dirty = false;
  /** The reply can no longer be delivered (a post with an unknown or failed outcome). */
  #lost: unknown;
  #firstTs: string | undefined;
  #lastFlush = Number.NEGATIVE_INFINITY;
  #pump: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #stopped: Promise<{ channel: string; ts: string }> | undefined;

  constructor(options: StreamOptions, transport: StreamTransport, tuning: MessageStreamTuning = {}) {
    this.#options = options;
    this.#transport = transport;
    this.#logger = transport.logger.child({ channel: options.channel, threadTs: options.threadTs });
    this.#flushIntervalMs = tuning.flushIntervalMs ?? 1000;
    this.#flushChars = tuning.flushChars ?? 1000;
    this.#maxCallChars = tuning.maxCallChars ?? 12_000;
    this.#maxStreamChars = tuning.maxStreamChars ?? 12_000;
    this.#limits = tuning.limits ?? slackMessageLimits;
  }

  get mode(): 'stream' | 'update' {
    return this.#mode;
  }

  append(markdown: string): void {
    if (!this.#acceptsContent('append') || markdown === '') return;
    this.#text += markdown;
    if (this.#mode === 'stream') {
      const last = this.#queue.at(-1);
      if (last?.kind === 'text') last.text += markdown;
      else this.#queue.push({ kind: 'text', text: markdown });
    }
    this.#dirty = true;
    this.#schedule();
  }

  updateTasks(tasks: StreamTask[]): void {
    if (!this.#acceptsContent('updateTasks') || tasks.length === 0) return;
    for (const task of tasks) this.#tasks.set(task.id, task);
    if (this.#mode === 'stream') {
      const last = this.#queue.at(-1);
      const pending = last?.kind === 'tasks' ? last.tasks : new Map<string, StreamTask>();
      for (const task of tasks) pending.set(task.id, task);
      if (last?.kind !== 'tasks') this.#queue.push({ kind: 'tasks', tasks: pending });
    }
    this.#dirty = true;
    this.#schedule();
  }

  stop(final?: FinalContent): Promise<{ channel: string; ts: string }> {
    if (this.#stopped === undefined) {
      const stopping = this.#stop(final);
      this.#stopped = this.#transport.track ? this.#transport.track(stopping) : stopping;
    }
    return this.#stopped;
  }

  #acceptsContent(method: string): boolean {
    if (this.#state === 'open') return true;
    this.#logger.warn({ method }, 'content after the stream was stopped is ignored');
    return false;
  }

  #hasPending(): boolean {
    return this.#mode === 'stream' ? this.#queue.length > 0 : this.#dirty;
  }

  #pendingChars(): number {
    return this.#queue.reduce((sum, item) => sum + (item.kind === 'text' ? item.text.length : 0), 0);
  }

  #schedule(): void {
    if (this.#pump) {
      if (this.#pendingChars() >= this.#flushChars) this.#wake?.();
      return;
    }
    if (this.#lost !== undefined) return;
    const run = this.#run();
    this.#transport.track?.(run).catch(() => undefined);
    this.#pump = run
      .catch((error: unknown) => this.#logger.error({ err: error }, 'message stream flush failed'))
      .finally(() => {
        this.#pump = undefined;
        if (this.#state === 'open' && this.#hasPending() && this.#lost === undefined) this.#schedule();
      });
  }

  async #run(): Promise<void> {
    // Let a synchronous burst of appends land in the same first call.
    await Promise.resolve();
    while (this.#state === 'open' && this.#hasPending() && this.#lost === undefined) {
      const wait = this.#lastFlush + this.#flushIntervalMs - this.#transport.clock.now();
      if (wait > 0 && this.#pendingChars() < this.#flushChars) {
        const early = new AbortController();
        this.#wake = () => early.abort();
        // Clocks that ignore the signal still end the wait early through the race.
        await Promise.race([
          this.#transport.clock.sleep(wait, early.signal),
          new Promise<void>((resolve) => early.signal.addEventListener('abort', () => resolve(), { once: true })),
        ]);
        this.#wake = undefined;
        if (this.#state !== 'open') return;
        if (this.#transport.clock.now() < this.#lastFlush + this.#flushIntervalMs) {
          if (this.#pendingChars() < this.#flushChars) continue;
        }
      }
      this.#lastFlush = this.#transport.clock.now();
      if (this.#mode === 'stream') await this.#flushStream(false);
      else await this.#flushUpdate(undefined);
    }
  }

  async #stop(final: FinalContent | undefined): Promise<{ channel: string; ts: string }> {
    this.#state = 'stopping';
    this.#wake?.();
    await this.#pump;
    try {
      if (final?.markdown) {
        this.#text += final.markdown;
        if (this.#mode === 'stream') this.#queue.push({ kind: 'text', text: final.markdown });
      }
      this.#throwIfLost();
      if (this.#mode === 'stream' && this.#streamTs === undefined) {
        // Nothing was streamed yet: one ordinary message is fewer calls than start + stop.
        this.#switchToUpdate(undefined, 'finished before the first flush', false);
      }
      if (this.#mode === 'stream') {
        await this.#flushStream(true);
        this.#throwIfLost();
        if (this.#mode === 'stream') await this.#stopStream(final);
      }
      if (this.#mode === 'update') await this.#finishUpdate(final);
      const ts = this.#firstTs;
      if (ts === undefined) throw new DeskhandError('internal', 'The streamed reply has no message');
      return { channel: this.#options.channel, ts };
    } finally {
      this.#state = 'stopped';
    }
  }

  #throwIfLost(): void {
    if (this.#lost === undefined) return;
    if (this.#lost instanceof DeskhandError) {
      this.#lost.details.textLength = this.#text.length;
      throw this.#lost;
    }
    throw new DeskhandError('upstream_unavailable', 'The streamed reply could not be delivered', {
      cause: this.#lost,
      userMessage: 'Slack did not take my reply. Please check the thread before trying again.',
    });
  }

  /**
   * Sends queued content, oldest first. Stops early when Slack rate-limits (the rest waits for the next flush)
   * or when the stream falls back. With `final`, the last text is left in the queue for `chat.stopStream`.
   */
  async #flushStream(final: boolean): Promise<void> {
    // Outside the final flush, one call per item queued now: what arrives meanwhile waits for the next flush.
    let calls = final ? Number.POSITIVE_INFINITY : this.#queue.length;
    for (; calls > 0; calls -= 1) {
      const item = this.#queue[0];
      if (!item || this.#mode !== 'stream') return;
      if (final && this.#streamTs !== undefined && this.#queue.length === 1 && item.kind === 'text') {
        if (item.text.length <= this.#maxCallChars && this.#streamedChars + item.text.length <= this.#maxStreamChars) {
          return;
        }
      }
      let parameters: Record<string, unknown>;
      let sentChars = 0;
      if (item.kind === 'text') {
        const room = this.#maxStreamChars - this.#streamedChars;
        if (this.#streamTs !== undefined && item.text.length > room) {
          await this.#rollOver(final);
          return;
        }
        sentChars = safeLength(item.text, Math.min(this.#maxCallChars, room));
        parameters = { markdown_text: item.text.slice(0, sentChars) };
      } else {
        // Out of the queue while in flight, so updates made meanwhile start a new item instead of vanishing.
        this.#queue.shift();
        parameters = { chunks: [...item.tasks.values()].map(taskChunk) };
      }
      const starting = this.#streamTs === undefined;
      const outcome = starting ? await this.#start(parameters) : await this.#append(parameters);
      if (outcome.kind === 'later') {
        if (item.kind === 'tasks') this.#requeueTasks(item.tasks);
        if (final) this.#switchToUpdate(this.#streamTs, 'rate limited while finishing', true);
        return;
      }
      if (outcome.kind === 'refused') {
        this.#switchToUpdate(this.#streamTs, starting ? 'streaming unavailable' : 'stream ended', !starting, {
          slackError: outcome.slackError,
        });
        if (!final) await this.#flushUpdate(undefined);
        return;
      }
      if (outcome.kind === 'uncertain') {
        if (starting) {
          // The stream (with this content) may exist: posting again could show it twice.
          this.#lost = outcome.error;
          return;
        }
        this.#uncertain = true;
      }
      this.#streamedChars += sentChars;
      if (item.kind === 'text') {
        item.text = item.text.slice(sentChars);
        if (item.text === '') this.#queue.shift();
      }
    }
  }

  /** Puts unsent task updates back at the head of the queue; newer updates of the same task win. */
  #requeueTasks(tasks: Map<string, StreamTask>): void {
    const head = this.#queue[0];
    if (head?.kind !== 'tasks') {
      this.#queue.unshift({ kind: 'tasks', tasks });
      return;
    }
    const merged = new Map(tasks);
    for (const [id, task] of head.tasks) merged.set(id, task);
    head.tasks = merged;
  }

  async #start(content: Record<string, unknown>): Promise<SendOutcome> {
    const outcome = await this.#send('chat.startStream', {
      channel: this.#options.channel,
      thread_ts: this.#options.threadTs,
      ...(this.#options.recipientUserId === undefined ? {} : { recipient_user_id: this.#options.recipientUserId }),
      ...(this.#options.recipientTeamId === undefined ? {} : { recipient_team_id: this.#options.recipientTeamId }),
      ...(this.#options.taskDisplayMode === undefined ? {} : { task_display_mode: this.#options.taskDisplayMode }),
      ...content,
    });
    if (outcome.kind === 'ok') {
      const ts = outcome.result.ts;
      if (typeof ts !== 'string') {
        return { kind: 'uncertain', error: new DeskhandError('upstream_invalid_response', 'startStream gave no ts') };
      }
      this.#streamTs = ts;
      this.#firstTs ??= ts;
    }
    return outcome;
  }

  #append(content: Record<string, unknown>): Promise<SendOutcome> {
    return this.#send('chat.appendStream', { channel: this.#options.channel, ts: this.#streamTs, ...content });
  }

  async #send(method: string, parameters: Record<string, unknown>): Promise<SendOutcome> {
    try {
      return { kind: 'ok', result: await this.#transport.call(method, parameters) };
    } catch (error) {
      if (error instanceof DeskhandError) {
        if (error.code === 'upstream_rate_limited') return { kind: 'later' };
        const slackError = error.details.slackError;
        if (typeof slackError === 'string') return { kind: 'refused', slackError, error };
      }
      return { kind: 'uncertain', error };
    }
  }

  /** The streamed message is full: stop it (closing an open code fence) and continue in a posted message. */
  async #rollOver(final: boolean): Promise<void> {
    const offset = this.#text.length - this.#pendingChars();
    const openFence = openFenceAtEnd(this.#text.slice(0, offset));
    const closing = openFence === undefined ? undefined : `\n${fenceMarkerOf(openFence)}`;
    const outcome = await this.#send('chat.stopStream', {
      channel: this.#options.channel,
      ts: this.#streamTs,
      ...(closing === undefined ? {} : { markdown_text: closing }),
    });
    if (outcome.kind !== 'ok' || this.#uncertain) {
      await this.#reconcile(this.#text.slice(0, offset) + (closing ?? ''), undefined);
    }
    this.#logger.info({ streamedChars: this.#streamedChars }, 'streamed message full, continuing in a new message');
    this.#switchToUpdate(undefined, 'streamed message full', false);
    this.#segmentStart = offset;
    this.#segmentPrefix = openFence === undefined ? '' : `${openFence}\n`;
    // While finishing, stop() posts the final content itself.
    if (!final) await this.#flushUpdate(undefined);
  }

  async #stopStream(final: FinalContent | undefined): Promise<void> {
    const last = this.#queue[0];
    const markdown = last?.kind === 'text' ? last.text : undefined;
    const outcome = await this.#send('chat.stopStream', {
      channel: this.#options.channel,
      ts: this.#streamTs,
      ...(markdown ? { markdown_text: markdown } : {}),
      ...(final?.blocks && final.blocks.length > 0 ? { blocks: final.blocks } : {}),
    });
    if (outcome.kind === 'refused') {
      this.#switchToUpdate(this.#streamTs, 'stream ended before stop', true, { slackError: outcome.slackError });
      return;
    }
    if (outcome.kind === 'later') {
      this.#switchToUpdate(this.#streamTs, 'rate limited while stopping', true);
      return;
    }
    this.#queue = [];
    if (outcome.kind === 'uncertain' || this.#uncertain) {
      this.#logger.info('a stream call had an unknown outcome: rewriting the message with chat.update');
      await this.#reconcile(this.#text, final);
    }
  }

  /** Rewrites the streamed message with its full content (idempotent); logged, not thrown, when refused. */
  async #reconcile(body: string, final: FinalContent | undefined): Promise<void> {
    const ts = this.#streamTs;
    if (ts === undefined) return;
    const [part] = splitMessage(this.#compose(body, final), this.#limits);
    if (!part) return;
    try {
      await this.#transport.update({ ...part, channel: this.#options.channel, ts });
    } catch (error) {
      this.#logger.warn({ err: error, ts }, 'could not reconcile the streamed message');
    }
  }

  #switchToUpdate(
    ts: string | undefined,
    reason: string,
    streamMessage: boolean,
    details: Record<string, unknown> = {},
  ): void {
    if (this.#mode === 'update') return;
    this.#mode = 'update';
    this.#queue = [];
    this.#updateTs = ts;
    this.#updatingStreamMessage = streamMessage && ts !== undefined;
    this.#dirty = true;
    if (reason !== 'finished before the first flush') {
      this.#logger.warn({ reason, ts, ...details }, 'message stream falls back to chat.update');
      this.#transport.onFallback?.(reason);
    }
  }

  /** Update mode: posts the message (first time) or edits it with everything so far. */
  async #flushUpdate(final: FinalContent | undefined): Promise<void> {
    this.#dirty = false;
    const parts = splitMessage(this.#compose(this.#segmentBody(), final), this.#limits);
    const [part] = parts;
    if (!part) return;
    await this.#deliver(part);
  }

  /** Update mode, at stop: the final content, split into further thread replies when it is too long. */
  async #finishUpdate(final: FinalContent | undefined): Promise<void> {
    const parts = splitMessage(this.#compose(this.#segmentBody(), final), this.#limits);
    const [first, ...rest] = parts;
    if (!first) return;
    await this.#deliver(first);
    this.#throwIfLost();
    for (const part of rest) {
      await this.#transport.post({ ...part, channel: this.#options.channel, threadTs: this.#options.threadTs });
    }
  }

  async #deliver(part: Pick<OutgoingMessage, 'text' | 'blocks'>): Promise<void> {
    const message = { ...part, channel: this.#options.channel, threadTs: this.#options.threadTs };
    const ts = this.#updateTs;
    if (ts !== undefined) {
      try {
        await this.#transport.update({ ...message, ts });
        return;
      } catch (error) {
        const refused = error instanceof DeskhandError && typeof error.details.slackError === 'string';
        if (!(refused && this.#updatingStreamMessage)) {
          // Not delivered this time; the next flush (or stop) sends the latest content again.
          this.#dirty = true;
          if (this.#state !== 'open') throw error;
          this.#logger.warn({ err: error, ts }, 'stream fallback update failed');
          return;
        }
        this.#logger.warn({ err: error, ts }, 'Slack refused to edit the streamed message: posting the reply anew');
        this.#updateTs = undefined;
        this.#updatingStreamMessage = false;
      }
    }
    try {
      const posted = await this.#transport.post(message);
      this.#updateTs = posted.ts;
      this.#firstTs ??= posted.ts;
    } catch (error) {
      // Unknown or refused: never post again (a second copy could appear).
      this.#lost = error;
    }
  }

  #segmentBody(): string {
    const body = this.#text.slice(this.#segmentStart);
    return body.trim() === '' ? '' : this.#segmentPrefix + body;
  }

  /** The reply as an ordinary message: task list, Markdown body, the caller's blocks, a plain-text fallback. */
  #compose(body: string, final: FinalContent | undefined): Pick<OutgoingMessage, 'text' | 'blocks'> {
    const blocks: Block[] = [];
    const taskList = [...this.#tasks.values()].map(taskLine).join('\n');
    if (taskList !== '') {
      blocks.push({
        type: 'section',
        text: { type: 'mrkdwn', text: truncateText(taskList, this.#limits.sectionText) },
      });
    }
    if (body.trim() !== '') blocks.push({ type: 'markdown', text: body });
    if (final?.blocks) blocks.push(...final.blocks);
    const fallback = final?.text.trim() ? final.text : body.trim() || taskList || '…';
    // Without blocks the text is the content: split-message splits it, nothing is cut here.
    if (blocks.length === 0) return { text: fallback };
    return { text: truncateText(fallback, this.#limits.continuationFallback), blocks };
  }
}

function taskChunk(task: StreamTask): Record<string, unknown> {
  return {
    type: 'task_update',
    id: task.id,
    title: task.title,
    status: task.status,
    ...(task.details === undefined ? {} : { details: truncateText(task.details, taskFieldLimit) }),
    ...(task.output === undefined ? {} : { output: truncateText(task.output, taskFieldLimit) }),
  };
}

/** One mrkdwn line per task; titles and details are untrusted (model output), so mentions are escaped. */
function taskLine(task: StreamTask): string {
  const details = task.details ? ` — ${escapeMrkdwn(truncateText(task.details, taskFieldLimit))}` : '';
  const output = task.output ? `\n      ↳ ${escapeMrkdwn(truncateText(task.output, taskFieldLimit))}` : '';
  return `${taskEmoji[task.status]} ${escapeMrkdwn(task.title)}${details}${output}`;
}

function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\s+/g, ' ');
}

function fenceMarkerOf(openingLine: string): string {
  return /^[ \t]*(`{3,}|~{3,})/.exec(openingLine)?.[1] ?? '```';
}

/** `limit`, or one less when that would cut a surrogate pair in two. */
function safeLength(text: string, limit: number): number {
  if (text.length <= limit) return text.length;
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}
