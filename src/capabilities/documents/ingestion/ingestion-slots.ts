/**
 * A cap on documents being ingested at once per workspace, held in Redis so it holds across replicas: one sorted
 * set per workspace (`<prefix>ingestion:slots:{<workspace>}`) of lease ids scored by their expiry in Redis time.
 * Acquiring drops expired leases and adds one only under the cap, in one Lua script (atomic); a running ingestion
 * renews its lease every third of `leaseMs`, so a crashed process frees its slot within `leaseMs`.
 *
 * Guarantees: at most `limit` leases are live per workspace; a refused acquisition is a `not_available_yet` refusal
 * naming the limit (no queue: the sharer is told to share again); release is idempotent. The CLI does not use it
 * (Slack's file-shared and `/docs add` paths wrap `ingestDocument` with `withIngestionSlot` in composition).
 */
import { randomUUID } from 'node:crypto';
import { DeskhandError } from '../../../errors.ts';
import type { Logger } from '../../../observability/logger.ts';

/** The Redis command the slots use (an ioredis `Redis` instance fits). */
export interface IngestionSlotsRedis {
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export interface IngestionSlotsOptions {
  keyPrefix: string;
  /** Ingestions at once per workspace (default 2). */
  limit?: number;
  /** A lease not renewed for this long is free again (default 60 s). */
  leaseMs?: number;
  logger?: Logger;
}

// Redis time, so replicas with skewed clocks agree on what expired. Scripts replicate their effects (Redis ≥ 5).
const nowLua = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;

const acquireLua = `${nowLua}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1`;

const renewLua = `${nowLua}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1`;

const releaseLua = `return redis.call('ZREM', KEYS[1], ARGV[1])`;

export interface IngestionLease {
  /** Frees the slot (idempotent) and stops renewing it. */
  release(): Promise<void>;
}

export class IngestionSlots {
  readonly #redis: IngestionSlotsRedis;
  readonly #prefix: string;
  readonly #limit: number;
  readonly #leaseMs: number;
  readonly #logger: Logger | undefined;

  constructor(redis: IngestionSlotsRedis, options: IngestionSlotsOptions) {
    this.#redis = redis;
    this.#prefix = `${options.keyPrefix}ingestion:slots:`;
    this.#limit = Math.max(1, options.limit ?? 2);
    this.#leaseMs = Math.max(100, options.leaseMs ?? 60_000);
    this.#logger = options.logger;
  }

  get limit(): number {
    return this.#limit;
  }

  /** A lease on one of the workspace's slots, or `undefined` when all `limit` are taken. */
  async tryAcquire(workspaceId: string): Promise<IngestionLease | undefined> {
    const key = this.#key(workspaceId);
    const leaseId = randomUUID();
    const acquired = await this.#redis.eval(acquireLua, 1, key, leaseId, this.#leaseMs, this.#limit);
    if (Number(acquired) !== 1) return undefined;
    const renewal = setInterval(() => {
      this.#redis.eval(renewLua, 1, key, leaseId, this.#leaseMs).catch((error: unknown) => {
        this.#logger?.warn({ err: error, workspaceId }, 'ingestion slot lease renewal failed');
      });
    }, this.#leaseMs / 3);
    renewal.unref();
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renewal);
        await this.#redis.eval(releaseLua, 1, key, leaseId);
      },
    };
  }

  /**
   * Runs `ingest` holding one of the workspace's slots; refuses with the limit when none is free (logged), and
   * frees the slot however `ingest` ends.
   */
  async run<T>(workspaceId: string, ingest: () => Promise<T>): Promise<T> {
    const lease = await this.tryAcquire(workspaceId);
    if (!lease) {
      this.#logger?.warn(
        { workspaceId, limit: this.#limit, code: 'not_available_yet', reason: 'ingestions_in_progress' },
        'document refused: workspace ingestion cap reached',
      );
      throw busy(this.#limit);
    }
    try {
      return await ingest();
    } finally {
      await lease.release().catch((error: unknown) => {
        this.#logger?.warn({ err: error, workspaceId }, 'ingestion slot release failed (it expires by itself)');
      });
    }
  }

  #key(workspaceId: string): string {
    return `${this.#prefix}{${workspaceId}}`;
  }
}

function busy(limit: number): DeskhandError {
  const documents = limit === 1 ? 'a document' : `${limit} documents`;
  return new DeskhandError('not_available_yet', `workspace already has ${limit} ingestions running`, {
    userMessage: `Deskhand is already reading ${documents} for this workspace; share this one again when they are done.`,
    details: { reason: 'ingestions_in_progress', limit },
  });
}
