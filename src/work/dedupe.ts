/**
 * Global de-duplication of Slack deliveries in Redis. Slack retries an event when the ack is late or lost
 * (`X-Slack-Retry-Num`), Socket Mode redelivers envelopes, and several app instances may receive the same
 * delivery; Bolt de-duplicates nothing (docs/platform-facts.md).
 *
 * A delivery is claimed with a lease (`SET NX PX`), the lease is renewed while work runs, and a done marker
 * replaces the lease when the work finishes. A redelivery while the lease is live or after the done marker is
 * acknowledged without work. A worker that dies after claiming stops renewing, its lease expires, and the next
 * redelivery is processed — a permanent SETNX would lose that event.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../adapters/redis-client.ts';

const DONE = 'done';

// Atomic claim: a plain SET NX followed by GET could see the lease expire in between and report "in progress"
// for a key that no longer exists.
const claimScript = `
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if ok then return 'claimed' end
local value = redis.call('GET', KEYS[1])
if value == '${DONE}' then return 'done' end
return 'in_progress'`;

const renewScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const completeScript = `
local value = redis.call('GET', KEYS[1])
if value == ARGV[1] or value == false then
  redis.call('SET', KEYS[1], '${DONE}', 'PX', ARGV[2])
  return 1
end
return 0`;

const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface DedupeScripts {
  claim(key: string, token: string, leaseMs: string): Promise<unknown>;
  renew(key: string, token: string, leaseMs: string): Promise<unknown>;
  complete(key: string, token: string, doneTtlMs: string): Promise<unknown>;
  release(key: string, token: string): Promise<unknown>;
}

/**
 * Registers the scripts with ioredis, which sends them by SHA (EVALSHA, falling back to EVAL once per connection)
 * instead of shipping the script text with every delivery.
 */
function defineScripts(redis: RedisClient): DedupeScripts {
  const scripts = {
    dhDedupeClaim: claimScript,
    dhDedupeRenew: renewScript,
    dhDedupeComplete: completeScript,
    dhDedupeRelease: releaseScript,
  };
  for (const [name, lua] of Object.entries(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  }
  const call = redis as unknown as Record<string, (...args: string[]) => Promise<unknown>>;
  const command = (name: string) => {
    const method = call[name];
    if (!method) throw new Error(`Redis script ${name} is not defined`);
    return method.bind(redis);
  };
  return {
    claim: command('dhDedupeClaim'),
    renew: command('dhDedupeRenew'),
    complete: command('dhDedupeComplete'),
    release: command('dhDedupeRelease'),
  };
}

/** A live claim on one delivery. */
export interface DeliveryClaim {
  readonly key: string;
  /** Extends the lease; false when it was lost (expired and claimed by someone else). */
  renew(): Promise<boolean>;
  /** Replaces the lease with the done marker, unless another worker has claimed the delivery since. */
  complete(): Promise<boolean>;
  /** Drops the lease so that a redelivery is processed (used when the work must be retried). */
  release(): Promise<boolean>;
}

export type ClaimOutcome =
  | { status: 'claimed'; claim: DeliveryClaim }
  | { status: 'duplicate'; reason: 'in_progress' | 'done' };

export interface DeliveryDeduplicatorOptions {
  redis: RedisClient;
  /** Key prefix, e.g. `dh:`; keys are `${keyPrefix}delivery:${id}`. */
  keyPrefix: string;
  /** How long a claim holds without renewal. */
  leaseMs?: number;
  /** How long the done marker is kept; longer than Slack's last retry (~5 min) and Socket Mode redelivery. */
  doneTtlMs?: number;
}

/** Claims deliveries by id so that each is worked on once across retries, redeliveries and instances. */
export class DeliveryDeduplicator {
  readonly leaseMs: number;
  readonly doneTtlMs: number;
  readonly #scripts: DedupeScripts;
  readonly #keyPrefix: string;

  constructor(options: DeliveryDeduplicatorOptions) {
    this.#scripts = defineScripts(options.redis);
    this.#keyPrefix = options.keyPrefix;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.doneTtlMs = options.doneTtlMs ?? 24 * 60 * 60 * 1000;
  }

  /** Tries to claim a delivery. Exactly one concurrent caller gets `claimed` for the same id. */
  async claim(deliveryId: string): Promise<ClaimOutcome> {
    const key = `${this.#keyPrefix}delivery:${deliveryId}`;
    const token = `lease:${randomUUID()}`;
    const result = await this.#scripts.claim(key, token, String(this.leaseMs));
    if (result === 'claimed') return { status: 'claimed', claim: this.#claim(key, token) };
    return { status: 'duplicate', reason: result === 'done' ? 'done' : 'in_progress' };
  }

  #claim(key: string, token: string): DeliveryClaim {
    const scripts = this.#scripts;
    const leaseMs = String(this.leaseMs);
    const doneTtlMs = String(this.doneTtlMs);
    return {
      key,
      renew: async () => (await scripts.renew(key, token, leaseMs)) === 1,
      complete: async () => (await scripts.complete(key, token, doneTtlMs)) === 1,
      release: async () => (await scripts.release(key, token)) === 1,
    };
  }
}

/** Longer event ids than this are hashed into the key (Slack's are about a dozen characters). */
const maxEventIdLength = 255;

/**
 * The id a delivery is de-duplicated by: the Events API `event_id` when there is one, otherwise a hash of the
 * payload (slash commands and interactions carry no event id; a redelivery repeats the payload exactly, while
 * two different clicks differ at least in `trigger_id`/`action_ts`).
 */
export function deliveryIdOf(body: unknown): string {
  if (typeof body === 'object' && body !== null) {
    const eventId = (body as { event_id?: unknown }).event_id;
    if (typeof eventId === 'string' && eventId.length > maxEventIdLength) {
      // The id becomes a Redis key: a hostile length is hashed rather than stored (the receiver refuses it first).
      return `event:sha256:${createHash('sha256').update(eventId).digest('hex')}`;
    }
    if (typeof eventId === 'string' && eventId.length > 0) return `event:${eventId}`;
  }
  return `sha256:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}`;
}
