/**
 * Answer feedback kept before its keys carried the workspace's hash tag (`answers:answer:<id>`, `answers:votes:<id>`
 * and the shared `answers:voted` index; now `{T…}:answers:…`, feedback-store.ts) is moved under the new keys the
 * first time it is needed: when a vote, a reason or a lookup does not find the answer, and before an export lists a
 * workspace's voted answers. Only the record's own workspace adopts it. Each step is a single-key command (the old
 * keys are in other slots), in an order that never loses a vote: new keys written first, old ones deleted after.
 * Deployments that start on Sentinel or Cluster have no such keys; the scan of the old index then finds nothing.
 */

/** The Redis commands the adoption uses (an ioredis client fits). */
export interface LegacyFeedbackRedis {
  get(key: string): Promise<string | null>;
  pttl(key: string): Promise<number>;
  hgetall(key: string): Promise<Record<string, string>>;
  set(key: string, value: string, expiryMode: 'EX', seconds: number): Promise<unknown>;
  hset(key: string, values: Record<string, string>): Promise<unknown>;
  expire(key: string, seconds: number): Promise<unknown>;
  zscore(key: string, member: string): Promise<string | null>;
  zadd(key: string, score: number, member: string): Promise<unknown>;
  zrangebyscore(key: string, min: number | string, max: number | string): Promise<string[]>;
  zrem(key: string, member: string): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

export interface FeedbackKeys {
  answer: string;
  votes: string;
  voted: string;
}

export function legacyFeedbackKeys(keyPrefix: string, answerId: string): FeedbackKeys {
  return {
    answer: `${keyPrefix}answers:answer:${answerId}`,
    votes: `${keyPrefix}answers:votes:${answerId}`,
    voted: `${keyPrefix}answers:voted`,
  };
}

/** Moves one answer's old-layout record, votes and index entry to `target`; true when there was one to move. */
export async function adoptLegacyFeedback(
  redis: LegacyFeedbackRedis,
  options: { keyPrefix: string; answerId: string; workspaceId: string; target: FeedbackKeys; ttlSeconds: number },
): Promise<boolean> {
  const legacy = legacyFeedbackKeys(options.keyPrefix, options.answerId);
  const raw = await redis.get(legacy.answer);
  if (!raw || workspaceOf(raw) !== options.workspaceId) return false;
  const remainingMs = await redis.pttl(legacy.answer);
  const ttlSeconds = remainingMs > 0 ? Math.ceil(remainingMs / 1000) : options.ttlSeconds;
  const [votes, votedAt] = await Promise.all([
    redis.hgetall(legacy.votes),
    redis.zscore(legacy.voted, options.answerId),
  ]);
  await redis.set(options.target.answer, raw, 'EX', ttlSeconds);
  if (Object.keys(votes).length > 0) {
    await redis.hset(options.target.votes, votes);
    await redis.expire(options.target.votes, options.ttlSeconds);
  }
  if (votedAt !== null) await redis.zadd(options.target.voted, Number(votedAt), options.answerId);
  await redis.del(legacy.answer);
  await redis.del(legacy.votes);
  await redis.zrem(legacy.voted, options.answerId);
  return true;
}

/** Adopts every old-layout answer of `workspaceId` listed in the old shared index (before an export). */
export async function adoptLegacyVoted(
  redis: LegacyFeedbackRedis,
  options: { keyPrefix: string; workspaceId: string; targetOf: (answerId: string) => FeedbackKeys; ttlSeconds: number },
): Promise<number> {
  const ids = await redis.zrangebyscore(`${options.keyPrefix}answers:voted`, '-inf', '+inf');
  let adopted = 0;
  for (const answerId of ids) {
    const target = options.targetOf(answerId);
    if (await adoptLegacyFeedback(redis, { ...options, answerId, target })) adopted += 1;
  }
  return adopted;
}

function workspaceOf(raw: string): string | undefined {
  try {
    const parsed = JSON.parse(raw) as { workspaceId?: unknown };
    return typeof parsed.workspaceId === 'string' ? parsed.workspaceId : undefined;
  } catch {
    return undefined;
  }
}
