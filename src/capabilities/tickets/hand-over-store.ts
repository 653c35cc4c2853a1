/**
 * Hand-over records and who handed each one over, in Redis (`{T…}:handover:<id>`, one hash per hand-over,
 * hash-tagged by workspace and under the uninstall purge's prefixes).
 *
 * Guarantees:
 * - `record` cuts every field to `handOverLimits` and keeps any claim already made (a re-recorded answer never
 *   reopens a hand-over); the hash expires `ttlSeconds` after it was recorded.
 * - `claim` is one compare-and-set script: of any number of concurrent clicks exactly one wins; every other
 *   click learns who won and, once it is known, where the ticket went. A missing record is `missing`.
 * - `release` gives a failed winner's claim back (only the winner's), so the next click can retry; sinks that
 *   already received the ticket are remembered (`markDelivered`) and not sent it again.
 *
 * Capabilities do not import ioredis (lint rule); `HandOverRedis` is the subset of its API used here.
 */
import { type HandOverRecord, type HandOverRecorder, handOverLimits } from '../../ports/hand-over.ts';
import { truncate } from '../../slack-kit/mrkdwn.ts';

export interface HandOverRedis {
  hgetall(key: string): Promise<Record<string, string>>;
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** Where a hand-over went, as later clickers are told. */
export interface HandOverDestination {
  /** The ticket id (`DH-…`). */
  ticketId: string;
  /** e.g. "the triage channel <#C…> and the webhook", or "this thread, as a ticket card to file". */
  where: string;
}

export type HandOverClaim =
  | { kind: 'won' }
  | { kind: 'missing' }
  | { kind: 'taken'; by: string; at: string; destination?: HandOverDestination };

/** Hand-overs are kept this long after the message was posted (the button then says it expired). */
export const defaultHandOverTtlSeconds = 14 * 24 * 3600;

// KEYS: hash. ARGV: record json, ttl seconds.
const recordScript = `
redis.call('HSET', KEYS[1], 'record', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

// KEYS: hash. ARGV: user, at. Returns {'won'} | {'missing'} | {'taken', by, at, destination json or ''}.
const claimScript = `
if redis.call('HEXISTS', KEYS[1], 'record') == 0 then return {'missing'} end
local by = redis.call('HGET', KEYS[1], 'claimedBy')
if by then
  return {'taken', by, redis.call('HGET', KEYS[1], 'claimedAt') or '', redis.call('HGET', KEYS[1], 'destination') or ''}
end
redis.call('HSET', KEYS[1], 'claimedBy', ARGV[1], 'claimedAt', ARGV[2])
return {'won'}
`;

// KEYS: hash. ARGV: user, field, value. Writes the field only while the user holds the claim.
const setIfClaimedByScript = `
if redis.call('HGET', KEYS[1], 'claimedBy') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
`;

// KEYS: hash. ARGV: user. Gives the claim back unless the hand-over already has its destination.
const releaseScript = `
if redis.call('HGET', KEYS[1], 'claimedBy') ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[1], 'destination') == 1 then return 0 end
redis.call('HDEL', KEYS[1], 'claimedBy', 'claimedAt')
return 1
`;

const idPattern = /^[A-Za-z0-9._:-]{1,100}$/;

/** True for a value that can be a hand-over id (bounded, no key separators beyond `:`); anything else is refused. */
export function isHandOverId(value: string | undefined): value is string {
  return value !== undefined && idPattern.test(value);
}

/** The record cut to `handOverLimits` (what is stored, and so what a ticket can ever show). */
export function boundedRecord(record: HandOverRecord): HandOverRecord {
  return {
    ...record,
    question: truncate(record.question.trim(), handOverLimits.question),
    answer: truncate(record.answer.trim(), handOverLimits.answer),
    outcome: truncate(record.outcome, handOverLimits.outcome),
    sources: record.sources.slice(0, handOverLimits.sources).map((source) => ({
      title: truncate(source.title.trim() || 'Untitled document', handOverLimits.sourceTitle),
      ...(source.location ? { location: truncate(source.location, handOverLimits.sourceLocation) } : {}),
      ...(source.link && source.link.length <= handOverLimits.sourceLink ? { link: source.link } : {}),
    })),
  };
}

export class HandOverStore implements HandOverRecorder {
  readonly #redis: HandOverRedis;
  readonly #keyPrefix: string;
  readonly #ttlSeconds: number;

  constructor(redis: HandOverRedis, options: { keyPrefix: string; ttlSeconds?: number }) {
    this.#redis = redis;
    this.#keyPrefix = options.keyPrefix;
    this.#ttlSeconds = options.ttlSeconds ?? defaultHandOverTtlSeconds;
  }

  /** The hash of one hand-over (exported for tests and the purge's prefix check). */
  key(workspaceId: string, id: string): string {
    return `${this.#keyPrefix}{${workspaceId}}:handover:${id}`;
  }

  async record(record: HandOverRecord): Promise<void> {
    if (!isHandOverId(record.id)) throw new Error(`not a hand-over id: ${String(record.id).slice(0, 40)}`);
    const stored = JSON.stringify(boundedRecord(record));
    await this.#redis.eval(recordScript, 1, this.key(record.workspaceId, record.id), stored, this.#ttlSeconds);
  }

  /** The record in `workspaceId`, or undefined when there is none (expired, forged id, other workspace). */
  async get(workspaceId: string, id: string): Promise<HandOverRecord | undefined> {
    if (!isHandOverId(id)) return undefined;
    const json = (await this.#redis.hgetall(this.key(workspaceId, id))).record;
    if (!json) return undefined;
    try {
      return JSON.parse(json) as HandOverRecord;
    } catch {
      return undefined;
    }
  }

  /** Compare-and-set: the first caller wins; see the header. */
  async claim(workspaceId: string, id: string, userId: string, at: Date): Promise<HandOverClaim> {
    if (!isHandOverId(id)) return { kind: 'missing' };
    const result = (await this.#redis.eval(claimScript, 1, this.key(workspaceId, id), userId, at.toISOString())) as [
      string,
      string?,
      string?,
      string?,
    ];
    if (result[0] === 'won') return { kind: 'won' };
    if (result[0] !== 'taken') return { kind: 'missing' };
    const destination = parseDestination(result[3]);
    return { kind: 'taken', by: result[1] ?? '', at: result[2] ?? '', ...(destination ? { destination } : {}) };
  }

  /** Records where the winner's hand-over went; after this the claim is final. */
  async complete(workspaceId: string, id: string, userId: string, destination: HandOverDestination): Promise<boolean> {
    const key = this.key(workspaceId, id);
    const result = await this.#redis.eval(
      setIfClaimedByScript,
      1,
      key,
      userId,
      'destination',
      JSON.stringify(destination),
    );
    return result === 1;
  }

  /** Gives the claim back after a failed hand-over (only `userId`'s, only while it has no destination). */
  async release(workspaceId: string, id: string, userId: string): Promise<void> {
    await this.#redis.eval(releaseScript, 1, this.key(workspaceId, id), userId);
  }

  /** Sinks that already have this hand-over's ticket, with their link when they gave one. */
  async deliveries(workspaceId: string, id: string): Promise<Record<string, { link?: string; reference?: string }>> {
    const hash = await this.#redis.hgetall(this.key(workspaceId, id));
    const deliveries: Record<string, { link?: string; reference?: string }> = {};
    for (const [field, value] of Object.entries(hash)) {
      if (!field.startsWith('delivered:')) continue;
      try {
        deliveries[field.slice('delivered:'.length)] = JSON.parse(value) as { link?: string; reference?: string };
      } catch {
        deliveries[field.slice('delivered:'.length)] = {};
      }
    }
    return deliveries;
  }

  /** Remembers that `sink` has the ticket (while `userId` holds the claim). */
  async markDelivered(
    workspaceId: string,
    id: string,
    userId: string,
    sink: string,
    result: { link?: string; reference?: string },
  ): Promise<void> {
    const key = this.key(workspaceId, id);
    await this.#redis.eval(setIfClaimedByScript, 1, key, userId, `delivered:${sink}`, JSON.stringify(result));
  }
}

function parseDestination(json: string | undefined): HandOverDestination | undefined {
  if (!json) return undefined;
  try {
    const parsed = JSON.parse(json) as Partial<HandOverDestination>;
    return typeof parsed.ticketId === 'string' && typeof parsed.where === 'string'
      ? { ticketId: parsed.ticketId, where: parsed.where }
      : undefined;
  } catch {
    return undefined;
  }
}
