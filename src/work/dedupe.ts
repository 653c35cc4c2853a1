/**
 * Global de-duplication of Slack deliveries in Redis. Slack retries an event when the ack is late or lost
 * (`X-Slack-Retry-Num`), Socket Mode redelivers envelopes, and several app instances may receive the same
 * delivery; Bolt de-duplicates nothing (docs/platform-facts.md).
 *
 * A delivery is claimed with a lease (`SET NX PX`), the lease is renewed while work runs, and a done marker
 * replaces the lease when the work finishes. A redelivery while the lease is live or after the done marker is
 * acknowledged without work. A worker that dies after claiming stops renewing, its lease expires, and the next
 * redelivery is processed — a permanent SETNX would lose that event. A renewal that finds no lease at all (Redis lost
 * its data, issue 17) re-creates it rather than leave the delivery unclaimed while its work still runs.
 *
 * A lease names the replica that holds it (`lease:<replica>:<uuid>`), and each replica keeps a heartbeat
 * (replica-heartbeat.ts, started by its first claim): `claimOrTakeOver`, which the durable-work sweeper uses, takes
 * over a lease whose replica stopped beating (about 5 s) instead of waiting for the lease itself to expire (30 s).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../adapters/redis-client.ts';
import { ReplicaHeartbeat } from './replica-heartbeat.ts';

const DONE = 'done';

// Atomic claim: a plain SET NX followed by GET could see the lease expire in between and report "in progress"
// for a key that no longer exists.
const claimScript = `
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if ok then return 'claimed' end
local value = redis.call('GET', KEYS[1])
if value == '${DONE}' then return 'done' end
return 'in_progress'`;

// A lease that vanished (Redis lost its data, or the lease expired while nobody claimed it) is re-created for the
// worker still running it: otherwise a sweeper elsewhere would claim the delivery and run it a second time.
const renewScript = `
local value = redis.call('GET', KEYS[1])
if value == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'held'
end
if value == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'restored'
end
if value == '${DONE}' then return 'done' end
return 'taken'`;

const completeScript = `
local value = redis.call('GET', KEYS[1])
if value == ARGV[1] or value == false then
  redis.call('SET', KEYS[1], '${DONE}', 'PX', ARGV[2])
  return 1
end
return 0`;

// Takes a lease over only if it is still the one that was judged dead (its holder may have completed it since).
const takeOverScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
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
  takeOver(key: string, expected: string, token: string, leaseMs: string): Promise<unknown>;
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
    dhDedupeTakeOver: takeOverScript,
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
    takeOver: command('dhDedupeTakeOver'),
  };
}

/**
 * What a renewal found: its own lease (`held`); no lease at all, so it was re-created (`restored`: Redis lost it, or
 * it expired unclaimed); another worker's lease (`taken`: this one was judged dead); the done marker (`done`).
 */
export type RenewOutcome = 'held' | 'restored' | 'taken' | 'done';

/** A live claim on one delivery. */
export interface DeliveryClaim {
  readonly key: string;
  /** Extends the lease, re-creating it when it vanished; see `RenewOutcome`. */
  renew(): Promise<RenewOutcome>;
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
  /** This replica's heartbeat (default: one of its own, 5 s TTL renewed every second). */
  heartbeat?: ReplicaHeartbeat;
}

/** Claims deliveries by id so that each is worked on once across retries, redeliveries and instances. */
export class DeliveryDeduplicator {
  readonly leaseMs: number;
  readonly doneTtlMs: number;
  readonly heartbeat: ReplicaHeartbeat;
  readonly #scripts: DedupeScripts;
  readonly #keyPrefix: string;
  readonly #redis: RedisClient;

  constructor(options: DeliveryDeduplicatorOptions) {
    this.#scripts = defineScripts(options.redis);
    this.#redis = options.redis;
    this.#keyPrefix = options.keyPrefix;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.doneTtlMs = options.doneTtlMs ?? 24 * 60 * 60 * 1000;
    this.heartbeat = options.heartbeat ?? new ReplicaHeartbeat({ redis: options.redis, keyPrefix: options.keyPrefix });
  }

  /** Tries to claim a delivery. Exactly one concurrent caller gets `claimed` for the same id. */
  async claim(deliveryId: string): Promise<ClaimOutcome> {
    // Before the first lease names this replica, its heartbeat exists (one SET, once per process).
    await this.heartbeat.start();
    const key = this.#key(deliveryId);
    const token = this.#newToken();
    const result = await this.#scripts.claim(key, token, String(this.leaseMs));
    if (result === 'claimed') return { status: 'claimed', claim: this.#claim(key, token) };
    return { status: 'duplicate', reason: result === 'done' ? 'done' : 'in_progress' };
  }

  /**
   * As `claim`, and when the delivery is in progress under a lease whose replica's heartbeat has expired, takes
   * the lease over (`takenOverFrom`: that replica's id): it died or froze, and its work would otherwise wait for the lease
   * to expire. A live holder, this replica's own leases, and any lease while this replica may not judge others
   * (its own heartbeat is failing or has just recovered: replica-heartbeat.ts) stay `in_progress`.
   */
  async claimOrTakeOver(deliveryId: string): Promise<ClaimOutcome & { takenOverFrom?: string }> {
    const outcome = await this.claim(deliveryId);
    if (outcome.status === 'claimed' || outcome.reason !== 'in_progress') return outcome;
    if (!this.heartbeat.mayJudgeOthers()) return outcome;
    const key = this.#key(deliveryId);
    const lease = await this.#redis.get(key);
    const holder = lease ? holderOf(lease) : undefined;
    if (!lease || !holder || holder === this.heartbeat.replicaId || (await this.heartbeat.alive(holder))) {
      return outcome;
    }
    const token = this.#newToken();
    if ((await this.#scripts.takeOver(key, lease, token, String(this.leaseMs))) !== 1) return outcome;
    return { status: 'claimed', claim: this.#claim(key, token), takenOverFrom: holder };
  }

  /**
   * What Redis holds for a delivery: the done marker, a lease, or nothing (work-reassertion.ts asks before
   * re-creating a work item that Redis lost).
   */
  async state(deliveryId: string): Promise<'done' | 'leased' | 'none'> {
    const value = await this.#redis.get(this.#key(deliveryId));
    if (value === null) return 'none';
    return value === DONE ? 'done' : 'leased';
  }

  /**
   * Writes the done marker of a delivery finished here unless Redis holds something for it (after Redis lost its
   * data: a retry of the delivery must stay a duplicate). Resolves whether it was written.
   */
  async restoreDone(deliveryId: string, ttlMs: number): Promise<boolean> {
    const written = await this.#redis.set(this.#key(deliveryId), DONE, 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
    return written === 'OK';
  }

  #key(deliveryId: string): string {
    return `${this.#keyPrefix}delivery:${deliveryId}`;
  }

  #newToken(): string {
    return `lease:${this.heartbeat.replicaId}:${randomUUID()}`;
  }

  #claim(key: string, token: string): DeliveryClaim {
    const scripts = this.#scripts;
    const leaseMs = String(this.leaseMs);
    const doneTtlMs = String(this.doneTtlMs);
    return {
      key,
      renew: async () => (await scripts.renew(key, token, leaseMs)) as RenewOutcome,
      complete: async () => (await scripts.complete(key, token, doneTtlMs)) === 1,
      release: async () => (await scripts.release(key, token)) === 1,
    };
  }
}

/** The replica of a lease token `lease:<replica>:<uuid>`; undefined for the done marker or an older token. */
function holderOf(lease: string): string | undefined {
  if (!lease.startsWith('lease:')) return undefined;
  const rest = lease.slice('lease:'.length);
  const end = rest.lastIndexOf(':');
  return end > 0 ? rest.slice(0, end) : undefined;
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
