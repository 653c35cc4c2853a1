/**
 * `ThreadReader`: the messenger's reads of conversation messages.
 * - `threadMessages`: a thread's messages oldest first, every page of `conversations.replies` (up to
 *   `maxThreadMessages`), cached per thread for a short TTL; concurrent callers share one fetch, a failed
 *   fetch is never cached, and `invalidate` (called after posting into the thread) drops the entry.
 * - `message`: one message, top-level or a thread reply; `undefined` when Slack says it does not exist.
 * - Reads are unpaced and retried once on an unknown outcome (slack-api-caller.ts, kind `read`).
 */
import { DeskhandError } from '../../errors.ts';
import type { ThreadMessage, ThreadReadOptions } from '../../ports/messenger.ts';
import type { Clock } from './pacer.ts';
import { noTurn, type SlackApiCaller } from './slack-api-caller.ts';

export interface ThreadReaderOptions {
  caller: SlackApiCaller;
  clock: Clock;
  /** How long a fetched thread is reused. */
  threadCacheTtlMs: number;
  /** Most messages fetched for one thread. */
  maxThreadMessages: number;
}

interface CachedThread {
  expiresAt: number;
  messages: Promise<ThreadMessage[]>;
}

export class ThreadReader {
  #caller: SlackApiCaller;
  #clock: Clock;
  #threads = new Map<string, CachedThread>();
  #threadCacheTtlMs: number;
  #maxThreadMessages: number;

  constructor(options: ThreadReaderOptions) {
    this.#caller = options.caller;
    this.#clock = options.clock;
    this.#threadCacheTtlMs = options.threadCacheTtlMs;
    this.#maxThreadMessages = options.maxThreadMessages;
  }

  /**
   * Messages of a thread, oldest first, all pages (up to `maxThreadMessages`). With `limit`, the parent and
   * the most recent `limit - 1` replies. Cached per thread for a short TTL; concurrent callers share one
   * fetch. `fresh` skips a cached copy (the new read replaces it).
   */
  async threadMessages(channel: string, threadTs: string, options: ThreadReadOptions = {}): Promise<ThreadMessage[]> {
    const key = threadKey(channel, threadTs);
    const now = this.#clock.now();
    let cached = this.#threads.get(key);
    if (!cached || cached.expiresAt <= now || options.fresh) {
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

  /** Drops the cached thread, so the next read sees what was just posted into it. */
  invalidate(channel: string, threadTs: string): void {
    this.#threads.delete(threadKey(channel, threadTs));
  }

  /** A single message: top-level via conversations.history, else a thread reply via conversations.replies. */
  async message(channel: string, ts: string): Promise<ThreadMessage | undefined> {
    try {
      const history = await this.#caller.call('conversations.history', 'read', channel, noTurn, {
        channel,
        latest: ts,
        oldest: ts,
        inclusive: true,
        limit: 1,
      });
      const found = ((history.messages as Record<string, unknown>[] | undefined) ?? []).find((raw) => raw.ts === ts);
      if (found) return toThreadMessage(found);
      const replies = await this.#caller.call('conversations.replies', 'read', channel, noTurn, {
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

  async #fetchThread(channel: string, threadTs: string): Promise<ThreadMessage[]> {
    const messages: ThreadMessage[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#caller.call('conversations.replies', 'read', channel, noTurn, {
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
    ...authorNameOf(raw.user_profile),
    ...(typeof raw.bot_id === 'string' ? { botId: raw.bot_id } : {}),
    ...(typeof raw.subtype === 'string' ? { subtype: raw.subtype } : {}),
    ...(files ? { files } : {}),
  };
}

/** The display name (else real name) of a message's `user_profile`, when Slack sends one. */
function authorNameOf(profile: unknown): { authorName?: string } {
  if (typeof profile !== 'object' || profile === null) return {};
  const { display_name: displayName, real_name: realName } = profile as Record<string, unknown>;
  const name = [displayName, realName].find(
    (value): value is string => typeof value === 'string' && value.trim() !== '',
  );
  return name ? { authorName: name.trim().slice(0, 80) } : {};
}
