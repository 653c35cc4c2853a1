/**
 * Where per-workspace index versions live. `RedisIndexVersionCounter` (INCR) is atomic across every process and
 * is what the composition root uses when Redis is configured; `QdrantMetadataVersionCounter` keeps the counter on
 * a metadata point in the collection and is atomic only within one process (its increments are serialised here) —
 * fine for a single ingesting process.
 */
import type { QdrantClient } from '@qdrant/js-client-rest';
import { denseName } from './create-qdrant-collection.ts';
import { deskhandUuidNamespace, uuidV5 } from './vector-index-shared.ts';

/** Where per-workspace index versions live; `increment` must be atomic. */
export interface IndexVersionCounter {
  increment(workspaceId: string): Promise<number>;
  current(workspaceId: string): Promise<number>;
}

/** The subset of an ioredis client the Redis counter needs. */
export interface RedisCounterClient {
  incr(key: string): Promise<number>;
  get(key: string): Promise<string | null>;
}

/** Index versions as Redis counters (INCR is atomic across every process). */
export class RedisIndexVersionCounter implements IndexVersionCounter {
  readonly #redis: RedisCounterClient;
  readonly #keyPrefix: string;

  constructor(redis: RedisCounterClient, keyPrefix: string) {
    this.#redis = redis;
    this.#keyPrefix = keyPrefix;
  }

  increment(workspaceId: string): Promise<number> {
    return this.#redis.incr(`${this.#keyPrefix}index-version:${workspaceId}`);
  }

  async current(workspaceId: string): Promise<number> {
    return Number((await this.#redis.get(`${this.#keyPrefix}index-version:${workspaceId}`)) ?? 0);
  }
}

/**
 * Index versions on one metadata point per workspace in the collection. Atomic within this process only
 * (increments are serialised here); use `RedisIndexVersionCounter` when several processes ingest.
 */
export class QdrantMetadataVersionCounter implements IndexVersionCounter {
  readonly #client: QdrantClient;
  readonly #collection: string;
  readonly #dimensions: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(client: QdrantClient, collection: string, dimensions: number) {
    this.#client = client;
    this.#collection = collection;
    this.#dimensions = dimensions;
  }

  async current(workspaceId: string): Promise<number> {
    const points = await this.#client.retrieve(this.#collection, {
      ids: [this.#pointId(workspaceId)],
      with_payload: true,
      with_vector: false,
    });
    const version = points[0]?.payload?.indexVersion;
    return typeof version === 'number' ? version : 0;
  }

  increment(workspaceId: string): Promise<number> {
    const next = this.#queue.then(async () => {
      const version = (await this.current(workspaceId)) + 1;
      // The metadata point needs a vector for the named dense space; a unit axis keeps cosine defined. It has
      // no `scope` payload, so no access filter ever matches it.
      const unit = new Array<number>(this.#dimensions).fill(0);
      unit[0] = 1;
      await this.#client.upsert(this.#collection, {
        wait: true,
        points: [
          {
            id: this.#pointId(workspaceId),
            vector: { [denseName]: unit },
            payload: { kind: 'index-version', workspaceId: `meta:${workspaceId}`, indexVersion: version },
          },
        ],
      });
      return version;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #pointId(workspaceId: string): string {
    return uuidV5(`index-version:${workspaceId}`, deskhandUuidNamespace);
  }
}
