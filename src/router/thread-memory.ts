/**
 * Which threads Deskhand has replied in, and for which route, so follow-ups there continue the conversation
 * without a mention. Kept in Redis with a TTL so it is shared by instances and survives restarts, and forgotten
 * when a conversation has gone quiet.
 */
import { type Route, routes } from '../ports/capability.ts';

export interface ThreadKey {
  workspaceId: string;
  channelId: string;
  threadTs: string;
}

export interface ThreadMemory {
  /** Records that Deskhand replied in the thread for `route` (refreshing the TTL). */
  remember(thread: ThreadKey, route: Route): Promise<void>;
  /** The route of the conversation in the thread, if Deskhand replied there recently. */
  recall(thread: ThreadKey): Promise<Route | undefined>;
}

/** The Redis commands thread memory uses (an ioredis `Redis` instance fits). */
export interface ThreadMemoryRedis {
  set(key: string, value: string, mode: 'EX', seconds: number): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

export class RedisThreadMemory implements ThreadMemory {
  readonly #redis: ThreadMemoryRedis;
  readonly #keyPrefix: string;
  readonly #ttlSeconds: number;

  constructor(options: { redis: ThreadMemoryRedis; keyPrefix: string; ttlSeconds?: number }) {
    this.#redis = options.redis;
    this.#keyPrefix = options.keyPrefix;
    this.#ttlSeconds = options.ttlSeconds ?? 7 * 24 * 60 * 60;
  }

  #key(thread: ThreadKey): string {
    return `${this.#keyPrefix}thread:${thread.workspaceId}:${thread.channelId}:${thread.threadTs}`;
  }

  async remember(thread: ThreadKey, route: Route): Promise<void> {
    await this.#redis.set(this.#key(thread), route, 'EX', this.#ttlSeconds);
  }

  async recall(thread: ThreadKey): Promise<Route | undefined> {
    const value = await this.#redis.get(this.#key(thread));
    return value !== null && (routes as readonly string[]).includes(value) ? (value as Route) : undefined;
  }
}
