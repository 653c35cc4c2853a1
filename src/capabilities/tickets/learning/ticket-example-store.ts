/**
 * A workspace's labelled ticket examples in Redis.
 *
 * Keys (all hash-tagged by the workspace, so each script stays in one cluster slot; the prefix
 * `ticket-examples:{T…}:` is in the uninstall purge's list):
 * - `items`: hash example id → JSON;
 * - `order`: sorted set example id → the version at which it was last recorded (oldest first);
 * - `version`: a counter bumped by every change, so an in-memory index knows when to re-read.
 *
 * Guarantees: at most `cap` examples per workspace — recording one more evicts the oldest in the same script;
 * recording an id again replaces it and makes it the newest; `delete` removes one, `clear` all; every read and
 * write names its workspace, and no call reads another workspace's keys.
 */
import { parseTicketExample, type TicketExample } from './ticket-example.ts';

/** The Redis calls this store needs; an ioredis client satisfies it. */
export interface TicketExampleRedis {
  eval(script: string, numberOfKeys: number, ...keysAndArguments: (string | number)[]): Promise<unknown>;
}

/**
 * Default examples kept per workspace: above BANKING77's whole dev part (7,993), so its learning curve runs on the
 * production path. About 5 MB in Redis and 15 MB of in-memory index for a full workspace.
 */
export const defaultExampleCap = 10_000;

/** Examples read per round trip when an index catches up. */
const readBatch = 500;

// KEYS: items, order, version. ARGV: id, json, cap. Returns how many were evicted.
const recordScript = `
local version = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], version, ARGV[1])
local evicted = 0
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for index = 1, #oldest, 2 do
    redis.call('HDEL', KEYS[1], oldest[index])
    evicted = evicted + 1
  end
end
return evicted`;

// KEYS: items, order, version. ARGV: id. Returns 1 when it existed.
const deleteScript = `
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if removed == 1 then redis.call('INCR', KEYS[3]) end
return removed`;

// KEYS: items, order, version. Returns how many there were.
const clearScript = `
local count = redis.call('ZCARD', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('INCR', KEYS[3])
return count`;

// KEYS: order, version. Returns { version, ids oldest first }.
const snapshotScript = `
return { redis.call('GET', KEYS[2]) or '0', redis.call('ZRANGE', KEYS[1], 0, -1) }`;

export interface TicketExampleStoreOptions {
  /** Global key prefix (`REDIS_KEY_PREFIX`). */
  keyPrefix: string;
  /** Examples kept per workspace (default `defaultExampleCap`). */
  cap?: number;
}

export class TicketExampleStore {
  readonly cap: number;
  readonly #redis: TicketExampleRedis;
  readonly #prefix: string;

  constructor(redis: TicketExampleRedis, options: TicketExampleStoreOptions) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix;
    this.cap = Math.max(1, Math.floor(options.cap ?? defaultExampleCap));
  }

  #keys(workspaceId: string): [items: string, order: string, version: string] {
    const base = `${this.#prefix}ticket-examples:{${workspaceId}}:`;
    return [`${base}items`, `${base}order`, `${base}version`];
  }

  /** Records (or replaces) an example; returns how many old examples the cap evicted. */
  async record(workspaceId: string, example: TicketExample): Promise<number> {
    const evicted = await this.#redis.eval(
      recordScript,
      3,
      ...this.#keys(workspaceId),
      example.id,
      JSON.stringify(example),
      this.cap,
    );
    return Number(evicted);
  }

  /** Deletes one example; false when the workspace has none with that id. */
  async delete(workspaceId: string, id: string): Promise<boolean> {
    return Number(await this.#redis.eval(deleteScript, 3, ...this.#keys(workspaceId), id)) === 1;
  }

  /** Deletes every example of the workspace; returns how many there were. */
  async clear(workspaceId: string): Promise<number> {
    return Number(await this.#redis.eval(clearScript, 3, ...this.#keys(workspaceId)));
  }

  /** The change counter (0 before the first example); it only grows, across clears too. */
  async version(workspaceId: string): Promise<number> {
    const [, , version] = this.#keys(workspaceId);
    return Number(await this.#redis.eval('return redis.call("GET", KEYS[1]) or "0"', 1, version));
  }

  /** The version and every example id, oldest first, read atomically. */
  async snapshot(workspaceId: string): Promise<{ version: number; ids: string[] }> {
    const [, order, version] = this.#keys(workspaceId);
    const [at, ids] = (await this.#redis.eval(snapshotScript, 2, order, version)) as [string, string[]];
    return { version: Number(at), ids };
  }

  /** The examples with these ids that exist and parse (in batches); unknown or damaged ones are left out. */
  async read(workspaceId: string, ids: readonly string[]): Promise<TicketExample[]> {
    const [items] = this.#keys(workspaceId);
    const examples: TicketExample[] = [];
    for (let start = 0; start < ids.length; start += readBatch) {
      const batch = ids.slice(start, start + readBatch);
      const values = (await this.#redis.eval(
        'return redis.call("HMGET", KEYS[1], unpack(ARGV))',
        1,
        items,
        ...batch,
      )) as (string | null)[];
      for (const value of values) {
        const example = value === null ? undefined : parseTicketExample(value);
        if (example) examples.push(example);
      }
    }
    return examples;
  }

  /** The newest `limit` (≤ 100) examples, newest first, and how many the workspace has. */
  async list(workspaceId: string, limit = 20): Promise<{ examples: TicketExample[]; total: number }> {
    const { ids } = await this.snapshot(workspaceId);
    const count = Math.max(0, Math.min(100, Math.floor(limit)));
    return { examples: await this.read(workspaceId, ids.slice(-count || ids.length).reverse()), total: ids.length };
  }
}
