/**
 * `SlackMessenger`: the `Messenger` port on the Slack Web API. The one module that talks to Slack on the
 * app's behalf, enforcing the egress rules in docs/platform-facts.md:
 * - the `WebClient` never retries by itself (`retries: 0`) and rejects 429s instead of pausing its global
 *   queue (`rejectRateLimitedCalls`), and every call has a timeout;
 * - a 429 pauses only the channel (or, for `chat.update`, the update budget) it came from, for `Retry-After`,
 *   then the call is retried — Slack did not apply it, so that is safe;
 * - `chat.postMessage` is never retried after a timeout, network error or 5xx (the outcome is unknown and a
 *   retry could post twice); idempotent reads and `chat.update` are retried once;
 * - about one message per second per channel (posts and ephemerals), each channel in its own queue;
 * - `chat.update` through a workspace-wide token bucket (Tier 3, ~50/min) with updates to the same message
 *   coalesced to the latest content;
 * - content split into valid messages (split-message.ts); `unfurl_links`/`unfurl_media` false and a `text`
 *   fallback on every post;
 * - thread history (conversations.replies, paginated) cached per thread for a short TTL and single-flight;
 * - streamed replies (`chat.*Stream`, Tier 4 bucket) falling back to the coalesced update path
 *   (message-stream.ts), and a best-effort assistant status.
 */
import { LogLevel, type WebAPICallResult, WebClient } from '@slack/web-api';
import type { Counter, Histogram } from 'prom-client';
import { DeskhandError, type OutcomeCode } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { counter, histogram, type Registry } from '../../observability/metrics.ts';
import type {
  FileDetails,
  MessageStream,
  Messenger,
  OutgoingMessage,
  PostedMessage,
  StreamOptions,
  ThreadMessage,
} from '../../ports/messenger.ts';
import { type MessageStreamTuning, SlackMessageStream } from './message-stream.ts';
import { type Clock, Coalescer, KeyedPacer, systemClock, TokenBucket, type Turn } from './pacer.ts';
import { type MessageLimits, slackMessageLimits, splitMessage } from './split-message.ts';

type SlackLogger = NonNullable<ConstructorParameters<typeof WebClient>[1]>['logger'];

export interface SlackWebClientOptions {
  token: string;
  /** Web API base URL (`SLACK_API_URL`), e.g. https://slack.com/api/ or a fake's URL. */
  apiUrl: string;
  /** Per-call timeout (`SLACK_REQUEST_TIMEOUT_MS`). */
  timeoutMs: number;
  /**
   * Where the SDK's own log lines go (e.g. the Bolt adapter over pino). Without it the SDK prints errors only:
   * this module logs every failed call itself, structured and with its code.
   */
  clientLogger?: SlackLogger;
}

/**
 * Builds the `WebClient` with the settings this module's guarantees rely on: no SDK retries, 429s rejected
 * (never a paused global queue), a per-call timeout. Called from the composition root.
 */
export function createSlackWebClient(options: SlackWebClientOptions): WebClient {
  return new WebClient(options.token, {
    slackApiUrl: options.apiUrl,
    timeout: options.timeoutMs,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    allowAbsoluteUrls: false,
    ...(options.clientLogger === undefined ? { logLevel: LogLevel.ERROR } : { logger: options.clientLogger }),
  });
}

export interface SlackMessengerOptions {
  client: WebClient;
  logger: Logger;
  metrics?: Registry;
  clock?: Clock;
  /** Minimum gap between posts in one channel (default 1000 ms). */
  postIntervalMs?: number;
  /** Workspace-wide `chat.update` rate (default 50 per minute) and burst (default 5). */
  updatesPerMinute?: number;
  updateBurst?: number;
  /** How long a fetched thread is reused (default 15 s). */
  threadCacheTtlMs?: number;
  /** Retries after 429s before giving up on a call (default 3). */
  maxRateLimitRetries?: number;
  /** Longest Retry-After honoured; longer waits fail fast as `upstream_rate_limited` (default 60 s). */
  maxRetryAfterMs?: number;
  /** Most messages fetched for one thread (default 1000). */
  maxThreadMessages?: number;
  limits?: MessageLimits;
  /** Workspace-wide `chat.*Stream` rate (Tier 4: default 100 per minute) and burst (default 10). */
  streamCallsPerMinute?: number;
  streamCallBurst?: number;
  /** How streamed replies buffer: flush interval (default 1000 ms) and size (default 1000 characters). */
  stream?: Omit<MessageStreamTuning, 'limits'>;
}

/**
 * `stream`: chat.*Stream calls (Tier 4 bucket; never retried on an unknown outcome: an append could show
 * twice). `status`: best-effort assistant status (one retry; a 429 is not waited out).
 */
type CallKind = 'post' | 'update' | 'read' | 'view' | 'stream' | 'status';

interface SlackCallError {
  code?: string;
  retryAfter?: number;
  statusCode?: number;
  data?: { error?: string };
  original?: Error;
}

const notFoundErrors = new Set([
  'channel_not_found',
  'message_not_found',
  'thread_not_found',
  'not_found',
  'file_not_found',
  'file_deleted',
]);
const notAuthorisedErrors = new Set(['not_in_channel', 'is_archived', 'restricted_action', 'missing_scope']);
const configurationErrors = new Set(['not_authed', 'invalid_auth', 'token_revoked', 'account_inactive']);

function platformCode(slackError: string): OutcomeCode {
  if (notFoundErrors.has(slackError)) return 'not_found';
  if (notAuthorisedErrors.has(slackError)) return 'not_authorised';
  if (configurationErrors.has(slackError)) return 'configuration';
  if (slackError === 'expired_trigger_id' || slackError === 'hash_conflict') return 'conflict';
  return 'internal';
}

interface CachedThread {
  expiresAt: number;
  messages: Promise<ThreadMessage[]>;
}

/** The `Messenger` port over `@slack/web-api`; see the module comment for the guarantees. */
export class SlackMessenger implements Messenger {
  #client: WebClient;
  #logger: Logger;
  #clock: Clock;
  #channels: KeyedPacer;
  #updates: TokenBucket;
  #streamCalls: TokenBucket;
  #streamTuning: MessageStreamTuning;
  #streamFallbacks: Counter<'reason'> | undefined;
  #coalescer: Coalescer<OutgoingMessage & { ts: string }>;
  #threads = new Map<string, CachedThread>();
  #threadCacheTtlMs: number;
  #maxRateLimitRetries: number;
  #maxRetryAfterMs: number;
  #maxThreadMessages: number;
  #limits: MessageLimits;
  #inFlight = new Set<Promise<unknown>>();
  #calls: Counter<'method' | 'outcome'> | undefined;
  #latency: Histogram<'method'> | undefined;

  constructor(options: SlackMessengerOptions) {
    this.#client = options.client;
    this.#logger = options.logger.child({ component: 'slack-messenger' });
    this.#clock = options.clock ?? systemClock;
    this.#channels = new KeyedPacer({ intervalMs: options.postIntervalMs ?? 1000, clock: this.#clock });
    this.#updates = new TokenBucket({
      capacity: options.updateBurst ?? 5,
      refillPerMinute: options.updatesPerMinute ?? 50,
      clock: this.#clock,
    });
    this.#streamCalls = new TokenBucket({
      capacity: options.streamCallBurst ?? 10,
      refillPerMinute: options.streamCallsPerMinute ?? 100,
      clock: this.#clock,
    });
    this.#coalescer = new Coalescer((_key, message) => this.#sendUpdate(message));
    this.#threadCacheTtlMs = options.threadCacheTtlMs ?? 15_000;
    this.#maxRateLimitRetries = options.maxRateLimitRetries ?? 3;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.#maxThreadMessages = options.maxThreadMessages ?? 1000;
    this.#limits = options.limits ?? slackMessageLimits;
    this.#streamTuning = { ...options.stream, limits: this.#limits };
    if (options.metrics) {
      this.#streamFallbacks = counter(
        options.metrics,
        'deskhand_slack_stream_fallbacks_total',
        'Streamed replies that continued as an updated message, by reason',
        ['reason'],
      );
      this.#calls = counter(options.metrics, 'deskhand_slack_api_calls_total', 'Slack Web API calls by outcome', [
        'method',
        'outcome',
      ]);
      this.#latency = histogram(options.metrics, 'deskhand_slack_api_seconds', 'Slack Web API call latency', [
        'method',
      ]);
    }
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
          const result = await this.#call('chat.postMessage', 'post', message.channel, turn, {
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
      if (message.threadTs !== undefined) this.#threads.delete(threadKey(message.channel, message.threadTs));
    }
    const [first] = allTs;
    if (first === undefined) throw new DeskhandError('internal', 'Nothing to post: the message was empty.');
    if (parts.length > 1) this.#logger.info({ channel: message.channel, parts: parts.length }, 'long message split');
    return { channel: message.channel, ts: first, allTs };
  }

  /**
   * Replaces a message's content. Updates to the same message are coalesced (only the latest is sent) and
   * paced by a workspace-wide budget. Content beyond one message's limits is cut to the first part.
   */
  update(message: OutgoingMessage & { ts: string }): Promise<void> {
    try {
      rejectEmpty(message);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#track(this.#coalescer.submit(`${message.channel}:${message.ts}`, message));
  }

  async #sendUpdate(message: OutgoingMessage & { ts: string }): Promise<void> {
    const parts = splitMessage(
      { text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) },
      this.#limits,
    );
    const [part] = parts;
    if (!part) return;
    if (parts.length > 1) {
      this.#logger.warn(
        { channel: message.channel, ts: message.ts, parts: parts.length },
        'update too long, cut to one message',
      );
    }
    const turn: Turn = () => this.#updates.take();
    await turn();
    await this.#call('chat.update', 'update', message.channel, turn, {
      channel: message.channel,
      ts: message.ts,
      text: part.text,
      ...(part.blocks ? { blocks: part.blocks } : {}),
    });
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
        await this.#call('chat.postEphemeral', 'post', message.channel, turn, {
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
    const result = await this.#call('views.open', 'view', undefined, noTurn, { trigger_id: triggerId, view });
    const opened = result.view as { id?: string } | undefined;
    if (!opened?.id) throw new DeskhandError('upstream_invalid_response', 'views.open returned no view id');
    return { viewId: opened.id };
  }

  async updateView(viewId: string, view: Record<string, unknown>): Promise<void> {
    await this.#call('views.update', 'read', undefined, noTurn, { view_id: viewId, view });
  }

  /**
   * Messages of a thread, oldest first, all pages (up to `maxThreadMessages`). With `limit`, the parent and
   * the most recent `limit - 1` replies. Cached per thread for a short TTL; concurrent callers share one
   * fetch; posting into the thread through this messenger invalidates the cache.
   */
  async threadMessages(channel: string, threadTs: string, options: { limit?: number } = {}): Promise<ThreadMessage[]> {
    const key = threadKey(channel, threadTs);
    const now = this.#clock.now();
    let cached = this.#threads.get(key);
    if (!cached || cached.expiresAt <= now) {
      const messages = this.#fetchThread(channel, threadTs);
      cached = { expiresAt: now + this.#threadCacheTtlMs, messages };
      this.#threads.set(key, cached);
      messages.catch(() => {
        if (this.#threads.get(key) === cached) this.#threads.delete(key);
      });
      this.#pruneThreadCache(now);
    }
    const messages = await cached.messages;
    const limit = options.limit;
    if (limit === undefined || messages.length <= limit) return messages;
    if (limit <= 1) return messages.slice(0, limit);
    return [...messages.slice(0, 1), ...messages.slice(messages.length - (limit - 1))];
  }

  async #fetchThread(channel: string, threadTs: string): Promise<ThreadMessage[]> {
    const messages: ThreadMessage[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#call('conversations.replies', 'read', channel, noTurn, {
        channel,
        ts: threadTs,
        limit: 200,
        ...(cursor ? { cursor } : {}),
      });
      for (const raw of (page.messages as Record<string, unknown>[] | undefined) ?? [])
        messages.push(toThreadMessage(raw));
      cursor = (page.response_metadata as { next_cursor?: string } | undefined)?.next_cursor || undefined;
    } while (cursor && messages.length < this.#maxThreadMessages);
    return messages.slice(0, this.#maxThreadMessages);
  }

  #pruneThreadCache(now: number): void {
    if (this.#threads.size < 500) return;
    for (const [key, entry] of this.#threads) if (entry.expiresAt <= now) this.#threads.delete(key);
  }

  /** A single message: top-level via conversations.history, else a thread reply via conversations.replies. */
  async message(channel: string, ts: string): Promise<ThreadMessage | undefined> {
    try {
      const history = await this.#call('conversations.history', 'read', channel, noTurn, {
        channel,
        latest: ts,
        oldest: ts,
        inclusive: true,
        limit: 1,
      });
      const found = ((history.messages as Record<string, unknown>[] | undefined) ?? []).find((raw) => raw.ts === ts);
      if (found) return toThreadMessage(found);
      const replies = await this.#call('conversations.replies', 'read', channel, noTurn, {
        channel,
        ts,
        latest: ts,
        oldest: ts,
        inclusive: true,
        limit: 1,
      });
      const reply = ((replies.messages as Record<string, unknown>[] | undefined) ?? []).find((raw) => raw.ts === ts);
      return reply ? toThreadMessage(reply) : undefined;
    } catch (error) {
      if (error instanceof DeskhandError && error.code === 'not_found') return undefined;
      throw error;
    }
  }

  async permalink(channel: string, ts: string): Promise<string | undefined> {
    try {
      const result = await this.#call('chat.getPermalink', 'read', channel, noTurn, { channel, message_ts: ts });
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
        this.#call('assistant.threads.setStatus', 'status', channel, noTurn, {
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
    const turn: Turn = () => this.#streamCalls.take();
    const stream = new SlackMessageStream(
      options,
      {
        call: async (method, parameters) => {
          await turn();
          return this.#call(method, 'stream', options.channel, turn, parameters);
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
      const result = await this.#call('files.info', 'read', undefined, noTurn, { file: fileId });
      const file = result.file;
      return typeof file === 'object' && file !== null ? toFileDetails(file as Record<string, unknown>) : undefined;
    } catch (error) {
      if (error instanceof DeskhandError && error.code === 'not_found') return undefined;
      throw error;
    }
  }

  /** Resolves once every queued post, ephemeral and update has been sent (or has failed). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) {
      await Promise.allSettled([...this.#inFlight]);
    }
    await Promise.all([this.#channels.idle(), this.#coalescer.idle()]);
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise);
    const forget = () => this.#inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  /**
   * One Web API call with this module's retry policy. `turn` waits for the caller's pacing slot again before
   * a retry (the channel queue for posts, the update bucket for updates).
   */
  async #call(
    method: string,
    kind: CallKind,
    channel: string | undefined,
    turn: Turn,
    parameters: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    let rateLimited = 0;
    let failedOnce = false;
    for (;;) {
      const started = this.#clock.now();
      try {
        const result: WebAPICallResult = await this.#client.apiCall(method, parameters);
        this.#observe(method, 'ok', started);
        return result as unknown as Record<string, unknown>;
      } catch (caught) {
        const error = caught as SlackCallError;
        const log = { method, channel, slackError: error.data?.error, statusCode: error.statusCode };
        if (error.code === 'slack_webapi_rate_limited_error') {
          this.#observe(method, 'rate_limited', started);
          const retryAfterMs = Math.max(1, error.retryAfter ?? 1) * 1000;
          rateLimited += 1;
          if (rateLimited > this.#maxRateLimitRetries || retryAfterMs > this.#maxRetryAfterMs || kind === 'status') {
            this.#logger.warn({ ...log, retryAfterMs }, 'slack rate limit: giving up');
            throw new DeskhandError('upstream_rate_limited', `${method} stayed rate limited by Slack`, {
              cause: caught,
              retryable: true,
              userMessage: 'Slack is rate limiting me right now. Please try again in a minute.',
              details: { method, channel, retryAfterMs },
            });
          }
          this.#logger.info({ ...log, retryAfterMs }, 'slack rate limit: pausing this channel only');
          const until = this.#clock.now() + retryAfterMs;
          if (kind === 'update') this.#updates.pause(until);
          else if (kind === 'stream') this.#streamCalls.pause(until);
          else if (channel !== undefined && kind === 'post') this.#channels.pause(channel, until);
          else await this.#clock.sleep(retryAfterMs);
          await turn();
          continue;
        }
        if (error.code === 'slack_webapi_platform_error') {
          const slackError = error.data?.error ?? 'unknown_error';
          this.#observe(method, 'platform_error', started);
          this.#logger.warn(log, 'slack api error');
          throw new DeskhandError(platformCode(slackError), `${method} failed: ${slackError}`, {
            cause: caught,
            details: { method, channel, slackError },
          });
        }
        // Timeout, network failure or HTTP 5xx: the outcome is unknown.
        this.#observe(method, 'unavailable', started);
        const retrySafe = kind !== 'post' && kind !== 'view' && kind !== 'stream';
        if (retrySafe && !failedOnce) {
          failedOnce = true;
          this.#logger.info(log, 'slack call failed, retrying once');
          continue;
        }
        this.#logger.warn({ ...log, err: error.original ?? caught, outcomeUnknown: !retrySafe }, 'slack call failed');
        throw new DeskhandError('upstream_unavailable', `${method} failed: Slack did not answer`, {
          cause: caught,
          retryable: retrySafe,
          userMessage: 'Slack did not answer in time. Please check the channel before trying again.',
          details: { method, channel, outcomeUnknown: !retrySafe },
        });
      }
    }
  }

  #observe(method: string, outcome: string, started: number): void {
    this.#calls?.inc({ method, outcome });
    this.#latency?.observe({ method }, (this.#clock.now() - started) / 1000);
  }
}

const noTurn: Turn = async () => {};

/** A message needs a non-empty `text` fallback (the port requires it; Slack needs text or blocks). */
function rejectEmpty(message: OutgoingMessage): void {
  if (message.text.trim() !== '') return;
  throw new DeskhandError('invalid_input', `Refusing to send a message without text to ${message.channel}`, {
    details: { channel: message.channel, hasBlocks: (message.blocks?.length ?? 0) > 0 },
  });
}

function threadKey(channel: string, threadTs: string): string {
  return `${channel}:${threadTs}`;
}

function toThreadMessage(raw: Record<string, unknown>): ThreadMessage {
  const files = Array.isArray(raw.files)
    ? (raw.files as Record<string, unknown>[]).map((file) => ({
        id: String(file.id),
        ...(typeof file.name === 'string' ? { name: file.name } : {}),
        ...(typeof file.mimetype === 'string' ? { mimetype: file.mimetype } : {}),
        ...(typeof file.size === 'number' ? { size: file.size } : {}),
        ...(typeof file.url_private === 'string' ? { urlPrivate: file.url_private } : {}),
      }))
    : undefined;
  return {
    ts: String(raw.ts),
    text: typeof raw.text === 'string' ? raw.text : '',
    ...(typeof raw.thread_ts === 'string' ? { threadTs: raw.thread_ts } : {}),
    ...(typeof raw.user === 'string' ? { user: raw.user } : {}),
    ...(typeof raw.bot_id === 'string' ? { botId: raw.bot_id } : {}),
    ...(typeof raw.subtype === 'string' ? { subtype: raw.subtype } : {}),
    ...(files ? { files } : {}),
  };
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `files.info`'s `file` as `FileDetails`; `shares.public`/`shares.private` flattened to one list. */
function toFileDetails(raw: Record<string, unknown>): FileDetails {
  const shares: FileDetails['shares'] = [];
  const byVisibility =
    typeof raw.shares === 'object' && raw.shares !== null ? (raw.shares as Record<string, unknown>) : {};
  for (const visibility of ['public', 'private']) {
    const channels = byVisibility[visibility];
    if (typeof channels !== 'object' || channels === null) continue;
    for (const [channel, list] of Object.entries(channels as Record<string, unknown>)) {
      if (!Array.isArray(list)) continue;
      for (const share of list as Record<string, unknown>[]) {
        const ts = optionalString(share?.ts);
        if (!ts) continue;
        const threadTs = optionalString(share.thread_ts);
        shares.push({ channel, ts, ...(threadTs && threadTs !== ts ? { threadTs } : {}) });
      }
    }
  }
  const external = raw.is_external === true || raw.mode === 'tombstone' || raw.mode === 'hidden_by_limit';
  const urlPrivate = external
    ? undefined
    : (optionalString(raw.url_private_download) ?? optionalString(raw.url_private));
  const name = optionalString(raw.name);
  const title = optionalString(raw.title);
  const mimetype = optionalString(raw.mimetype);
  const permalink = optionalString(raw.permalink);
  const user = optionalString(raw.user);
  return {
    id: String(raw.id),
    ...(name ? { name } : {}),
    ...(title ? { title } : {}),
    ...(mimetype ? { mimetype } : {}),
    ...(typeof raw.size === 'number' ? { size: raw.size } : {}),
    ...(urlPrivate ? { urlPrivate } : {}),
    ...(permalink ? { permalink } : {}),
    ...(user ? { user } : {}),
    shares,
  };
}
