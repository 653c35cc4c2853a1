/**
 * `ActivityStore`: the per-day activity of each workspace that the admins' weekly report sums — answers by how they
 * ended, answers served from the cache, questions that found no sources, documents cited, tickets drafted and filed
 * by category, 👍/👎 votes and the reasons given for a 👎. It implements the `ActivityRecorder` port.
 *
 * Guarantees:
 * - Every key is one workspace's and one day's, hash-tagged by the workspace (`{T…}:report:…:d:yyyy-LL-dd`, the day
 *   in the budget time zone), so "the last 7 days" is a sum of seven day keys, and each key expires `ttlSeconds`
 *   (default 35 days) after its last write. The uninstall purge deletes them with the workspace (`{T…}:` prefix).
 * - Bounded: each day's lists are capped sorted sets (questions 100, documents 200, categories 50, reasons 20; when
 *   full, the least counted member makes room), members are cut (questions to 200 characters, titles to 150,
 *   categories and reasons to 40), and a week is read with two scripts over at most 31 days.
 * - A write is one Lua script, so an event's counters and lists move together. A malformed workspace id records
 *   nothing. Texts are untrusted and stored as given: the report escapes them where it shows them.
 * - A changed vote moves one count from one side to the other on the day it changed; a week's totals are clamped at
 *   zero (the first vote may be older than the week).
 */
import { DateTime } from 'luxon';
import type { ActivityEvent, ActivityRecorder } from '../../ports/activity.ts';

/** The Redis command the store uses (an ioredis `Redis` instance fits). */
export interface ActivityRedis {
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** The counters kept per day (fields of the day's hash). */
export const activityCounters = [
  'answers',
  'answered',
  'answered_cached',
  'passages',
  'no_sources',
  'not_answered',
  'tickets_drafted',
  'tickets_filed',
  'helpful',
  'not_helpful',
] as const;
export type ActivityCounter = (typeof activityCounters)[number];

/** The lists kept per day, in the order of their keys. */
const lists = ['unanswered', 'cited', 'drafted', 'filed', 'reasons'] as const;
type ListName = (typeof lists)[number];
const listCaps: Record<ListName, number> = { unanswered: 100, cited: 200, drafted: 50, filed: 50, reasons: 20 };

export interface Counted {
  member: string;
  count: number;
}

/** What a range of days holds, summed. */
export interface ActivityTotals {
  counters: Record<ActivityCounter, number>;
  unanswered: Counted[];
  cited: (Counted & { title: string })[];
  drafted: Counted[];
  filed: Counted[];
  reasons: Counted[];
  /** How many different members each list held over the days (before `limit`). */
  distinct: Record<ListName, number>;
}

// KEYS: 1 the day's counters, 2 the day's document titles, 3.. the day's lists.
// ARGV: 1 ttl s, 2 number of counters n, then n pairs (field, increment), then entries of 4: list's key index,
// member, cap, title ('' for none).
const recordScript = `
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('HINCRBY', KEYS[1], ARGV[i], tonumber(ARGV[i + 1]))
  i = i + 2
end
if n > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
while i + 3 <= #ARGV do
  local key = KEYS[tonumber(ARGV[i])]
  local member, cap, title = ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  if not redis.call('ZSCORE', key, member) and redis.call('ZCARD', key) >= cap then
    local dropped = redis.call('ZRANGE', key, 0, 0)[1]
    redis.call('ZREMRANGEBYRANK', key, 0, 0)
    if dropped and title ~= '' then redis.call('HDEL', KEYS[2], dropped) end
  end
  redis.call('ZINCRBY', key, 1, member)
  redis.call('EXPIRE', key, ttl)
  if title ~= '' then
    redis.call('HSET', KEYS[2], member, title)
    redis.call('EXPIRE', KEYS[2], ttl)
  end
  i = i + 4
end
return 1`;

// KEYS: per day (newest first) its counters then its lists (1 + #lists keys a day). ARGV: 1 number of days.
// Returns { counters flat (field, total…), then per list the union of its days WITHSCORES }.
const readScript = `
local days = tonumber(ARGV[1])
local per = ${1 + lists.length}
local totals, fields = {}, {}
for d = 0, days - 1 do
  local flat = redis.call('HGETALL', KEYS[d * per + 1])
  for j = 1, #flat, 2 do
    local field = flat[j]
    if not totals[field] then
      totals[field] = 0
      table.insert(fields, field)
    end
    totals[field] = totals[field] + tonumber(flat[j + 1])
  end
end
local counters = {}
for _, field in ipairs(fields) do
  table.insert(counters, field)
  table.insert(counters, tostring(totals[field]))
end
local out = { counters }
for l = 2, per do
  local args = { days }
  for d = 0, days - 1 do table.insert(args, KEYS[d * per + l]) end
  table.insert(args, 'WITHSCORES')
  table.insert(out, redis.call('ZUNION', unpack(args)))
end
return out`;

// KEYS: the days' title hashes, newest first. ARGV: document ids. Returns each id's newest title ('' when none).
const titlesScript = `
local out = {}
for i = 1, #ARGV do
  local title = ''
  for k = 1, #KEYS do
    local found = redis.call('HGET', KEYS[k], ARGV[i])
    if found then
      title = found
      break
    end
  end
  out[i] = title
end
return out`;

const workspaceIdPattern = /^[TE][A-Z0-9]{1,40}$/;
const maxDays = 31;

export class ActivityStore implements ActivityRecorder {
  readonly #redis: ActivityRedis;
  readonly #keyPrefix: string;
  readonly #timeZone: string;
  readonly #ttlSeconds: number;
  readonly #now: () => number;

  constructor(
    redis: ActivityRedis,
    options: { keyPrefix: string; timeZone: string; ttlSeconds?: number; now?: () => number },
  ) {
    this.#redis = redis;
    this.#keyPrefix = options.keyPrefix;
    this.#timeZone = options.timeZone;
    this.#ttlSeconds = options.ttlSeconds ?? 35 * 86_400;
    this.#now = options.now ?? Date.now;
  }

  /** The calendar day (`yyyy-LL-dd`, budget time zone) an instant belongs to. */
  dayOf(at: number): string {
    return DateTime.fromMillis(at, { zone: this.#timeZone }).toFormat('yyyy-LL-dd');
  }

  /** The `count` days ending with the day of `at`, newest first. */
  lastDays(count: number, at: number = this.#now()): string[] {
    const end = DateTime.fromMillis(at, { zone: this.#timeZone }).startOf('day');
    const days = Math.max(1, Math.min(maxDays, Math.floor(count)));
    return Array.from({ length: days }, (_, index) => end.minus({ days: index }).toFormat('yyyy-LL-dd'));
  }

  #base(workspaceId: string): string {
    return `${this.#keyPrefix}{${workspaceId}}:report:`;
  }
  #countersKey(workspaceId: string, day: string): string {
    return `${this.#base(workspaceId)}counts:d:${day}`;
  }
  #titlesKey(workspaceId: string, day: string): string {
    return `${this.#base(workspaceId)}cited-titles:d:${day}`;
  }
  #listKey(workspaceId: string, day: string, list: ListName): string {
    return `${this.#base(workspaceId)}${list}:d:${day}`;
  }

  async record(event: ActivityEvent, at: number = this.#now()): Promise<void> {
    if (!workspaceIdPattern.test(event.workspaceId)) return;
    const { counters, entries } = changesOf(event);
    if (counters.length === 0 && entries.length === 0) return;
    const day = this.dayOf(at);
    const keys = [
      this.#countersKey(event.workspaceId, day),
      this.#titlesKey(event.workspaceId, day),
      ...lists.map((list) => this.#listKey(event.workspaceId, day, list)),
    ];
    const args: (string | number)[] = [this.#ttlSeconds, counters.length];
    for (const [field, increment] of counters) args.push(field, increment);
    for (const entry of entries) {
      args.push(3 + lists.indexOf(entry.list), entry.member, listCaps[entry.list], entry.title ?? '');
    }
    await this.#redis.eval(recordScript, keys.length, ...keys, ...args);
  }

  /** The totals over `days` (newest first, at most 31); each list most counted first, at most `limit` (≤ 50). */
  async totals(workspaceId: string, days: readonly string[], limit: number): Promise<ActivityTotals> {
    const chosen = days.slice(0, maxDays);
    if (!workspaceIdPattern.test(workspaceId) || chosen.length === 0) return emptyTotals();
    const keys = chosen.flatMap((day) => [
      this.#countersKey(workspaceId, day),
      ...lists.map((list) => this.#listKey(workspaceId, day, list)),
    ]);
    const [flatCounters, ...unions] = (await this.#redis.eval(readScript, keys.length, ...keys, chosen.length)) as [
      string[],
      ...string[][],
    ];
    const top = Math.max(1, Math.min(50, Math.floor(limit)));
    const totals = emptyTotals();
    for (let index = 0; index + 1 < flatCounters.length; index += 2) {
      const field = flatCounters[index] as ActivityCounter;
      if ((activityCounters as readonly string[]).includes(field)) {
        totals.counters[field] = Math.max(0, Number(flatCounters[index + 1]) || 0);
      }
    }
    lists.forEach((list, index) => {
      const all = countedOf(unions[index] ?? []);
      totals.distinct[list] = all.length;
      if (list !== 'cited') totals[list] = all.slice(0, top);
    });
    const cited = countedOf(unions[lists.indexOf('cited')] ?? []).slice(0, top);
    if (cited.length > 0) {
      const titleKeys = chosen.map((day) => this.#titlesKey(workspaceId, day));
      const titles = (await this.#redis.eval(
        titlesScript,
        titleKeys.length,
        ...titleKeys,
        ...cited.map((entry) => entry.member),
      )) as string[];
      totals.cited = cited.map((entry, index) => ({ ...entry, title: titles[index] || entry.member }));
    }
    return totals;
  }
}

/** A flat `member, score, …` reply as counted members, most first (ties by member). */
function countedOf(flat: readonly string[]): Counted[] {
  const counted: Counted[] = [];
  for (let index = 0; index + 1 < flat.length; index += 2) {
    const count = Number(flat[index + 1]) || 0;
    if (count > 0) counted.push({ member: flat[index] as string, count });
  }
  return counted.sort((left, right) => right.count - left.count || left.member.localeCompare(right.member));
}

function emptyTotals(): ActivityTotals {
  return {
    counters: Object.fromEntries(activityCounters.map((name) => [name, 0])) as Record<ActivityCounter, number>,
    unanswered: [],
    cited: [],
    drafted: [],
    filed: [],
    reasons: [],
    distinct: { unanswered: 0, cited: 0, drafted: 0, filed: 0, reasons: 0 },
  };
}

interface ListEntry {
  list: ListName;
  member: string;
  title?: string;
}

/** What one event changes: counter increments and list entries (pure; exported for tests). */
export function changesOf(event: ActivityEvent): {
  counters: [ActivityCounter, number][];
  entries: ListEntry[];
} {
  switch (event.kind) {
    case 'answer': {
      const counters: [ActivityCounter, number][] = [
        ['answers', 1],
        [event.outcome, 1],
      ];
      if (event.outcome === 'answered' && event.fromCache) counters.push(['answered_cached', 1]);
      const entries: ListEntry[] = [];
      const question = normaliseText(event.question, 200);
      if (event.outcome === 'no_sources' && question) entries.push({ list: 'unanswered', member: question });
      const seen = new Set<string>();
      for (const document of event.cited.slice(0, 20)) {
        const member = document.documentId.slice(0, 200);
        if (!member || seen.has(member)) continue;
        seen.add(member);
        entries.push({ list: 'cited', member, title: normaliseText(document.title, 150) || member });
      }
      return { counters, entries };
    }
    case 'ticket_drafted':
    case 'ticket_filed': {
      const drafted = event.kind === 'ticket_drafted';
      const category = normaliseText(event.category, 40) || 'uncategorised';
      return {
        counters: [[drafted ? 'tickets_drafted' : 'tickets_filed', 1]],
        entries: [{ list: drafted ? 'drafted' : 'filed', member: category }],
      };
    }
    case 'vote': {
      const counters: [ActivityCounter, number][] = [[event.helpful ? 'helpful' : 'not_helpful', 1]];
      if (event.replaced) counters.push([event.helpful ? 'not_helpful' : 'helpful', -1]);
      return { counters, entries: [] };
    }
    case 'not_helpful_reason': {
      const reason = normaliseText(event.reason, 40);
      return { counters: [], entries: reason ? [{ list: 'reasons', member: reason }] : [] };
    }
  }
}

/** Whitespace collapsed, trimmed and cut to `max` characters; only the first `4 × max` are looked at (bounded). */
export function normaliseText(text: string, max: number): string {
  return text
    .slice(0, max * 4)
    .split(/\s+/)
    .filter(Boolean)
    .join(' ')
    .slice(0, max);
}
