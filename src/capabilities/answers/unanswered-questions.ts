/**
 * The questions that found no sources, per workspace: what the App Home's "top questions that found no sources"
 * shows an admin, so they know which documents are missing.
 *
 * Guarantees: one sorted set per workspace (`{T…}:answers:unanswered`, hash-tagged; deleted with the workspace),
 * each question counted by how often it found nothing, at most `cap` (default 200) questions kept — when full, the
 * least asked is dropped to make room for a new one — and the set expires `ttlSeconds` (default 30 days) after the
 * last question. A question is kept as asked with its whitespace collapsed, cut to 200 characters (bounded work and
 * memory); it is untrusted text and is escaped wherever it is shown.
 */

/** The Redis commands the record uses (an ioredis `Redis` instance fits). */
export interface UnansweredRedis {
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

// KEYS: the workspace's set. ARGV: question, cap, ttl s.
const recordScript = `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
end
redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

// KEYS: the workspace's set. ARGV: how many. Returns { total, question, count, question, count… } most asked first.
const topScript = `
local out = { redis.call('ZCARD', KEYS[1]) }
for _, value in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')) do
  table.insert(out, value)
end
return out`;

const questionChars = 200;
const workspaceIdPattern = /^[TE][A-Z0-9]{1,40}$/;

export class UnansweredQuestions {
  readonly #redis: UnansweredRedis;
  readonly #keyPrefix: string;
  readonly #cap: number;
  readonly #ttlSeconds: number;

  constructor(redis: UnansweredRedis, options: { keyPrefix: string; cap?: number; ttlSeconds?: number }) {
    this.#redis = redis;
    this.#keyPrefix = options.keyPrefix;
    this.#cap = options.cap ?? 200;
    this.#ttlSeconds = options.ttlSeconds ?? 30 * 86_400;
  }

  #key(workspaceId: string): string {
    return `${this.#keyPrefix}{${workspaceId}}:answers:unanswered`;
  }

  /** Counts one question that found no sources (an empty question or a malformed workspace id is not kept). */
  async record(workspaceId: string, question: string): Promise<void> {
    const kept = normaliseQuestion(question);
    if (!kept || !workspaceIdPattern.test(workspaceId)) return;
    await this.#redis.eval(recordScript, 1, this.#key(workspaceId), kept, this.#cap, this.#ttlSeconds);
  }

  /** The most asked, most first: at most `limit` (≤ 50), and how many different questions are kept. */
  async top(
    workspaceId: string,
    limit: number,
  ): Promise<{ questions: { question: string; count: number }[]; total: number }> {
    if (!workspaceIdPattern.test(workspaceId)) return { questions: [], total: 0 };
    const count = Math.max(1, Math.min(50, Math.floor(limit)));
    const [total, ...flat] = (await this.#redis.eval(topScript, 1, this.#key(workspaceId), count)) as [
      number,
      ...string[],
    ];
    const questions: { question: string; count: number }[] = [];
    for (let index = 0; index + 1 < flat.length; index += 2) {
      questions.push({ question: flat[index] as string, count: Number(flat[index + 1]) });
    }
    return { questions, total: Number(total) };
  }
}

/** Whitespace collapsed, trimmed, cut to 200 characters (only the first 800 are looked at: bounded on any input). */
export function normaliseQuestion(question: string): string {
  return question
    .slice(0, questionChars * 4)
    .split(/\s+/)
    .filter(Boolean)
    .join(' ')
    .slice(0, questionChars);
}
