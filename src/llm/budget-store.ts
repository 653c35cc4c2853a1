/**
 * Per-channel daily and monthly caps and a workspace-wide daily cap, enforced in Redis with Lua so that a check
 * and its increment are one atomic step (litellm#34732: check-then-increment overspends under concurrency).
 *
 * - `reserve` adds a call's worst case to every window in ONE script, refusing when any window would pass its cap.
 *   Reserved and settled amounts both count, so concurrent calls (also the first ones on a brand-new channel) can
 *   never overspend a cap together.
 * - `settle` replaces the reservation by the actual cost, once per request id (a second settle is a no-op).
 * - `release` drops a reservation without charging (error, timeout, cancellation).
 * - A call reserving $0 (an unpriced model) is still refused once a window is used up, so a cap of $0 stops all calls.
 * - `settle` also counts the call's tokens per model and window, in the same script (`token-usage.ts`).
 * - A reservation carries an expiry (a ZSET scored by expiry, on the Redis clock): each reserve first purges
 *   expired ones, so a crashed owner cannot leave a phantom "budget exceeded" behind.
 * - Every key of a workspace carries the hash tag `{workspaceId}`, so each script touches one hash slot and runs
 *   on Redis Cluster.
 * - Any Redis failure or timeout becomes `budget_unenforceable`: the gateway refuses the call (fail closed).
 *
 * Windows are calendar days and months in the configured time zone (luxon).
 */
import type { Redis } from 'ioredis';
import { DateTime } from 'luxon';
import { DeskhandError, isDeskhandError } from '../errors.ts';
import { formatMicroUsd } from './prices.ts';
import {
  parseTokenUsage,
  type SettledTokens,
  type TokenUsageReport,
  tokenArguments,
  tokenCountersLua,
  tokenKeys,
} from './token-usage.ts';

export type BudgetWindow = 'channel_daily' | 'channel_monthly' | 'workspace_daily';
export const budgetWindows: readonly BudgetWindow[] = ['channel_daily', 'channel_monthly', 'workspace_daily'];

export interface BudgetDefaults {
  channelDailyMicroUsd: number;
  channelMonthlyMicroUsd: number;
  workspaceDailyMicroUsd: number;
}

export interface BudgetStoreOptions {
  redis: Redis;
  /** Prefix of every key (e.g. `dh:`); the workspace hash tag follows it. */
  keyPrefix: string;
  timeZone: string;
  defaults: BudgetDefaults;
  /** How long a reservation lives without being settled or released (its owner may have died). */
  reservationTtlMs: number;
  /** A Redis call slower than this counts as Redis being unavailable (fail closed). Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Who can raise a cap, named in refusals. */
  adminUserIds?: readonly string[];
  /** Share of a cap at which a one-time warning is raised (default 0.8). */
  warningRatio?: number;
  /** Clock for window boundaries (tests); reservation expiry uses the Redis clock. */
  now?: () => number;
}

/** Which windows a call falls in, fixed when it is reserved. */
export interface BudgetWindows {
  day: string;
  month: string;
  dayResetsAt: number;
  monthResetsAt: number;
}

export interface Reservation {
  requestId: string;
  workspaceId: string;
  channelId: string;
  amountMicroUsd: number;
  windows: BudgetWindows;
}

/** A response-cache entry served by `reserveOrServeCached` instead of a reservation. */
export interface CacheHit {
  kind: 'cache_hit';
  /** The stored entry as written by the gateway (JSON text). */
  value: string;
  savedMicroUsd: number;
}

/** A reply to store in the response cache atomically with the settlement. */
export interface CacheStore {
  key: string;
  value: string;
  ttlSeconds: number;
}

export interface BudgetWarning {
  workspaceId: string;
  channelId: string;
  window: BudgetWindow;
  spentMicroUsd: number;
  capMicroUsd: number;
  resetsAt: number;
}

export interface SettleResult {
  /** False when this request id was already settled (nothing was charged this time). */
  charged: boolean;
  /** Windows that passed the warning ratio with this settlement (each reported once per window). */
  warnings: BudgetWarning[];
}

export interface ReserveInput {
  requestId: string;
  workspaceId: string;
  channelId: string;
  amountMicroUsd: number;
  /** At least this long (e.g. until the call's deadline); the configured TTL is the minimum. */
  ttlMs?: number;
}

export interface WindowStatus {
  window: BudgetWindow;
  capMicroUsd: number;
  spentMicroUsd: number;
  reservedMicroUsd: number;
  remainingMicroUsd: number;
  savedMicroUsd: number;
  resetsAt: number;
  /** True when an admin set this channel's cap (false: the configured default). */
  overridden: boolean;
}

export interface BudgetStatus {
  workspaceId: string;
  channelId: string;
  timeZone: string;
  windows: WindowStatus[];
}

const idPattern = /^[A-Za-z0-9_.-]{1,64}$/;

// Shared Lua: parse a reservation record "amount|field1|field2|field3" and take it out of the reserved totals.
const dropReservationLua = `
local function drop_reservation(res_key, info_key, reserved_key, id)
  local info = redis.call('HGET', info_key, id)
  if info then
    local amount, f1, f2, f3 = string.match(info, '^(%d+)|([^|]*)|([^|]*)|([^|]*)$')
    -- A $0 reservation (an unpriced model) added nothing; Lua would also send its negation as '-0', not an integer.
    if amount and tonumber(amount) > 0 then
      for _, field in ipairs({f1, f2, f3}) do
        local left = redis.call('HINCRBY', reserved_key, field, -tonumber(amount))
        if left <= 0 then redis.call('HDEL', reserved_key, field) end
      end
    end
    redis.call('HDEL', info_key, id)
  end
  redis.call('ZREM', res_key, id)
end
`;

/*
 * KEYS: 1 reservations zset, 2 reservation records hash, 3 reserved totals hash, 4-6 spent (channel day, channel
 * month, workspace day), 7 channel cap overrides hash, 8 request state, 9 response-cache entry, 10-12 savings
 * (channel day, channel month, workspace day).
 * ARGV: 1 request id, 2 amount µ$, 3 reservation ttl ms, 4-6 default caps, 7-9 reserved-hash fields, 10 state ttl ms,
 * 11 '1' to look the cache entry up first, 12 day ttl s, 13 month ttl s.
 * A cache hit returns the entry and counts its cost (field costMicroUsd) as savings; nothing is reserved.
 */
const reserveLua = `${dropReservationLua}
if ARGV[11] == '1' then
  local cached = redis.call('GET', KEYS[9])
  if cached then
    local ok, decoded = pcall(cjson.decode, cached)
    local saved = 0
    if ok and type(decoded) == 'table' and tonumber(decoded['costMicroUsd']) then
      saved = math.floor(tonumber(decoded['costMicroUsd']))
    end
    if saved > 0 then
      local ttls = {ARGV[12], ARGV[13], ARGV[12]}
      for i = 1, 3 do
        redis.call('INCRBY', KEYS[9 + i], saved)
        redis.call('EXPIRE', KEYS[9 + i], ttls[i])
      end
    end
    return {'hit', cached, tostring(saved)}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 200)
for _, id in ipairs(expired) do drop_reservation(KEYS[1], KEYS[2], KEYS[3], id) end
local state = redis.call('GET', KEYS[8])
if state then return {'duplicate', state} end
local amount = tonumber(ARGV[2])
local caps = {
  tonumber(redis.call('HGET', KEYS[7], 'daily') or ARGV[4]),
  tonumber(redis.call('HGET', KEYS[7], 'monthly') or ARGV[5]),
  tonumber(ARGV[6])
}
local spent_keys = {KEYS[4], KEYS[5], KEYS[6]}
local fields = {ARGV[7], ARGV[8], ARGV[9]}
for i = 1, 3 do
  local spent = tonumber(redis.call('GET', spent_keys[i]) or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[3], fields[i]) or '0')
  if spent + reserved + amount > caps[i] or (amount == 0 and spent + reserved >= caps[i]) then
    return {'refused', tostring(i), tostring(caps[i]), tostring(spent), tostring(reserved)}
  end
end
if amount > 0 then for i = 1, 3 do redis.call('HINCRBY', KEYS[3], fields[i], amount) end end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. fields[1] .. '|' .. fields[2] .. '|' .. fields[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('SET', KEYS[8], 'reserved', 'PX', ARGV[10])
return {'reserved'}
`;

/*
 * KEYS: 1-3 as reserve, 4-6 spent, 7 cap overrides, 8 request state, 9-11 warning markers, 12 response-cache entry,
 * 13-16 token counters (token-usage.ts).
 * ARGV: 1 request id, 2 actual µ$, 3-5 default caps, 6 day ttl s, 7 month ttl s, 8 state ttl ms, 9 warning ratio ‰,
 * 10 cache value ('' for none), 11 cache ttl s, 12 model ('' counts no tokens), 13 input tokens, 14 output tokens,
 * 15 unpriced reason.
 */
const settleLua = `${dropReservationLua}${tokenCountersLua}
if redis.call('GET', KEYS[8]) == 'settled' then return {'duplicate'} end
drop_reservation(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
count_tokens({KEYS[13], KEYS[14], KEYS[15], KEYS[16]}, ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[6], ARGV[7])
local actual = tonumber(ARGV[2])
local ttls = {ARGV[6], ARGV[7], ARGV[6]}
local spent = {}
for i = 1, 3 do
  spent[i] = redis.call('INCRBY', KEYS[3 + i], actual)
  redis.call('EXPIRE', KEYS[3 + i], ttls[i])
end
redis.call('SET', KEYS[8], 'settled', 'PX', ARGV[8])
if ARGV[10] ~= '' and tonumber(ARGV[11]) > 0 then redis.call('SET', KEYS[12], ARGV[10], 'EX', ARGV[11]) end
local caps = {
  tonumber(redis.call('HGET', KEYS[7], 'daily') or ARGV[3]),
  tonumber(redis.call('HGET', KEYS[7], 'monthly') or ARGV[4]),
  tonumber(ARGV[5])
}
local out = {'settled'}
for i = 1, 3 do
  if actual > 0 and caps[i] > 0 and spent[i] * 1000 >= caps[i] * tonumber(ARGV[9]) then
    if redis.call('SET', KEYS[8 + i], '1', 'NX', 'EX', ttls[i]) then
      table.insert(out, tostring(i) .. ':' .. tostring(spent[i]) .. ':' .. tostring(caps[i]))
    end
  end
end
return out
`;

/* KEYS: 1-3 as reserve, 4 request state. ARGV: 1 request id, 2 state ttl ms. */
const releaseLua = `${dropReservationLua}
if redis.call('GET', KEYS[4]) == 'settled' then return 0 end
drop_reservation(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
redis.call('SET', KEYS[4], 'released', 'PX', ARGV[2])
return 1
`;

/**
 * The scripts are registered with ioredis's `defineCommand`, which sends the full script (EVAL) the first time on
 * each connection and EVALSHA after that, falling back on NOSCRIPT. So a script's first use after a (re)connect is
 * sent at once rather than after a NOSCRIPT round trip, which keeps the commands of one connection in the order they
 * were issued: the gateway relies on that to settle without awaiting the reply (see `OpenAIGateway.settleInBackground`).
 */
const scripts = {
  reserve: { command: 'deskhandBudgetReserve', lua: reserveLua },
  settle: { command: 'deskhandBudgetSettle', lua: settleLua },
  release: { command: 'deskhandBudgetRelease', lua: releaseLua },
} as const;
type Script = (typeof scripts)[keyof typeof scripts];
type ScriptCommand = (numberOfKeys: number, ...keysAndArgs: Array<string | number>) => Promise<unknown>;

const dayTtlSeconds = 40 * 86_400;
const monthTtlSeconds = 400 * 86_400;
const requestStateTtlMs = 2 * 86_400_000;

export class BudgetStore {
  private readonly redis: Redis;
  private readonly keyPrefix: string;
  readonly timeZone: string;
  readonly defaults: BudgetDefaults;
  private readonly reservationTtlMs: number;
  private readonly commandTimeoutMs: number;
  readonly adminUserIds: readonly string[];
  private readonly warningPermille: number;
  private readonly now: () => number;
  private windowCache: { from: number; windows: BudgetWindows } | undefined;

  constructor(options: BudgetStoreOptions) {
    this.redis = options.redis;
    this.keyPrefix = options.keyPrefix;
    this.timeZone = options.timeZone;
    this.defaults = options.defaults;
    this.reservationTtlMs = options.reservationTtlMs;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    this.adminUserIds = options.adminUserIds ?? [];
    this.warningPermille = Math.round((options.warningRatio ?? 0.8) * 1000);
    this.now = options.now ?? Date.now;
    for (const { command, lua } of Object.values(scripts)) this.redis.defineCommand(command, { lua });
  }

  /** The day and month a call made now belongs to, and when each resets, in the configured time zone. */
  windowsAt(at: number = this.now()): BudgetWindows {
    const cached = this.windowCache;
    if (cached && at >= cached.from && at < cached.windows.dayResetsAt) return cached.windows;
    const local = DateTime.fromMillis(at, { zone: this.timeZone });
    const windows = {
      day: local.toFormat('yyyy-LL-dd'),
      month: local.toFormat('yyyy-LL'),
      dayResetsAt: local.startOf('day').plus({ days: 1 }).toMillis(),
      monthResetsAt: local.startOf('month').plus({ months: 1 }).toMillis(),
    };
    // A day never spans two months, so the windows hold from the start of this day until it ends.
    this.windowCache = { from: local.startOf('day').toMillis(), windows };
    return windows;
  }

  /** Key names for one workspace/channel/window set (exported shape for the ledger rebuild and tests). */
  keys(workspaceId: string, channelId: string, windows: Pick<BudgetWindows, 'day' | 'month'>) {
    assertId(workspaceId, 'workspace');
    assertId(channelId, 'channel');
    const base = `${this.keyPrefix}{${workspaceId}}:budget:`;
    return {
      reservations: `${base}res`,
      reservationRecords: `${base}resinfo`,
      reserved: `${base}reserved`,
      spentChannelDay: `${base}spent:ch:${channelId}:d:${windows.day}`,
      spentChannelMonth: `${base}spent:ch:${channelId}:m:${windows.month}`,
      spentWorkspaceDay: `${base}spent:ws:d:${windows.day}`,
      savedChannelDay: `${base}saved:ch:${channelId}:d:${windows.day}`,
      savedChannelMonth: `${base}saved:ch:${channelId}:m:${windows.month}`,
      savedWorkspaceDay: `${base}saved:ws:d:${windows.day}`,
      channelCaps: `${base}cap:ch:${channelId}`,
      warnChannelDay: `${base}warn:ch:${channelId}:d:${windows.day}`,
      warnChannelMonth: `${base}warn:ch:${channelId}:m:${windows.month}`,
      warnWorkspaceDay: `${base}warn:ws:d:${windows.day}`,
      tokens: tokenKeys(base, channelId, windows),
      reservedFields: [`ch:${channelId}:d:${windows.day}`, `ch:${channelId}:m:${windows.month}`, `ws:d:${windows.day}`],
      request: (requestId: string) => `${base}req:${requestId}`,
    };
  }

  /**
   * Reserves `amountMicroUsd` in every window atomically. Throws `over_budget` (with the reset time and the admins
   * who can raise the cap in its user message) when a window would pass its cap, `budget_unenforceable` when Redis
   * cannot answer, `conflict` when the request id was already used.
   */
  async reserve(input: ReserveInput): Promise<Reservation> {
    const outcome = await this.reserveOrServeCached(input);
    if ('kind' in outcome) throw new DeskhandError('internal', 'reserve() without a cache key returned a cache hit');
    return outcome;
  }

  /**
   * Like `reserve`, but first looks up `cacheKey` (a response-cache key in the same workspace slot) in the same
   * script: a hit returns the entry, counts its cost as savings and reserves nothing — one round trip either way.
   */
  async reserveOrServeCached(input: ReserveInput & { cacheKey?: string }): Promise<Reservation | CacheHit> {
    assertAmount(input.amountMicroUsd);
    const windows = this.windowsAt();
    const keys = this.keys(input.workspaceId, input.channelId, windows);
    const ttlMs = Math.max(this.reservationTtlMs, input.ttlMs ?? 0);
    const requestKey = keys.request(input.requestId);
    const reply = (await this.run(
      scripts.reserve,
      [
        keys.reservations,
        keys.reservationRecords,
        keys.reserved,
        keys.spentChannelDay,
        keys.spentChannelMonth,
        keys.spentWorkspaceDay,
        keys.channelCaps,
        requestKey,
        input.cacheKey ?? requestKey,
        keys.savedChannelDay,
        keys.savedChannelMonth,
        keys.savedWorkspaceDay,
      ],
      [
        input.requestId,
        input.amountMicroUsd,
        ttlMs,
        this.defaults.channelDailyMicroUsd,
        this.defaults.channelMonthlyMicroUsd,
        this.defaults.workspaceDailyMicroUsd,
        ...keys.reservedFields,
        requestStateTtlMs,
        input.cacheKey === undefined ? '0' : '1',
        dayTtlSeconds,
        monthTtlSeconds,
      ],
    )) as string[];
    if (reply[0] === 'hit') return { kind: 'cache_hit', value: reply[1] ?? '', savedMicroUsd: Number(reply[2] ?? 0) };
    if (reply[0] === 'reserved') {
      return {
        requestId: input.requestId,
        workspaceId: input.workspaceId,
        channelId: input.channelId,
        amountMicroUsd: input.amountMicroUsd,
        windows,
      };
    }
    if (reply[0] === 'duplicate') {
      throw new DeskhandError('conflict', `Budget request id ${input.requestId} was already used (${reply[1]})`, {
        details: { requestId: input.requestId },
      });
    }
    const window = budgetWindows[Number(reply[1]) - 1] ?? 'channel_daily';
    const cap = Number(reply[2]);
    const spent = Number(reply[3]);
    const reserved = Number(reply[4]);
    const resetsAt = window === 'channel_monthly' ? windows.monthResetsAt : windows.dayResetsAt;
    throw new DeskhandError('over_budget', `Budget ${window} would be exceeded`, {
      details: {
        window,
        capMicroUsd: cap,
        spentMicroUsd: spent,
        reservedMicroUsd: reserved,
        requestedMicroUsd: input.amountMicroUsd,
        resetsAt,
        workspaceId: input.workspaceId,
        channelId: input.channelId,
      },
      userMessage: this.refusalMessage(window, cap, spent, resetsAt),
    });
  }

  /**
   * Charges the actual cost once per request id, counts the call's `tokens` (when given) and frees its reservation,
   * in one script. Safe to call twice. The script is sent before this returns (see `scripts`).
   */
  async settle(
    reservation: Reservation,
    actualMicroUsd: number,
    cacheStore?: CacheStore,
    tokens?: SettledTokens,
  ): Promise<SettleResult> {
    assertAmount(actualMicroUsd);
    const keys = this.keys(reservation.workspaceId, reservation.channelId, reservation.windows);
    const reply = (await this.run(
      scripts.settle,
      [
        keys.reservations,
        keys.reservationRecords,
        keys.reserved,
        keys.spentChannelDay,
        keys.spentChannelMonth,
        keys.spentWorkspaceDay,
        keys.channelCaps,
        keys.request(reservation.requestId),
        keys.warnChannelDay,
        keys.warnChannelMonth,
        keys.warnWorkspaceDay,
        cacheStore?.key ?? keys.request(reservation.requestId),
        ...keys.tokens,
      ],
      [
        reservation.requestId,
        actualMicroUsd,
        this.defaults.channelDailyMicroUsd,
        this.defaults.channelMonthlyMicroUsd,
        this.defaults.workspaceDailyMicroUsd,
        dayTtlSeconds,
        monthTtlSeconds,
        requestStateTtlMs,
        this.warningPermille,
        cacheStore?.value ?? '',
        cacheStore?.ttlSeconds ?? 0,
        ...tokenArguments(tokens),
      ],
    )) as string[];
    if (reply[0] === 'duplicate') return { charged: false, warnings: [] };
    const warnings = reply.slice(1).map((entry): BudgetWarning => {
      const [index, spent, cap] = entry.split(':').map(Number);
      const window = budgetWindows[(index ?? 1) - 1] ?? 'channel_daily';
      return {
        workspaceId: reservation.workspaceId,
        channelId: reservation.channelId,
        window,
        spentMicroUsd: spent ?? 0,
        capMicroUsd: cap ?? 0,
        resetsAt: window === 'channel_monthly' ? reservation.windows.monthResetsAt : reservation.windows.dayResetsAt,
      };
    });
    return { charged: true, warnings };
  }

  /** Frees a reservation without charging it. A no-op once the request was settled. */
  async release(reservation: Reservation): Promise<void> {
    const keys = this.keys(reservation.workspaceId, reservation.channelId, reservation.windows);
    await this.run(
      scripts.release,
      [keys.reservations, keys.reservationRecords, keys.reserved, keys.request(reservation.requestId)],
      [reservation.requestId, requestStateTtlMs],
    );
  }

  /** Counts what a cache hit saved, for `/budget`. */
  async recordSavings(workspaceId: string, channelId: string, savedMicroUsd: number): Promise<void> {
    if (savedMicroUsd <= 0) return;
    const keys = this.keys(workspaceId, channelId, this.windowsAt());
    await this.guard(
      this.redis
        .multi()
        .incrby(keys.savedChannelDay, savedMicroUsd)
        .expire(keys.savedChannelDay, dayTtlSeconds)
        .incrby(keys.savedChannelMonth, savedMicroUsd)
        .expire(keys.savedChannelMonth, monthTtlSeconds)
        .incrby(keys.savedWorkspaceDay, savedMicroUsd)
        .expire(keys.savedWorkspaceDay, dayTtlSeconds)
        .exec(),
    );
  }

  /** Sets (or, with `null`, removes) a channel's cap override for one window. */
  async setChannelCap(
    workspaceId: string,
    channelId: string,
    window: 'daily' | 'monthly',
    capMicroUsd: number | null,
  ): Promise<void> {
    const keys = this.keys(workspaceId, channelId, this.windowsAt());
    if (capMicroUsd === null) await this.guard(this.redis.hdel(keys.channelCaps, window));
    else {
      assertAmount(capMicroUsd);
      await this.guard(this.redis.hset(keys.channelCaps, window, String(capMicroUsd)));
    }
  }

  /** Spend, reservations, remaining, savings and reset time of each window for a channel. */
  async status(workspaceId: string, channelId: string): Promise<BudgetStatus> {
    const windows = this.windowsAt();
    const keys = this.keys(workspaceId, channelId, windows);
    const results = await this.guard(
      this.redis
        .pipeline()
        .mget(keys.spentChannelDay, keys.spentChannelMonth, keys.spentWorkspaceDay)
        .mget(keys.savedChannelDay, keys.savedChannelMonth, keys.savedWorkspaceDay)
        .hmget(keys.reserved, ...keys.reservedFields)
        .hmget(keys.channelCaps, 'daily', 'monthly')
        .exec(),
    );
    const values = (index: number): Array<string | null> => {
      const entry = results?.[index];
      if (!entry || entry[0])
        throw new DeskhandError('budget_unenforceable', 'Could not read budget state', { cause: entry?.[0] });
      return entry[1] as Array<string | null>;
    };
    const [spent, saved, reserved, caps] = [values(0), values(1), values(2), values(3)];
    const capFor = [
      caps[0] ? Number(caps[0]) : this.defaults.channelDailyMicroUsd,
      caps[1] ? Number(caps[1]) : this.defaults.channelMonthlyMicroUsd,
      this.defaults.workspaceDailyMicroUsd,
    ];
    return {
      workspaceId,
      channelId,
      timeZone: this.timeZone,
      windows: budgetWindows.map((window, index) => {
        const capMicroUsd = capFor[index] ?? 0;
        const spentMicroUsd = Number(spent[index] ?? 0);
        const reservedMicroUsd = Number(reserved[index] ?? 0);
        return {
          window,
          capMicroUsd,
          spentMicroUsd,
          reservedMicroUsd,
          remainingMicroUsd: Math.max(0, capMicroUsd - spentMicroUsd - reservedMicroUsd),
          savedMicroUsd: Number(saved[index] ?? 0),
          resetsAt: window === 'channel_monthly' ? windows.monthResetsAt : windows.dayResetsAt,
          overridden: index < 2 && Boolean(caps[index]),
        };
      }),
    };
  }

  /** Tokens counted per model in the channel's and the workspace's day and month (`token-usage.ts`). */
  async tokenUsage(workspaceId: string, channelId: string): Promise<TokenUsageReport> {
    const keys = this.keys(workspaceId, channelId, this.windowsAt());
    const pipeline = this.redis.pipeline();
    for (const key of keys.tokens) pipeline.hgetall(key);
    const results = (await this.guard(pipeline.exec())) ?? [];
    const hashes = results.map(([error, value]) => {
      if (error) throw new DeskhandError('budget_unenforceable', 'Could not read token counters', { cause: error });
      return value as Record<string, string>;
    });
    return parseTokenUsage(workspaceId, channelId, hashes);
  }

  /**
   * Raises settled-spend counters to at least the given totals (used by the ledger rebuild after Redis lost them).
   * Never lowers a counter: Redis may already hold spend the ledger has not seen.
   */
  async raiseSpent(
    workspaceId: string,
    channelId: string,
    windows: Pick<BudgetWindows, 'day' | 'month'>,
    totals: { channelDay?: number; channelMonth?: number; workspaceDay?: number },
  ): Promise<void> {
    const keys = this.keys(workspaceId, channelId, windows);
    const pairs: Array<[string, number | undefined, number]> = [
      [keys.spentChannelDay, totals.channelDay, dayTtlSeconds],
      [keys.spentChannelMonth, totals.channelMonth, monthTtlSeconds],
      [keys.spentWorkspaceDay, totals.workspaceDay, dayTtlSeconds],
    ];
    for (const [key, total, ttl] of pairs) {
      if (total === undefined) continue;
      await this.guard(
        this.redis.eval(
          "local v = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > v then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end return 1",
          1,
          key,
          total,
          ttl,
        ),
      );
    }
  }

  refusalMessage(window: BudgetWindow, capMicroUsd: number, spentMicroUsd: number, resetsAt: number): string {
    const scope = window === 'workspace_daily' ? 'This workspace' : 'This channel';
    const period = window === 'channel_monthly' ? 'monthly' : 'daily';
    const reset = DateTime.fromMillis(resetsAt, { zone: this.timeZone }).toFormat('ccc d LLL, HH:mm ZZZZ');
    const admins =
      this.adminUserIds.length > 0
        ? ` ${this.adminUserIds.map((id) => `<@${id}>`).join(', ')} can raise it with \`/budget set\`.`
        : ' No admins are configured (ADMIN_USER_IDS), so the cap can only change in configuration.';
    return `${scope} has used ${formatMicroUsd(spentMicroUsd)} of its ${period} model budget of ${formatMicroUsd(capMicroUsd)}. It resets ${reset}.${admins}`;
  }

  private async run(target: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.guard(
      (this.redis as unknown as Record<string, ScriptCommand>)[target.command]?.(keys.length, ...keys, ...args) ??
        Promise.reject(new Error(`script ${target.command} is not defined on this connection`)),
    );
  }

  /** Any Redis error or a reply slower than `commandTimeoutMs` → `budget_unenforceable` (fail closed). */
  private async guard<T>(operation: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${this.commandTimeoutMs} ms`)),
        this.commandTimeoutMs,
      );
    });
    try {
      return await Promise.race([operation, timeout]);
    } catch (error) {
      if (isDeskhandError(error)) throw error;
      operation.catch(() => {});
      throw new DeskhandError('budget_unenforceable', `Budget store unavailable: ${(error as Error).message}`, {
        cause: error,
        retryable: true,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

function assertId(value: string, what: string): void {
  if (!idPattern.test(value)) {
    throw new DeskhandError('invalid_input', `Invalid ${what} id for a budget key: ${JSON.stringify(value)}`);
  }
}

function assertAmount(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new DeskhandError('internal', `Budget amounts are non-negative integer micro-dollars, got ${value}`);
  }
}
