/**
 * What Deskhand keeps about each assistant thread: who opened it and the channel they are viewing, per workspace
 * and thread, in Redis under `{W}:assistant:<dm channel>:<thread ts>` (hash-tagged by the workspace, so an
 * uninstall's purge finds it under the workspace's prefix).
 *
 * Guarantees:
 * - a record exists only for a thread Slack announced with `assistant_thread_started` (or a context change),
 *   which is how a DM thread message is known to be an assistant-thread message;
 * - the viewed context is stored only as well-formed Slack ids (`C…`/`G…` channel, `T…` team, `E…` enterprise);
 *   anything else is stored as "no channel", never as a channel that could widen what is searched;
 * - a context change replaces the whole context (a field the new context lacks does not survive from the old);
 * - every record expires `ttlSeconds` (default 30 days) after its last write or title claim, so memory is bounded
 *   by the threads active in that window; one small hash per thread;
 * - `claimTitle` returns true once per thread (HSETNX), so only the first question names the thread.
 *
 * Capabilities do not import ioredis (lint rule); `AssistantRedis` is the subset of its API used here.
 */

/** The Redis commands the store uses (an ioredis `Redis` instance fits). */
export interface AssistantRedis {
  hset(key: string, values: Record<string, string>): Promise<unknown>;
  hsetnx(key: string, field: string, value: string): Promise<number>;
  hdel(key: string, ...fields: string[]): Promise<unknown>;
  hgetall(key: string): Promise<Record<string, string>>;
  expire(key: string, seconds: number): Promise<unknown>;
}

/** The channel the user is viewing, as far as it is a well-formed Slack id; empty when none is known. */
export interface ViewedContext {
  channelId?: string;
  teamId?: string;
  enterpriseId?: string;
}

export interface AssistantThreadRecord {
  userId: string;
  context: ViewedContext;
}

const userIdPattern = /^[UW][A-Z0-9]{2,20}$/;
/** Channels whose documents may be searched: public (`C…`) or private (`G…`/`C…`); never a DM's (`D…`). */
const viewedChannelPattern = /^[CG][A-Z0-9]{2,20}$/;
const teamIdPattern = /^T[A-Z0-9]{2,20}$/;
const enterpriseIdPattern = /^E[A-Z0-9]{2,20}$/;
const threadTsPattern = /^\d{1,12}\.\d{1,8}$/;
const dmChannelPattern = /^D[A-Z0-9]{2,20}$/;

/** The context with every field that is not a well-formed id of its kind left out. */
export function cleanContext(context: { channelId?: string; teamId?: string; enterpriseId?: string }): ViewedContext {
  return {
    ...(context.channelId && viewedChannelPattern.test(context.channelId) ? { channelId: context.channelId } : {}),
    ...(context.teamId && teamIdPattern.test(context.teamId) ? { teamId: context.teamId } : {}),
    ...(context.enterpriseId && enterpriseIdPattern.test(context.enterpriseId)
      ? { enterpriseId: context.enterpriseId }
      : {}),
  };
}

/** True when the DM channel and thread ts look like an assistant thread's (bounded, linear checks). */
export function isAssistantThreadAddress(channelId: string, threadTs: string): boolean {
  return dmChannelPattern.test(channelId) && threadTsPattern.test(threadTs);
}

export class AssistantThreadStore {
  readonly #redis: AssistantRedis;
  readonly #prefix: string;
  readonly #ttlSeconds: number;

  constructor(redis: AssistantRedis, options: { keyPrefix: string; ttlSeconds?: number }) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix;
    this.#ttlSeconds = options.ttlSeconds ?? 30 * 86_400;
  }

  /** The record's key; undefined for ids that are not an assistant thread's (nothing is stored or read then). */
  key(workspaceId: string, channelId: string, threadTs: string): string | undefined {
    if (!/^[TE][A-Z0-9]{1,40}$/.test(workspaceId) || !isAssistantThreadAddress(channelId, threadTs)) return undefined;
    return `${this.#prefix}{${workspaceId}}:assistant:${channelId}:${threadTs}`;
  }

  /** Stores who opened the thread and what they view now (replacing the previous context). False: not stored. */
  async save(
    where: { workspaceId: string; channelId: string; threadTs: string },
    record: { userId: string; context: ViewedContext },
  ): Promise<boolean> {
    const key = this.key(where.workspaceId, where.channelId, where.threadTs);
    if (!key || !userIdPattern.test(record.userId)) return false;
    const context = cleanContext(record.context);
    await this.#redis.hdel(key, 'channel', 'team', 'enterprise');
    await this.#redis.hset(key, {
      user: record.userId,
      ...(context.channelId ? { channel: context.channelId } : {}),
      ...(context.teamId ? { team: context.teamId } : {}),
      ...(context.enterpriseId ? { enterprise: context.enterpriseId } : {}),
    });
    await this.#redis.expire(key, this.#ttlSeconds);
    return true;
  }

  /** The thread's record, or undefined when the thread is not a known assistant thread. */
  async get(workspaceId: string, channelId: string, threadTs: string): Promise<AssistantThreadRecord | undefined> {
    const key = this.key(workspaceId, channelId, threadTs);
    if (!key) return undefined;
    const fields = await this.#redis.hgetall(key);
    if (!fields.user) return undefined;
    const context = cleanContext({
      ...(fields.channel ? { channelId: fields.channel } : {}),
      ...(fields.team ? { teamId: fields.team } : {}),
      ...(fields.enterprise ? { enterpriseId: fields.enterprise } : {}),
    });
    return { userId: fields.user, context };
  }

  /** True the first time it is called for a thread (the thread gets its title then); refreshes the expiry. */
  async claimTitle(workspaceId: string, channelId: string, threadTs: string): Promise<boolean> {
    const key = this.key(workspaceId, channelId, threadTs);
    if (!key) return false;
    const claimed = (await this.#redis.hsetnx(key, 'titled', '1')) === 1;
    await this.#redis.expire(key, this.#ttlSeconds);
    return claimed;
  }
}
