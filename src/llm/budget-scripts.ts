/**
 * `budgetScripts`: the budget store's Lua scripts, their KEYS/ARGV layout and how they are sent.
 *
 * - Each check and its increment is one script, so concurrent calls cannot overspend a cap between them
 *   (litellm#34732); each script only touches keys of one workspace (one Redis Cluster slot).
 * - `reserve` purges expired reservations (on the Redis clock), refuses when any window would pass its cap (a $0
 *   reservation once a window is used up) — the person's day too, when the call has one (a known user while a
 *   per-user cap is configured), in the same step, and can serve a response-cache entry instead, counting its savings.
 *   Asked to, it answers `unseeded` instead of reserving when the workspace's seeded sentinel is gone (Redis lost
 *   the counters while the app ran): the store reseeds the workspace from the ledger and reserves again.
 * - `settle` replaces a reservation by the actual cost once per request id, counts the call's tokens, stores a
 *   cache entry and reports each window's 80 % warning once — all in the same script. `release` frees a
 *   reservation without charging it and is a no-op once the request was settled.
 * - `settle` also appends the call to the workspace's spend record (a Redis Stream, `spend-record.ts`) in the same
 *   step; `setCap` changes a channel's cap and appends the workspace's caps snapshot to its config stream.
 * - The `*ScriptCall` builders are the only place that lays out KEYS and ARGV, next to the scripts that read them.
 * - Scripts are registered with `defineCommand` and sent synchronously by `sendScript` (see below).
 */
import type { RedisClient } from '../adapters/redis-client.ts';
import {
  type BudgetKeys,
  budgetWindows,
  dayTtlSeconds,
  monthTtlSeconds,
  requestStateTtlMs,
  resetOf,
} from './budget-keys.ts';
import type { BudgetDefaults, BudgetWarning, CacheStore, Reservation } from './budget-types.ts';
import { appendConfigLua, configRecordLength, recordRetentionMs } from './spend-record.ts';
import { type SettledTokens, tokenArguments, tokenCountersLua } from './token-usage.ts';

// Shared Lua: parse a reservation record "amount|field1|field2|field3[|field4]" (a fourth field is the person's day)
// and take it out of the reserved totals.
const dropReservationLua = `
local function drop_reservation(res_key, info_key, reserved_key, id)
  local info = redis.call('HGET', info_key, id)
  if info then
    local amount = tonumber(string.match(info, '^(%d+)|'))
    -- A $0 reservation (an unpriced model) added nothing; Lua would also send its negation as '-0', not an integer.
    if amount and amount > 0 then
      for field in string.gmatch(info, '|([^|]*)') do
        local left = redis.call('HINCRBY', reserved_key, field, -amount)
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
 * (channel day, channel month, workspace day), 13 the workspace's seeded sentinel, 14 the person's spent today
 * (a placeholder without a person's window), 15 the workspace's cache hits that day.
 * ARGV: 1 request id, 2 amount µ$, 3 reservation ttl ms, 4-6 default caps, 7-9 reserved-hash fields, 10 state ttl ms,
 * 11 '1' to look the cache entry up first, 12 day ttl s, 13 month ttl s, 14 '1' to answer 'unseeded' without the
 * sentinel (and 'caps_lost' while it says the caps could not be restored, budget-restore.ts), 15 the person's daily cap µ$ ('' for no person's window), 16 the person's reserved-hash field.
 * A cache hit returns the entry, counts its cost (field costMicroUsd) as savings and the hit itself in the day's
 * hit counter; nothing is reserved.
 * A refusal names its window by its index in `budgetWindows` (4: the person's day).
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
    redis.call('INCR', KEYS[15])
    redis.call('EXPIRE', KEYS[15], ARGV[12])
    return {'hit', cached, tostring(saved)}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 200)
for _, id in ipairs(expired) do drop_reservation(KEYS[1], KEYS[2], KEYS[3], id) end
local state = redis.call('GET', KEYS[8])
if state then return {'duplicate', state} end
if ARGV[14] == '1' then
  local seeded = redis.call('GET', KEYS[13])
  if not seeded then return {'unseeded'} end
  if string.find(seeded, '"caps":"unknown"', 1, true) then return {'caps_lost'} end
end
local amount = tonumber(ARGV[2])
local caps = {
  tonumber(redis.call('HGET', KEYS[7], 'daily') or ARGV[4]),
  tonumber(redis.call('HGET', KEYS[7], 'monthly') or ARGV[5]),
  tonumber(ARGV[6])
}
local spent_keys = {KEYS[4], KEYS[5], KEYS[6]}
local fields = {ARGV[7], ARGV[8], ARGV[9]}
if ARGV[15] ~= '' then
  caps[4] = tonumber(ARGV[15])
  spent_keys[4] = KEYS[14]
  fields[4] = ARGV[16]
end
for i = 1, #fields do
  local spent = tonumber(redis.call('GET', spent_keys[i]) or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[3], fields[i]) or '0')
  if spent + reserved + amount > caps[i] or (amount == 0 and spent + reserved >= caps[i]) then
    return {'refused', tostring(i), tostring(caps[i]), tostring(spent), tostring(reserved)}
  end
end
if amount > 0 then for i = 1, #fields do redis.call('HINCRBY', KEYS[3], fields[i], amount) end end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. table.concat(fields, '|'))
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('SET', KEYS[8], 'reserved', 'PX', ARGV[10])
return {'reserved'}
`;

/*
 * KEYS: 1-3 as reserve, 4-6 spent, 7 cap overrides, 8 request state, 9-11 warning markers, 12 response-cache entry,
 * 13-16 token counters (token-usage.ts), 17 the person's spent today, 18 the person's warning marker (17-18 are
 * placeholders without a person's window), 19 the workspace's channels by this month's spend, 20 the workspace's
 * channels by the day's spend (a channel is added only once it spent something that day), 21 the spend record
 * stream (spend-record.ts).
 * ARGV: 1 request id, 2 actual µ$, 3-5 default caps, 6 day ttl s, 7 month ttl s, 8 state ttl ms, 9 warning ratio ‰,
 * 10 cache value ('' for none), 11 cache ttl s, 12 model ('' counts no tokens), 13 input tokens, 14 output tokens,
 * 15 unpriced reason, 16 the person's daily cap µ$ ('' for no person's window), 17 the channel id, 18 the user id
 * ('' when unknown), 19 day, 20 month (the reservation's windows), 21 purpose, 22 record retention ms.
 * The record entry is appended in this script, so it exists exactly when the counters moved (one slot: Cluster-safe).
 */
const settleLua = `${dropReservationLua}${tokenCountersLua}
if redis.call('GET', KEYS[8]) == 'settled' then return {'duplicate'} end
drop_reservation(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
count_tokens({KEYS[13], KEYS[14], KEYS[15], KEYS[16]}, ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[6], ARGV[7])
local actual = tonumber(ARGV[2])
local spent_keys = {KEYS[4], KEYS[5], KEYS[6]}
local warn_keys = {KEYS[9], KEYS[10], KEYS[11]}
local ttls = {ARGV[6], ARGV[7], ARGV[6]}
local caps = {
  tonumber(redis.call('HGET', KEYS[7], 'daily') or ARGV[3]),
  tonumber(redis.call('HGET', KEYS[7], 'monthly') or ARGV[4]),
  tonumber(ARGV[5])
}
if ARGV[16] ~= '' then
  spent_keys[4] = KEYS[17]
  warn_keys[4] = KEYS[18]
  ttls[4] = ARGV[6]
  caps[4] = tonumber(ARGV[16])
end
local spent = {}
for i = 1, #spent_keys do
  spent[i] = redis.call('INCRBY', spent_keys[i], actual)
  redis.call('EXPIRE', spent_keys[i], ttls[i])
end
redis.call('SET', KEYS[8], 'settled', 'PX', ARGV[8])
local clock = redis.call('TIME')
local oldest = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) - tonumber(ARGV[22])
redis.call('XADD', KEYS[21], 'MINID', '~', tostring(oldest), '*', 'kind', 'settle', 'request', ARGV[1],
  'channel', ARGV[17], 'user', ARGV[18], 'day', ARGV[19], 'month', ARGV[20], 'cost', ARGV[2], 'model', ARGV[12],
  'in', ARGV[13], 'out', ARGV[14], 'unpriced', ARGV[15], 'purpose', ARGV[21])
redis.call('ZADD', KEYS[19], spent[2], ARGV[17])
redis.call('EXPIRE', KEYS[19], ARGV[7])
if actual > 0 then
  redis.call('ZINCRBY', KEYS[20], actual, ARGV[17])
  redis.call('EXPIRE', KEYS[20], ARGV[6])
end
if ARGV[10] ~= '' and tonumber(ARGV[11]) > 0 then redis.call('SET', KEYS[12], ARGV[10], 'EX', ARGV[11]) end
local out = {'settled'}
for i = 1, #spent_keys do
  if actual > 0 and caps[i] > 0 and spent[i] * 1000 >= caps[i] * tonumber(ARGV[9]) then
    if redis.call('SET', warn_keys[i], '1', 'NX', 'EX', ttls[i]) then
      table.insert(out, tostring(i) .. ':' .. tostring(spent[i]) .. ':' .. tostring(caps[i]))
    end
  end
end
return out
`;

/*
 * KEYS: 1 the channel's cap overrides hash, 2 the config stream, 3 the seeded sentinel. ARGV: 1 channel id, 2 window
 * ('daily' | 'monthly'), 3 cap µ$ ('' removes the override), 4 config stream length. Sets the override and appends
 * the workspace's full caps snapshot in one step (spend-record.ts); answers the snapshot's caps JSON.
 */
const setCapLua = `${appendConfigLua}
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[2]) else redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local caps = {}
if newest then
  for i = 1, #newest[2], 2 do
    if newest[2][i] == 'caps' then
      local ok, decoded = pcall(cjson.decode, newest[2][i + 1])
      if ok and type(decoded) == 'table' then caps = decoded end
    end
  end
end
local channel = caps[ARGV[1]]
if type(channel) ~= 'table' then channel = {} end
if ARGV[3] == '' then channel[ARGV[2]] = nil else channel[ARGV[2]] = tonumber(ARGV[3]) end
if next(channel) == nil then caps[ARGV[1]] = nil else caps[ARGV[1]] = channel end
local text = '{}'
if next(caps) ~= nil then text = cjson.encode(caps) end
append_config(KEYS[2], KEYS[3], 'caps', text, ARGV[4])
return text
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
 * were issued: the gateway relies on that to settle without awaiting the reply (see `Settlement.settleInBackground`).
 */
export const budgetScripts = {
  reserve: { command: 'deskhandBudgetReserve', lua: reserveLua },
  settle: { command: 'deskhandBudgetSettle', lua: settleLua },
  release: { command: 'deskhandBudgetRelease', lua: releaseLua },
  setCap: { command: 'deskhandBudgetSetCap', lua: setCapLua },
} as const;
/** A script registered by `defineCommand` (the budget scripts and the restore's apply step). */
export interface BudgetScript {
  command: string;
  lua: string;
}
type ScriptCommand = (numberOfKeys: number, ...keysAndArgs: Array<string | number>) => Promise<unknown>;

/** Raises one counter to at least ARGV[1] (never lowers it), with TTL ARGV[2] s. KEYS: 1 counter. */
export const raiseCounterLua =
  "local v = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > v then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end return 1";

/** The keys and arguments of one script run. */
export interface ScriptCall {
  keys: string[];
  args: Array<string | number>;
}

/** Registers the scripts on a connection (EVAL on first use per connection, then EVALSHA). */
export function defineBudgetScripts(redis: RedisClient, extra: readonly BudgetScript[] = []): void {
  for (const { command, lua } of [...Object.values(budgetScripts), ...extra]) redis.defineCommand(command, { lua });
}

/** Sends a script now (synchronously, on this connection) and returns its reply. */
export function sendScript(redis: RedisClient, target: BudgetScript, call: ScriptCall): Promise<unknown> {
  return (
    (redis as unknown as Record<string, ScriptCommand>)[target.command]?.(
      call.keys.length,
      ...call.keys,
      ...call.args,
    ) ?? Promise.reject(new Error(`script ${target.command} is not defined on this connection`))
  );
}

/** KEYS 1-3 of every script that reserves, settles or releases: the reservations zset, records and totals. */
function reservationKeys(keys: BudgetKeys): string[] {
  return [keys.reservations, keys.reservationRecords, keys.reserved];
}

/** KEYS 1-7 of `reserve` and `settle`: the reservation keys, the spent counters of the three windows, cap overrides. */
function windowKeys(keys: BudgetKeys): string[] {
  return [
    ...reservationKeys(keys),
    keys.spentChannelDay,
    keys.spentChannelMonth,
    keys.spentWorkspaceDay,
    keys.channelCaps,
  ];
}

/** `reserve`'s KEYS and ARGV (layout above `reserveLua`). */
export function reserveScriptCall(
  keys: BudgetKeys,
  request: { requestId: string; amountMicroUsd: number; cacheKey?: string },
  ttlMs: number,
  defaults: BudgetDefaults,
  checkSeeded = false,
): ScriptCall {
  const requestKey = keys.request(request.requestId);
  return {
    keys: [
      ...windowKeys(keys),
      requestKey,
      request.cacheKey ?? requestKey,
      keys.savedChannelDay,
      keys.savedChannelMonth,
      keys.savedWorkspaceDay,
      keys.seeded,
      keys.user?.spent ?? requestKey,
      keys.hitsWorkspaceDay,
    ],
    args: [
      request.requestId,
      request.amountMicroUsd,
      ttlMs,
      defaults.channelDailyMicroUsd,
      defaults.channelMonthlyMicroUsd,
      defaults.workspaceDailyMicroUsd,
      ...keys.reservedFields,
      requestStateTtlMs,
      request.cacheKey === undefined ? '0' : '1',
      dayTtlSeconds,
      monthTtlSeconds,
      checkSeeded ? '1' : '0',
      userCapArgument(keys, defaults),
      keys.user?.reservedField ?? '',
    ],
  };
}

/** The person's daily cap as a script argument: '' (no person's window) without a person or a per-user cap. */
function userCapArgument(keys: BudgetKeys, defaults: BudgetDefaults): string | number {
  return keys.user && defaults.userDailyMicroUsd !== undefined ? defaults.userDailyMicroUsd : '';
}

/** `settle`'s KEYS and ARGV (layout above `settleLua`). */
export function settleScriptCall(
  keys: BudgetKeys,
  settlement: {
    requestId: string;
    actualMicroUsd: number;
    cacheStore: CacheStore | undefined;
    tokens: SettledTokens | undefined;
    /** Who the call was for and its windows, as the spend record keeps them. */
    userId: string | undefined;
    windows: { day: string; month: string };
    purpose: string | undefined;
  },
  defaults: BudgetDefaults,
  warningPermille: number,
): ScriptCall {
  const { requestId, cacheStore } = settlement;
  return {
    keys: [
      ...windowKeys(keys),
      keys.request(requestId),
      keys.warnChannelDay,
      keys.warnChannelMonth,
      keys.warnWorkspaceDay,
      cacheStore?.key ?? keys.request(requestId),
      ...keys.tokens,
      keys.user?.spent ?? keys.request(requestId),
      keys.user?.warn ?? keys.request(requestId),
      keys.channelsByMonthSpend,
      keys.channelsByDaySpend,
      keys.record,
    ],
    args: [
      requestId,
      settlement.actualMicroUsd,
      defaults.channelDailyMicroUsd,
      defaults.channelMonthlyMicroUsd,
      defaults.workspaceDailyMicroUsd,
      dayTtlSeconds,
      monthTtlSeconds,
      requestStateTtlMs,
      warningPermille,
      cacheStore?.value ?? '',
      cacheStore?.ttlSeconds ?? 0,
      ...tokenArguments(settlement.tokens),
      userCapArgument(keys, defaults),
      keys.channelId,
      settlement.userId ?? '',
      settlement.windows.day,
      settlement.windows.month,
      settlement.purpose ?? '',
      recordRetentionMs,
    ],
  };
}

/** `setCap`'s KEYS and ARGV (layout above `setCapLua`). */
export function setCapScriptCall(
  keys: BudgetKeys,
  window: 'daily' | 'monthly',
  capMicroUsd: number | null,
): ScriptCall {
  return {
    keys: [keys.channelCaps, keys.config, keys.seeded],
    args: [keys.channelId, window, capMicroUsd === null ? '' : capMicroUsd, configRecordLength],
  };
}

/** `release`'s KEYS and ARGV (layout above `releaseLua`). */
export function releaseScriptCall(keys: BudgetKeys, requestId: string): ScriptCall {
  return {
    keys: [...reservationKeys(keys), keys.request(requestId)],
    args: [requestId, requestStateTtlMs],
  };
}

/** The warnings in a `settle` reply (entries `index:spent:cap` after 'settled'). */
export function settleWarnings(reply: string[], reservation: Reservation): BudgetWarning[] {
  return reply.slice(1).map((entry): BudgetWarning => {
    const [index, spent, cap] = entry.split(':').map(Number);
    const window = budgetWindows[(index ?? 1) - 1] ?? 'channel_daily';
    return {
      workspaceId: reservation.workspaceId,
      channelId: reservation.channelId,
      ...(window === 'user_daily' && reservation.userId !== undefined ? { userId: reservation.userId } : {}),
      window,
      spentMicroUsd: spent ?? 0,
      capMicroUsd: cap ?? 0,
      resetsAt: resetOf(window, reservation.windows),
    };
  });
}
