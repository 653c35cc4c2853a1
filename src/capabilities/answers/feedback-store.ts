/**
 * Helpful / not-helpful votes on answers, kept in Redis for later evaluation. Each answer is recorded when it
 * is posted (question, cited chunks, model, cost, index version); a vote is accepted only for a recorded
 * answer, only from the channel and workspace the answer was posted in (taken from the click payload by the
 * listener, never from the button value), and at most once per user per answer — a second click or a replayed
 * request changes nothing, a different vote replaces the first. The check and the write are one Lua script, so
 * concurrent clicks cannot both count. The same script keeps each workspace's all-time helpful/not-helpful tally
 * (`{T…}:answers:feedback-tally`, what the App Home shows): a changed vote moves one count from one side to the other.
 *
 * A 👎 may carry a reason (`{T…}:answers:reasons:<answer id>`, one field per voter): it is accepted only from a
 * voter whose current vote on that answer, in that workspace, is 👎 (checked in the same script that writes it);
 * resubmitting the same reason changes nothing, a different one replaces it, and changing the vote to 👍 drops it.
 *
 * Every key carries the workspace's hash tag (`{T…}:answers:answer:<id>`, `…:votes:<id>`, `…:voted`, the tally
 * and the reasons), so the vote script's five keys share one Redis Cluster slot; an answer is therefore read with
 * its workspace (`answer(answerId, workspaceId)`), and the workspace's purge deletes its feedback by that prefix.
 *
 * Capabilities do not import ioredis (lint rule); `FeedbackRedis` is the subset of its API used here, which an
 * ioredis client satisfies as is.
 */
import type { AnswerOutcome } from './answer-outcome.ts';
import {
  adoptLegacyFeedback,
  adoptLegacyVoted,
  type FeedbackKeys,
  type LegacyFeedbackRedis,
} from './feedback-legacy-keys.ts';
import type { FeedbackReason, GivenReason } from './feedback-reason.ts';

/** The Redis commands the store uses (an ioredis `Redis` instance fits). */
export interface FeedbackRedis extends LegacyFeedbackRedis {
  set(key: string, value: string, expiryMode: 'EX', seconds: number): Promise<unknown>;
  get(key: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  zrangebyscore(key: string, min: number | string, max: number | string): Promise<string[]>;
  zrangebyscore(
    key: string,
    min: number | string,
    max: number | string,
    withScores: 'WITHSCORES',
    limit: 'LIMIT',
    offset: number,
    count: number,
  ): Promise<string[]>;
  hget(key: string, field: string): Promise<string | null>;
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** What is kept about an answer for evaluation. */
export interface AnswerRecord {
  answerId: string;
  workspaceId: string;
  channelId: string;
  userId?: string;
  kind: AnswerOutcome['kind'];
  question: string;
  standaloneQuestion: string;
  /** The answer as shown (markdown), cut to 4,000 characters. */
  answer: string;
  /** Cited sources in citation order: what a later evaluation checks the answer against. */
  cited: { number: number; documentId: string; title: string; sectionPath?: string[]; chunkIndexes: number[] }[];
  model?: string;
  fromCache: boolean;
  costMicroUsd: number;
  indexVersion?: number;
  /** ISO 8601. */
  createdAt: string;
}

export type VoteResult = 'recorded' | 'changed' | 'unchanged' | 'unknown_answer' | 'wrong_channel';

export interface Vote {
  answerId: string;
  /** Workspace and channel of the click, from the interaction payload. */
  workspaceId: string;
  channelId: string;
  userId: string;
  helpful: boolean;
}

export type ReasonResult = 'recorded' | 'updated' | 'unchanged' | 'unknown_answer' | 'not_your_vote';

/** A voter's reason as stored. */
export interface StoredReason {
  reason: FeedbackReason;
  text?: string;
  /** Epoch ms of the last change. */
  at: number;
}

export interface FeedbackEntry {
  record: AnswerRecord;
  votes: { userId: string; helpful: boolean; at: number }[];
}

const voteScript = `
local record = redis.call('GET', KEYS[1])
if not record then return 'unknown_answer' end
local answer = cjson.decode(record)
if answer.workspaceId ~= ARGV[1] or answer.channelId ~= ARGV[2] then return 'wrong_channel' end
local previous = redis.call('HGET', KEYS[2], ARGV[3])
if previous and string.sub(previous, 1, 2) == ARGV[4] .. ':' then return 'unchanged' end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. ':' .. ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[7])
if previous then redis.call('HINCRBY', KEYS[4], string.sub(previous, 1, 1), -1) end
if ARGV[4] == 'u' then redis.call('HDEL', KEYS[5], ARGV[3]) end
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
if previous then return 'changed' end
return 'recorded'
`;

const reasonScript = `
local record = redis.call('GET', KEYS[1])
if not record then return 'unknown_answer' end
local answer = cjson.decode(record)
if answer.workspaceId ~= ARGV[1] then return 'unknown_answer' end
local vote = redis.call('HGET', KEYS[2], ARGV[2])
if not vote or string.sub(vote, 1, 2) ~= 'd:' then return 'not_your_vote' end
local previous = redis.call('HGET', KEYS[3], ARGV[2])
if previous then
  local given = cjson.decode(previous)
  if given.reason == ARGV[3] and (given.text or '') == ARGV[4] then return 'unchanged' end
end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[6])
if previous then return 'updated' end
return 'recorded'
`;

/** Answer ids are UUIDs we generate; anything else in a button value is rejected before touching Redis. */
/** Tenant ids become part of a key: only Slack's shapes (`T…`, `E…`), so none can close the hash tag. */
const workspaceIdPattern = /^[TE][A-Z0-9]{1,40}$/;
const answerIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class FeedbackStore {
  readonly #redis: FeedbackRedis;
  readonly #keyPrefix: string;
  readonly #ttlSeconds: number;

  /** `keyPrefix` namespaces every key (e.g. the configured `REDIS_KEY_PREFIX`); records live `ttlSeconds`. */
  constructor(redis: FeedbackRedis, options: { keyPrefix: string; ttlSeconds?: number }) {
    this.#redis = redis;
    this.#keyPrefix = options.keyPrefix;
    this.#ttlSeconds = options.ttlSeconds ?? 90 * 86_400;
  }

  #answerKey(workspaceId: string, answerId: string): string {
    return `${this.#keyPrefix}{${workspaceId}}:answers:answer:${answerId}`;
  }
  #votesKey(workspaceId: string, answerId: string): string {
    return `${this.#keyPrefix}{${workspaceId}}:answers:votes:${answerId}`;
  }
  #votedKey(workspaceId: string): string {
    return `${this.#keyPrefix}{${workspaceId}}:answers:voted`;
  }
  #keysOf(workspaceId: string, answerId: string): FeedbackKeys {
    return {
      answer: this.#answerKey(workspaceId, answerId),
      votes: this.#votesKey(workspaceId, answerId),
      voted: this.#votedKey(workspaceId),
    };
  }
  /** Moves an answer's feedback kept under the keys of before the workspace tag (feedback-legacy-keys.ts). */
  #adoptLegacy(answerId: string, workspaceId: string): Promise<boolean> {
    return adoptLegacyFeedback(this.#redis, {
      keyPrefix: this.#keyPrefix,
      answerId,
      workspaceId,
      target: this.#keysOf(workspaceId, answerId),
      ttlSeconds: this.#ttlSeconds,
    });
  }
  #adoptLegacyVoted(workspaceId: string): Promise<number> {
    return adoptLegacyVoted(this.#redis, {
      keyPrefix: this.#keyPrefix,
      workspaceId,
      targetOf: (answerId) => this.#keysOf(workspaceId, answerId),
      ttlSeconds: this.#ttlSeconds,
    });
  }
  #tallyKey(workspaceId: string): string {
    return `${this.#keyPrefix}{${workspaceId}}:answers:feedback-tally`;
  }
  #reasonsKey(workspaceId: string, answerId: string): string {
    return `${this.#keyPrefix}{${workspaceId}}:answers:reasons:${answerId}`;
  }

  /** Records an answer as posted so votes on it can be accepted and evaluated later. */
  async recordAnswer(outcome: AnswerOutcome, where: { workspaceId: string; channelId: string; userId?: string }) {
    const record = answerRecordOf(outcome, where, new Date());
    await this.#redis.set(
      this.#answerKey(where.workspaceId, outcome.answerId),
      JSON.stringify(record),
      'EX',
      this.#ttlSeconds,
    );
    return record;
  }

  /** The recorded answer of this workspace, if it exists and has not expired. */
  async answer(answerId: string, workspaceId: string): Promise<AnswerRecord | undefined> {
    if (!answerIdPattern.test(answerId) || !workspaceIdPattern.test(workspaceId)) return undefined;
    let raw = await this.#redis.get(this.#answerKey(workspaceId, answerId));
    if (!raw && (await this.#adoptLegacy(answerId, workspaceId))) {
      raw = await this.#redis.get(this.#answerKey(workspaceId, answerId));
    }
    return raw ? (JSON.parse(raw) as AnswerRecord) : undefined;
  }

  /** Records one user's vote (see the module comment for what is accepted). */
  async vote(vote: Vote, now: number = Date.now()): Promise<VoteResult> {
    if (!answerIdPattern.test(vote.answerId)) return 'unknown_answer';
    if (!workspaceIdPattern.test(vote.workspaceId)) return 'wrong_channel';
    const result = await this.#vote(vote, now);
    if (result === 'unknown_answer' && (await this.#adoptLegacy(vote.answerId, vote.workspaceId))) {
      return this.#vote(vote, now);
    }
    return result;
  }

  async #vote(vote: Vote, now: number): Promise<VoteResult> {
    const result = await this.#redis.eval(
      voteScript,
      5,
      this.#answerKey(vote.workspaceId, vote.answerId),
      this.#votesKey(vote.workspaceId, vote.answerId),
      this.#votedKey(vote.workspaceId),
      this.#tallyKey(vote.workspaceId),
      this.#reasonsKey(vote.workspaceId, vote.answerId),
      vote.workspaceId,
      vote.channelId,
      vote.userId,
      vote.helpful ? 'u' : 'd',
      now,
      this.#ttlSeconds,
      vote.answerId,
    );
    return result as VoteResult;
  }

  /**
   * Stores why `userId` found an answer not helpful (see the module comment for who may). `reason` must already be
   * validated (`parseReasonSubmission`); the note is cut to 500 characters again here.
   */
  async setReason(
    input: { answerId: string; workspaceId: string; userId: string } & GivenReason,
    now: number = Date.now(),
  ): Promise<ReasonResult> {
    if (!answerIdPattern.test(input.answerId) || !workspaceIdPattern.test(input.workspaceId)) return 'unknown_answer';
    const text = (input.text ?? '').slice(0, 500);
    const stored: StoredReason = { reason: input.reason, ...(text ? { text } : {}), at: now };
    const send = () =>
      this.#redis.eval(
        reasonScript,
        3,
        this.#answerKey(input.workspaceId, input.answerId),
        this.#votesKey(input.workspaceId, input.answerId),
        this.#reasonsKey(input.workspaceId, input.answerId),
        input.workspaceId,
        input.userId,
        input.reason,
        text,
        JSON.stringify(stored),
        this.#ttlSeconds,
      ) as Promise<ReasonResult>;
    const result = await send();
    if (result === 'unknown_answer' && (await this.#adoptLegacy(input.answerId, input.workspaceId))) return send();
    return result;
  }

  /** The voter's current vote on an answer of this workspace: what the reason picker may be opened for. */
  async voteOf(answerId: string, workspaceId: string, userId: string): Promise<'helpful' | 'not_helpful' | undefined> {
    const record = await this.answer(answerId, workspaceId);
    if (!record || record.workspaceId !== workspaceId) return undefined;
    const vote = await this.#redis.hget(this.#votesKey(workspaceId, answerId), userId);
    if (vote?.startsWith('u:')) return 'helpful';
    if (vote?.startsWith('d:')) return 'not_helpful';
    return undefined;
  }

  /** A voter's stored reason for an answer of this workspace. */
  async reasonOf(answerId: string, workspaceId: string, userId: string): Promise<StoredReason | undefined> {
    if (!answerIdPattern.test(answerId) || !workspaceIdPattern.test(workspaceId)) return undefined;
    const raw = await this.#redis.hget(this.#reasonsKey(workspaceId, answerId), userId);
    return raw ? (JSON.parse(raw) as StoredReason) : undefined;
  }

  /** Every voter's reason on an answer of this workspace (voter → reason). */
  async reasonsOf(answerId: string, workspaceId: string): Promise<Record<string, StoredReason>> {
    if (!answerIdPattern.test(answerId) || !workspaceIdPattern.test(workspaceId)) return {};
    const raw = await this.#redis.hgetall(this.#reasonsKey(workspaceId, answerId));
    return Object.fromEntries(
      Object.entries(raw).map(([userId, value]) => [userId, JSON.parse(value) as StoredReason]),
    );
  }

  /**
   * Ids of answers whose latest vote falls in [`sinceMs`, `untilMs`], oldest first, `pageSize` at a time: memory
   * stays bounded however much feedback there is. The walk is a cursor on the vote time (ties resumed by how many
   * of that time were already seen), so each answer comes once; an answer re-voted during the walk moves past
   * `untilMs` and is left out (run the export again to include it).
   */
  async *votedAnswerIds(
    workspaceId: string,
    sinceMs = 0,
    untilMs = Date.now(),
    pageSize = 200,
  ): AsyncGenerator<string[]> {
    if (!workspaceIdPattern.test(workspaceId)) return;
    await this.#adoptLegacyVoted(workspaceId);
    let min = sinceMs;
    let seenAtMin = 0;
    for (;;) {
      const flat = await this.#redis.zrangebyscore(
        this.#votedKey(workspaceId),
        min,
        untilMs,
        'WITHSCORES',
        'LIMIT',
        seenAtMin,
        pageSize,
      );
      const ids: string[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const id = flat[i] as string;
        const score = Number(flat[i + 1]);
        ids.push(id);
        if (score === min) seenAtMin += 1;
        else {
          min = score;
          seenAtMin = 1;
        }
      }
      if (ids.length > 0) yield ids;
      if (ids.length < pageSize) return;
    }
  }

  /** Every vote on one answer: voter, helpful or not, epoch ms of the vote. */
  async votesOf(answerId: string, workspaceId: string): Promise<FeedbackEntry['votes']> {
    if (!answerIdPattern.test(answerId) || !workspaceIdPattern.test(workspaceId)) return [];
    const votes = await this.#redis.hgetall(this.#votesKey(workspaceId, answerId));
    return Object.entries(votes).map(([userId, value]) => ({
      userId,
      helpful: value.startsWith('u:'),
      at: Number(value.slice(2)),
    }));
  }

  /** Helpful and not-helpful counts of one answer. */
  async counts(answerId: string, workspaceId: string): Promise<{ helpful: number; notHelpful: number }> {
    const votes = await this.#redis.hgetall(this.#votesKey(workspaceId, answerId));
    let helpful = 0;
    let notHelpful = 0;
    for (const value of Object.values(votes)) {
      if (value.startsWith('u:')) helpful += 1;
      else if (value.startsWith('d:')) notHelpful += 1;
    }
    return { helpful, notHelpful };
  }

  /** A workspace's helpful and not-helpful votes on answers, all time (a changed vote counts once, as it is now). */
  async tally(workspaceId: string): Promise<{ helpful: number; notHelpful: number }> {
    if (!workspaceIdPattern.test(workspaceId)) return { helpful: 0, notHelpful: 0 };
    const [helpful, notHelpful] = await this.#redis.hmget(this.#tallyKey(workspaceId), 'u', 'd');
    return { helpful: Number(helpful ?? 0), notHelpful: Number(notHelpful ?? 0) };
  }

  /** A workspace's answers voted on since `sinceMs`, with their votes: the input of an offline evaluation. */
  async export(workspaceId: string, sinceMs = 0): Promise<FeedbackEntry[]> {
    if (!workspaceIdPattern.test(workspaceId)) return [];
    await this.#adoptLegacyVoted(workspaceId);
    const ids = await this.#redis.zrangebyscore(this.#votedKey(workspaceId), sinceMs, '+inf');
    const entries: FeedbackEntry[] = [];
    for (const answerId of ids) {
      const record = await this.answer(answerId, workspaceId);
      if (!record) continue;
      const votes = await this.#redis.hgetall(this.#votesKey(workspaceId, answerId));
      entries.push({
        record,
        votes: Object.entries(votes).map(([userId, value]) => ({
          userId,
          helpful: value.startsWith('u:'),
          at: Number(value.slice(2)),
        })),
      });
    }
    return entries;
  }
}

/** The record kept for an outcome (pure; exported for tests). */
export function answerRecordOf(
  outcome: AnswerOutcome,
  where: { workspaceId: string; channelId: string; userId?: string },
  at: Date,
): AnswerRecord {
  const extractive =
    outcome.kind === 'over_budget' || outcome.kind === 'upstream_unavailable' || outcome.kind === 'without_model'
      ? outcome.extractive
      : undefined;
  const cited = outcome.kind === 'answered' ? outcome.cited : (extractive?.cited ?? []);
  const answer = outcome.kind === 'answered' ? outcome.markdown : (extractive?.markdown ?? '');
  return {
    answerId: outcome.answerId,
    workspaceId: where.workspaceId,
    channelId: where.channelId,
    ...(where.userId ? { userId: where.userId } : {}),
    kind: outcome.kind,
    question: outcome.question,
    standaloneQuestion: outcome.standaloneQuestion,
    answer: answer.slice(0, 4000),
    cited: cited.map((entry) => ({
      number: entry.number,
      documentId: entry.source.documentId,
      title: entry.source.title,
      sectionPath: entry.source.sectionPath,
      chunkIndexes: entry.source.chunkIndexes,
    })),
    ...(outcome.kind === 'answered' ? { model: outcome.model, indexVersion: outcome.indexVersion } : {}),
    ...(outcome.kind === 'without_model' ? { indexVersion: outcome.indexVersion } : {}),
    fromCache: outcome.kind === 'answered' && outcome.fromCache,
    costMicroUsd: outcome.usage.costMicroUsd,
    createdAt: at.toISOString(),
  };
}

/** What the voter sees (ephemeral) after clicking. */
export function voteAcknowledgement(result: VoteResult, helpful: boolean): string {
  switch (result) {
    case 'recorded':
    case 'changed':
      return helpful
        ? 'Thanks, noted as helpful.'
        : 'Thanks, noted as not helpful. This helps us improve the documents.';
    case 'unchanged':
      return 'Your vote on this answer was already recorded.';
    case 'unknown_answer':
      return 'This feedback button belongs to no answer of this workspace that can still be rated: the answer was given in another workspace, or more than 90 days ago (feedback is kept that long).';
    case 'wrong_channel':
      return 'This feedback button does not belong to an answer in this channel.';
  }
}
