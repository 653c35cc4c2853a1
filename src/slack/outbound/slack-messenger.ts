/**
 * `SlackMessenger`: the `Messenger` port on the Slack Web API. The one module that talks to Slack on the
 * app's behalf, enforcing the egress rules in docs/platform-facts.md:
 * - the `WebClient` never retries by itself (`retries: 0`) and rejects 429s instead of pausing its global
 *   queue (`rejectRateLimitedCalls`), and every call has a timeout;
 * - a 429 pauses only the channel (or, for `chat.update`, the update budget) it came from, for `Retry-After`,
 *   then the call is retried — Slack did not apply it, so that is safe;
 * - `chat.postMessage` is never retried after a timeout, network error or 5xx (the outcome is unknown and a
 *   retry could post twice); idempotent reads and `chat.update` are retried once;
 * - about one message per second per channel (posts and ephemerals), each channel in its own queue, and across
 *   replicas when the pacing is shared (shared-pacing.ts: the channel's next slot reserved in Redis);
 * - `chat.update` through a workspace-wide token bucket (Tier 3, ~50/min) with updates to the same message
 *   coalesced to the latest content and at least `messageUpdateIntervalMs` apart — the only pacing of edits:
 *   capabilities hand over every change and never throttle themselves;
 * - content split into valid messages (split-message.ts); `unfurl_links`/`unfurl_media` false and a `text`
 *   fallback on every post;
 * - thread history (conversations.replies, paginated) cached per thread for a short TTL and single-flight;
 * - streamed replies (`chat.*Stream`, a Tier 4 bucket per method: Slack counts each method separately) falling back to the coalesced update path
 *   (message-stream.ts), and a best-effort assistant status.
 *
 * This file is the facade: it owns the pacing state and wires the parts together. The parts: the client's
 * settings (slack-web-client.ts), one call with the retry policy and metrics (slack-api-caller.ts), SDK
 * errors as `DeskhandError`s (slack-call-errors.ts), coalesced updates (coalesced-updates.ts), thread reads
 * and their cache (thread-reader.ts), `files.info` payloads (file-details.ts), pacing primitives (pacer.ts),
 * splitting (split-message.ts) and streamed replies (message-stream.ts).
 */
import type { WebClient } from '@slack/web-api';
import type { Counter } from 'prom-client';
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { counter, type Registry } from '../../observability/metrics.ts';
import type {
  ConversationSharing,
  FileDetails,
  MessageStream,
  Messenger,
  OutgoingMessage,
  PostedMessage,
  StreamOptions,
  SuggestedPrompt,
  ThreadMessage,
  ThreadReadOptions,
} from '../../ports/messenger.ts';
import * as assistantCalls from './assistant-calls.ts';
import { CoalescedUpdates } from './coalesced-updates.ts';
import { toConversationSharing, toFileDetails } from './file-details.ts';
import { SlackMessageStream } from './message-stream.ts';
import {
  type Clock,
  KeyedPacer,
  MethodBuckets,
  type SharedPacing,
  systemClock,
  TokenBucket,
  type Turn,
} from './pacer.ts';
import { noTurn, SlackApiCaller } from './slack-api-caller.ts';
import { type MessageLimits, slackMessageLimits, splitMessage } from './split-message.ts';
import type { MessageStreamTuning } from './stream-transport.ts';
import { ThreadReader } from './thread-reader.ts';

export { createSlackWebClient, type SlackWebClientOptions } from './slack-web-client.ts';

export interface SlackMessengerOptions {
  client: WebClient;
  logger: Logger;
  metrics?: Registry;
  clock?: Clock;
  /** Minimum gap between posts in one channel (default 1000 ms). */
  postIntervalMs?: number;
  /**
   * The channels' post pacing shared with the other replicas (shared-pacing.ts); absent: this process paces alone
   * (one replica, or tests).
   */
  sharedPacing?: SharedPacing;
  /** Workspace-wide `chat.update` rate (default 50 per minute) and burst (default 5). */
  updatesPerMinute?: number;
  updateBurst?: number;
  /** Least time between two `chat.update`s of the same message (default 1,500 ms). */
  messageUpdateIntervalMs?: number;
  /** How long a fetched thread is reused (default 15 s). */
  threadCacheTtlMs?: number;
  /** Retries after 429s before giving up on a call (default 3). */
  maxRateLimitRetries?: number;
  /** Longest Retry-After honoured; longer waits fail fast as `upstream_rate_limited` (default 60 s). */
  maxRetryAfterMs?: number;
  /** Most messages fetched for one thread (default 1000). */
  maxThreadMessages?: number;
  limits?: MessageLimits;
  /** Workspace-wide rate of each `chat.*Stream` method (Tier 4: default 100 per minute) and burst (default 10). */
  streamCallsPerMinute?: number;
  streamCallBurst?: number;
  /** How streamed replies buffer: flush interval (default 1000 ms) and size (default 1000 characters). */
  stream?: Omit<MessageStreamTuning, 'limits'>;
}

/** The `Messenger` port over `@slack/web-api`; see the module comment for the guarantees. */
export class SlackMessenger implements Messenger {
  #logger: Logger;
  #clock: Clock;
  #channels: KeyedPacer;
  #streamCalls: MethodBuckets;
  #streamTuning: MessageStreamTuning;
  #streamFallbacks: Counter<'reason'> | undefined;
  #caller: SlackApiCaller;
  #updates: CoalescedUpdates;
  #reader: ThreadReader;
  #limits: MessageLimits;
  #inFlight = new Set<Promise<unknown>>();

  constructor(options: SlackMessengerOptions) {
    this.#logger = options.logger.child({ component: 'slack-messenger' });
    this.#clock = options.clock ?? systemClock;
    this.#channels = new KeyedPacer({
      intervalMs: options.postIntervalMs ?? 1000,
      clock: this.#clock,
      ...(options.sharedPacing ? { shared: options.sharedPacing } : {}),
    });
    const updateBudget = new TokenBucket({
      capacity: options.updateBurst ?? 5,
      refillPerMinute: options.updatesPerMinute ?? 50,
      clock: this.#clock,
    });
    this.#streamCalls = new MethodBuckets({
      capacity: options.streamCallBurst ?? 10,
      refillPerMinute: options.streamCallsPerMinute ?? 100,
      clock: this.#clock,
    });
    this.#limits = options.limits ?? slackMessageLimits;
    this.#streamTuning = { ...options.stream, limits: this.#limits };
    if (options.metrics) {
      this.#streamFallbacks = counter(
        options.metrics,
        'deskhand_slack_stream_fallbacks_total',
        'Streamed replies that continued as an updated message, by reason',
        ['reason'],
      );
    }
    this.#caller = new SlackApiCaller({
      client: options.client,
      logger: this.#logger,
      clock: this.#clock,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      maxRateLimitRetries: options.maxRateLimitRetries ?? 3,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
      channels: this.#channels,
      updates: updateBudget,
      streamCalls: this.#streamCalls,
    });
    this.#updates = new CoalescedUpdates({
      caller: this.#caller,
      budget: updateBudget,
      limits: this.#limits,
      logger: this.#logger,
      clock: this.#clock,
      ...(options.messageUpdateIntervalMs === undefined ? {} : { messageIntervalMs: options.messageUpdateIntervalMs }),
    });
    this.#reader = new ThreadReader({
      caller: this.#caller,
      clock: this.#clock,
      threadCacheTtlMs: options.threadCacheTtlMs ?? 15_000,
      maxThreadMessages: options.maxThreadMessages ?? 1000,
    });
  }

  /**
   * Posts a message, split into several when it exceeds Slack's limits (all parts in the same thread, in
   * order, paced in the channel's queue). Never retried when the outcome is unknown, so it never posts twice;
   * on such a failure the error's `details.postedTs` lists the parts that did arrive.
   */
  post(message: OutgoingMessage): Promise<PostedMessage> {
    return this.#track(this.#post(message));
  }

  async #post(message: OutgoingMessage): Promise<PostedMessage> {
    rejectEmpty(message);
    const parts = splitMessage(
      { text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) },
      this.#limits,
    );
    const allTs: string[] = [];
    try {
      // All parts in one turn of the channel's queue, so another message never lands between them.
      await this.#channels.run(message.channel, async (turn) => {
        for (const [index, part] of parts.entries()) {
          if (index > 0) await turn();
          const result = await this.#caller.call('chat.postMessage', 'post', message.channel, turn, {
            channel: message.channel,
            text: part.text,
            ...(part.blocks ? { blocks: part.blocks } : {}),
            ...(message.threadTs === undefined ? {} : { thread_ts: message.threadTs }),
            unfurl_links: false,
            unfurl_media: false,
          });
          allTs.push(String(result.ts));
        }
      });
    } catch (error) {
      if (error instanceof DeskhandError && allTs.length > 0) error.details.postedTs = [...allTs];
      throw error;
    } finally {
      if (message.threadTs !== undefined) this.#reader.invalidate(message.channel, message.threadTs);
    }
    const [first] = allTs;
    if (first === undefined) throw new DeskhandError('internal', 'Nothing to post: the message was empty.');
    if (parts.length > 1) this.#logger.info({ channel: message.channel, parts: parts.length }, 'long message split');
    return { channel: message.channel, ts: first, allTs };
  }

  /**
   * Replaces a message's content. Updates to the same message are coalesced (only the latest is sent), start
   * at least `messageUpdateIntervalMs` apart and are paced by a workspace-wide budget. Content beyond one
   * message's limits is cut to the first part.
   */
  update(message: OutgoingMessage & { ts: string }): Promise<void> {
    try {
      rejectEmpty(message);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#track(this.#updates.submit(message));
  }

  /**
   * A message only `user` sees (split like `post` when long), paced with the channel's posts. Not retried when
   * the outcome is unknown.
   */
  postEphemeral(message: OutgoingMessage & { user: string }): Promise<void> {
    return this.#track(this.#postEphemeral(message));
  }

  async #postEphemeral(message: OutgoingMessage & { user: string }): Promise<void> {
    rejectEmpty(message);
    const parts = splitMessage(
      { text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) },
      this.#limits,
    );
    await this.#channels.run(message.channel, async (turn) => {
      for (const [index, part] of parts.entries()) {
        if (index > 0) await turn();
        await this.#caller.call('chat.postEphemeral', 'post', message.channel, turn, {
          channel: message.channel,
          user: message.user,
          text: part.text,
          ...(part.blocks ? { blocks: part.blocks } : {}),
          ...(message.threadTs === undefined ? {} : { thread_ts: message.threadTs }),
        });
      }
    });
  }

  /** Opens a modal immediately (no pacing: the trigger expires after 3 s; no retry: it is single-use). */
  async openView(triggerId: string, view: Record<string, unknown>): Promise<{ viewId: string }> {
    const result = await this.#caller.call('views.open', 'view', undefined, noTurn, { trigger_id: triggerId, view });
    const opened = result.view as { id?: string } | undefined;
    if (!opened?.id) throw new DeskhandError('upstream_invalid_response', 'views.open returned no view id');
    return { viewId: opened.id };
  }

  async updateView(viewId: string, view: Record<string, unknown>): Promise<void> {
    await this.#caller.call('views.update', 'read', undefined, noTurn, { view_id: viewId, view });
  }

  /** Publishes a person's App Home (idempotent: a lost response is retried once, like `views.update`). */
  async publishHome(userId: string, view: Record<string, unknown>): Promise<void> {
    await this.#caller.call('views.publish', 'read', undefined, noTurn, { user_id: userId, view });
  }

  /**
   * Messages of a thread, oldest first, all pages (up to `maxThreadMessages`). With `limit`, the parent and
   * the most recent `limit - 1` replies. Cached per thread for a short TTL; concurrent callers share one
   * fetch; posting into the thread through this messenger invalidates the cache.
   */
  threadMessages(channel: string, threadTs: string, options: ThreadReadOptions = {}): Promise<ThreadMessage[]> {
    return this.#reader.threadMessages(channel, threadTs, options);
  }

  /** A single message: top-level via conversations.history, else a thread reply via conversations.replies. */
  message(channel: string, ts: string): Promise<ThreadMessage | undefined> {
    return this.#reader.message(channel, ts);
  }

  async permalink(channel: string, ts: string): Promise<string | undefined> {
    try {
      const result = await this.#caller.call('chat.getPermalink', 'read', channel, noTurn, { channel, message_ts: ts });
      return typeof result.permalink === 'string' ? result.permalink : undefined;
    } catch (error) {
      if (error instanceof DeskhandError && error.code === 'not_found') return undefined;
      throw error;
    }
  }

  /**
   * Sets the assistant thread status (`assistant.threads.setStatus`, `chat:write`). Best effort: a failure
   * (including a 429, which is not waited out) is logged and swallowed, never thrown.
   */
  async setStatus(channel: string, threadTs: string, status: string): Promise<void> {
    try {
      await this.#track(
        this.#caller.call('assistant.threads.setStatus', 'status', channel, noTurn, {
          channel_id: channel,
          thread_ts: threadTs,
          status,
        }),
      );
    } catch (error) {
      this.#logger.warn({ channel, threadTs, err: error }, 'could not set the assistant status');
    }
  }

  /**
   * Starts a streamed reply in a thread (see message-stream.ts for the buffering, fallback and
   * unknown-outcome guarantees). Nothing is sent until the first content; never rejects.
   */
  async startStream(options: StreamOptions): Promise<MessageStream> {
    const stream = new SlackMessageStream(
      options,
      {
        call: async (method, parameters) => {
          // Each chat.*Stream method has its own Tier 4 budget (Slack counts per method per workspace).
          const turn: Turn = () => this.#streamCalls.bucket(method).take();
          await turn();
          return this.#caller.call(method, 'stream', options.channel, turn, parameters);
        },
        post: (message) => this.post(message),
        update: (message) => this.update(message),
        logger: this.#logger,
        clock: this.#clock,
        onFallback: (reason) => this.#streamFallbacks?.inc({ reason }),
        track: (work) => this.#track(work),
      },
      this.#streamTuning,
    );
    return stream;
  }

  /** `files.info` (`files:read`): the file and the messages that share it; undefined when not found or deleted. */
  async fileInfo(fileId: string): Promise<FileDetails | undefined> {
    try {
      const result = await this.#caller.call('files.info', 'read', undefined, noTurn, { file: fileId });
      const file = result.file;
      return typeof file === 'object' && file !== null ? toFileDetails(file as Record<string, unknown>) : undefined;
    } catch (error) {
      if (error instanceof DeskhandError && error.code === 'not_found') return undefined;
      throw error;
    }
  }

  /** `conversations.info`: the conversation's sharing flags; rejects (coded) when Slack does not answer it. */
  async conversationSharing(channel: string): Promise<ConversationSharing> {
    const result = await this.#caller.call('conversations.info', 'read', channel, noTurn, { channel });
    const raw = typeof result.channel === 'object' && result.channel !== null ? result.channel : undefined;
    if (!raw) throw new DeskhandError('upstream_invalid_response', 'conversations.info answered without a channel');
    return toConversationSharing(raw as Record<string, unknown>, channel);
  }

  setSuggestedPrompts(channel: string, threadTs: string, prompts: SuggestedPrompt[], title?: string): Promise<void> {
    const where = { channel, threadTs };
    return this.#track(assistantCalls.setSuggestedPrompts(this.#assistantCall, this.#logger, where, prompts, title));
  }

  setThreadTitle(channel: string, threadTs: string, title: string): Promise<void> {
    return this.#track(assistantCalls.setThreadTitle(this.#assistantCall, this.#logger, { channel, threadTs }, title));
  }

  isChannelMember(channel: string, user: string): Promise<boolean | undefined> {
    return assistantCalls.isChannelMember(this.#assistantCall, this.#logger, channel, user);
  }

  #assistantCall: assistantCalls.AssistantCall = (method, kind, channel, parameters) =>
    this.#caller.call(method, kind, channel, noTurn, parameters);

  /** Resolves once every queued post, ephemeral and update has been sent (or has failed). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) {
      await Promise.allSettled([...this.#inFlight]);
    }
    await Promise.all([this.#channels.idle(), this.#updates.idle()]);
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise);
    const forget = () => this.#inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }
}

/** A message needs a non-empty `text` fallback (the port requires it; Slack needs text or blocks). */
function rejectEmpty(message: OutgoingMessage): void {
  if (message.text.trim() !== '') return;
  throw new DeskhandError('invalid_input', `Refusing to send a message without text to ${message.channel}`, {
    details: { channel: message.channel, hasBlocks: (message.blocks?.length ?? 0) > 0 },
  });
}
