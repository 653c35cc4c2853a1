/**
 * Embeddings cached by (model, dimensions, workspace, embedded-text hash), so re-ingesting a changed document
 * only embeds its changed chunks and re-ingesting after a failure does not pay twice. The workspace is part of
 * the key: one tenant's cache never answers another's (docs/platform-facts.md, caches).
 */
import { Buffer } from 'node:buffer';

export interface EmbeddingCacheKey {
  model: string;
  dimensions: number;
  workspaceId: string;
  /** sha256 (hex) of the exact text that was embedded. */
  textHash: string;
}

export interface EmbeddingCache {
  /** One entry per key, in order; `undefined` where nothing (or a vector of the wrong size) is cached. */
  getMany(keys: EmbeddingCacheKey[]): Promise<(Float32Array | undefined)[]>;
  setMany(entries: { key: EmbeddingCacheKey; vector: Float32Array }[]): Promise<void>;
}

/**
 * The Redis commands the cache needs. ioredis' `Redis` satisfies it structurally; capabilities never import the
 * Redis SDK, the composition root passes the client in.
 */
export interface EmbeddingCacheRedis {
  getBuffer(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer, mode: 'EX', seconds: number): Promise<unknown>;
}

export interface RedisEmbeddingCacheOptions {
  /** Prepended to every key (REDIS_KEY_PREFIX). */
  keyPrefix: string;
  /** Default 30 days; a cache miss only costs one embedding call. */
  ttlSeconds?: number;
}

/**
 * Stores each vector as little-endian float32 bytes under `<prefix>embedding:<workspace>:<model>:<dims>:<hash>`.
 * One GET or SET per key, sent together (one round trip on one connection): the keys of a batch are in many hash
 * slots, which MGET and MULTI refuse on a Redis Cluster, and a cache needs no atomic batch.
 */
export class RedisEmbeddingCache implements EmbeddingCache {
  private readonly redis: EmbeddingCacheRedis;
  private readonly keyPrefix: string;
  private readonly ttlSeconds: number;

  constructor(redis: EmbeddingCacheRedis, options: RedisEmbeddingCacheOptions) {
    this.redis = redis;
    this.keyPrefix = options.keyPrefix;
    this.ttlSeconds = options.ttlSeconds ?? 30 * 24 * 3600;
  }

  redisKey(key: EmbeddingCacheKey): string {
    const workspace = encodeURIComponent(key.workspaceId);
    const model = encodeURIComponent(key.model);
    return `${this.keyPrefix}embedding:${workspace}:${model}:${key.dimensions}:${key.textHash}`;
  }

  async getMany(keys: EmbeddingCacheKey[]): Promise<(Float32Array | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await Promise.all(keys.map((key) => this.redis.getBuffer(this.redisKey(key))));
    return keys.map((key, index) => {
      const value = values[index];
      if (!value || value.byteLength !== key.dimensions * 4) return undefined;
      const vector = new Float32Array(key.dimensions);
      const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
      for (let offset = 0; offset < key.dimensions; offset += 1) vector[offset] = view.getFloat32(offset * 4, true);
      return vector;
    });
  }

  async setMany(entries: { key: EmbeddingCacheKey; vector: Float32Array }[]): Promise<void> {
    if (entries.length === 0) return;
    await Promise.all(
      entries.map(({ key, vector }) => {
        const bytes = Buffer.alloc(vector.length * 4);
        vector.forEach((value, offset) => {
          bytes.writeFloatLE(value, offset * 4);
        });
        return this.redis.set(this.redisKey(key), bytes, 'EX', this.ttlSeconds);
      }),
    );
  }
}
