/**
 * Redis response cache for deterministic chat calls. The key is the SHA-256 of the normalised request (model,
 * messages, parameters, tools, schema, prompt version, purpose) together with its scope (workspace, channel and the
 * caller's `cacheScope`, e.g. the document-access scope and index version behind an answer). Scope is an exact part
 * of the key, never a similarity threshold: an entry is only ever served to the same workspace, channel and scope
 * (litellm#29955 served one tenant's answers to another; LightRAG#755 served answers from a stale index).
 *
 * The key also carries the workspace hash tag, so a workspace's entries live in its Redis Cluster slot: the gateway
 * looks an entry up in the same Lua script that otherwise reserves the budget (one round trip for a hit or a miss),
 * and stores a new entry in the script that settles the call.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from '../adapters/redis-client.ts';
import type { CallScope, ChatRequest, ChatResult } from '../ports/language-model.ts';

export interface CachedChat {
  text: string;
  toolCalls: ChatResult['toolCalls'];
  finishReason: ChatResult['finishReason'];
  usage: ChatResult['usage'];
  /** What the original call cost: a hit saves this much. */
  costMicroUsd: number;
  model: string;
  storedAt: number;
}

export interface ResponseCacheOptions {
  redis: RedisClient;
  keyPrefix: string;
  ttlSeconds: number;
  timeSensitiveTtlSeconds: number;
}

/** JSON with object keys sorted, so key order in schemas or tool parameters does not change the hash. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, node: unknown) => {
    if (node && typeof node === 'object' && !Array.isArray(node)) {
      return Object.fromEntries(Object.entries(node as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
    }
    return node;
  });
}

/** Whether a request may be served from and stored in the cache. */
export function isCacheable(request: ChatRequest): boolean {
  if (request.cache) return request.cache.enabled;
  return (request.temperature ?? 0) === 0 && (request.tools?.length ?? 0) === 0;
}

export class ResponseCache {
  private readonly redis: RedisClient;
  private readonly keyPrefix: string;
  private readonly ttlSeconds: number;
  private readonly timeSensitiveTtlSeconds: number;

  constructor(options: ResponseCacheOptions) {
    this.redis = options.redis;
    this.keyPrefix = options.keyPrefix;
    this.ttlSeconds = options.ttlSeconds;
    this.timeSensitiveTtlSeconds = options.timeSensitiveTtlSeconds;
  }

  /** The cache key of a request in a scope. Exported for tests: two scopes must never share a key. */
  keyFor(request: ChatRequest, model: string, scope: CallScope): string {
    const normalised = {
      version: 1,
      scope: { workspaceId: scope.workspaceId, channelId: scope.channelId, cacheScope: scope.cacheScope ?? null },
      model,
      purpose: request.purpose,
      promptVersion: request.promptVersion,
      messages: request.messages,
      maxOutputTokens: request.maxOutputTokens,
      temperature: request.temperature ?? 0,
      tools: request.tools ?? null,
      toolChoice: request.toolChoice ?? null,
      responseFormat: request.responseFormat ?? null,
    };
    const digest = createHash('sha256').update(canonicalJson(normalised)).digest('hex');
    return `${this.keyPrefix}{${scope.workspaceId}}:cache:${digest}`;
  }

  /** The TTL of an entry: the shorter one for time-sensitive wording. */
  ttlFor(timeSensitive: boolean): number {
    return timeSensitive ? this.timeSensitiveTtlSeconds : this.ttlSeconds;
  }

  encode(entry: CachedChat): string {
    return JSON.stringify(entry);
  }

  /** Parses a stored entry; undefined when it is corrupt. */
  decode(text: string): CachedChat | undefined {
    try {
      const entry = JSON.parse(text) as CachedChat;
      return typeof entry?.text === 'string' && Array.isArray(entry.toolCalls) ? entry : undefined;
    } catch {
      return undefined;
    }
  }

  /** The stored reply, or undefined. A corrupt entry counts as a miss and is deleted. */
  async get(key: string): Promise<CachedChat | undefined> {
    const raw = await this.redis.get(key);
    if (!raw) return undefined;
    const entry = this.decode(raw);
    if (!entry) await this.redis.del(key);
    return entry;
  }

  /** Stores a complete reply; the gateway only calls this for finished, non-truncated, non-error results. */
  async set(key: string, value: CachedChat, timeSensitive: boolean): Promise<void> {
    const ttl = this.ttlFor(timeSensitive);
    if (ttl <= 0) return;
    await this.redis.set(key, this.encode(value), 'EX', ttl);
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(key);
  }
}
