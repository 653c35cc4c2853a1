/**
 * The scripts a replica uses to hand its local export back to Redis (`spend-contribution.ts`):
 *
 * - `contributeEntry` counts ONE exported call whose settlement Redis does not hold — its counters, tokens,
 *   channel rankings and a `restored` spend-record entry, in one step in the workspace's slot — exactly as the settle
 *   script would have, and marks the request `settled`. It is a no-op when the request is already `settled`, which
 *   the settle script also checks first: whichever of a late settle retry and a contribution runs second adds
 *   nothing, so a call is counted once whatever the order (a request state lives 2 days; older calls are filtered
 *   against the record by the caller before the script runs). Counters are incremented, not raised: the record
 *   entry and the counters move together, so `counters == record` holds before and after, seeded or not (a restore
 *   running meanwhile sees the record move and reads it again, `budget-restore-script.ts`).
 * - `reassertReservation` puts back a reservation this replica still holds (its call is in flight) after Redis lost
 *   it, without a cap check — it was admitted before the loss — so the room it holds is not admitted twice; a no-op
 *   when the request has any state (reserved, settled or released).
 * - `contributeConfig` copies an exported caps/settings snapshot into the config stream only when Redis has none
 *   (Redis lost the stream with everything else); the first contributor's snapshot wins.
 * - `registerReplica` keeps this replica in the set of live contributors (`<prefix>{budget-replicas}:members`, one
 *   slot, scored by expiry on the Redis clock) and answers how long ago that set's epoch was created: a missing
 *   epoch means Redis lost its data (or is new), so a restorer waits a grace period for every live replica to
 *   register again before it trusts the set. `markRoundComplete` records that a replica contributed every
 *   workspace of its export — only if the epoch is still the one its round started under (a wipe during the round
 *   would otherwise be hidden).
 * - `beginContribution` / `markContributed`: the per-workspace marker (`<prefix>{W}:budget:contributed`, a count
 *   per replica) is written only if the hash was not lost since the contribution began (its `_since` token), so a
 *   loss during a contribution is never mistaken for a contribution after it.
 */
import { type BudgetKeys, dayTtlSeconds, monthTtlSeconds, requestStateTtlMs } from './budget-keys.ts';
import type { ScriptCall } from './budget-scripts.ts';
import { recordRetentionMs, spendEntryFields } from './spend-record.ts';
import type { RecordedSpend } from './spend-totals.ts';
import { tokenArguments, tokenCountersLua } from './token-usage.ts';

/*
 * KEYS: 1 request state, 2 spend record, 3 spent channel day, 4 spent channel month, 5 spent workspace day, 6 the
 * person's spent that day (a placeholder without a person), 7 channels by month spend, 8 channels by day spend,
 * 9-12 token counters (`tokenKeys` order), 13 reservations zset, 14 reservation records, 15 reserved totals.
 * ARGV: 1 request id, 2 cost µ$, 3 day ttl s, 4 month ttl s, 5 state ttl ms, 6 '1' with a person, 7 channel id,
 * 8 record retention ms, 9-12 token arguments (model, in, out, unpriced), 13.. the record entry's field/value pairs.
 */
const contributeEntryLua = `${tokenCountersLua}
if redis.call('GET', KEYS[1]) == 'settled' then return 0 end
local info = redis.call('HGET', KEYS[14], ARGV[1])
if info then
  local amount = tonumber(string.match(info, '^(%d+)|'))
  if amount and amount > 0 then
    for field in string.gmatch(info, '|([^|]*)') do
      if redis.call('HINCRBY', KEYS[15], field, -amount) <= 0 then redis.call('HDEL', KEYS[15], field) end
    end
  end
  redis.call('HDEL', KEYS[14], ARGV[1])
end
redis.call('ZREM', KEYS[13], ARGV[1])
local cost = tonumber(ARGV[2])
local spent_keys = {KEYS[3], KEYS[4], KEYS[5]}
local ttls = {ARGV[3], ARGV[4], ARGV[3]}
if ARGV[6] == '1' then spent_keys[4] = KEYS[6]; ttls[4] = ARGV[3] end
local month_spent = 0
for i = 1, #spent_keys do
  local value = redis.call('INCRBY', spent_keys[i], cost)
  redis.call('EXPIRE', spent_keys[i], ttls[i])
  if i == 2 then month_spent = value end
end
redis.call('SET', KEYS[1], 'settled', 'PX', ARGV[5])
count_tokens({KEYS[9], KEYS[10], KEYS[11], KEYS[12]}, ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[3], ARGV[4])
local clock = redis.call('TIME')
local oldest = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) - tonumber(ARGV[8])
local fields = {}
for i = 13, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], 'MINID', '~', tostring(oldest), '*', unpack(fields))
redis.call('ZADD', KEYS[7], month_spent, ARGV[7])
redis.call('EXPIRE', KEYS[7], ARGV[4])
if cost > 0 then
  redis.call('ZINCRBY', KEYS[8], cost, ARGV[7])
  redis.call('EXPIRE', KEYS[8], ARGV[3])
end
return 1
`;

/*
 * KEYS: 1 reservations zset, 2 reservation records, 3 reserved totals, 4 request state. ARGV: 1 request id,
 * 2 amount µ$, 3 time left ms, 4 state ttl ms, 5.. the reserved-hash fields. Answers 1 when put back.
 */
const reassertReservationLua = `
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local amount = tonumber(ARGV[2])
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
  if amount > 0 then redis.call('HINCRBY', KEYS[3], ARGV[i], amount) end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. table.concat(fields, '|'))
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('SET', KEYS[4], 'reserved', 'PX', ARGV[4])
return 1
`;

/* KEYS: 1 config stream. ARGV: 1 caps JSON, 2 settings JSON ('' none), 3 stream length. Answers 1 when appended. */
const contributeConfigLua = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'caps', ARGV[1], 'settings', ARGV[2])
return 1
`;

/*
 * KEYS: 1 members zset, 2 epoch. ARGV: 1 replica id ('' only reads: a store that does not contribute proactively),
 * 2 registration ttl ms. Answers {epoch age ms (-1: no epoch, only when reading), epoch, now (Redis clock, ms), live
 * replica ids…}.
 */
const registerReplicaLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = tonumber(redis.call('GET', KEYS[2]) or '')
if ARGV[1] == '' then
  if not epoch then return {'-1', '', tostring(now)} end
else
  if not epoch then
    epoch = now
    redis.call('SET', KEYS[2], tostring(now))
  end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
local out = {tostring(now - epoch), tostring(epoch), tostring(now)}
for _, id in ipairs(live) do out[#out + 1] = id end
return out
`;

/*
 * KEYS: 1 epoch, 2 complete zset. ARGV: 1 the epoch the round started under, 2 replica id, 3 when the round started
 * (Redis clock, ms; the member's score). Answers 1 when marked.
 */
const markRoundCompleteLua = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - 86400000)
return 1
`;

/*
 * KEYS: 1 contributed hash. ARGV: 1 a new token, 2 ttl s. Answers the hash's token `<Redis ms>:<token>` (a new one
 * if it had none): when the first contribution since the workspace's keys were last lost began.
 */
const beginContributionLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSETNX', KEYS[1], '_since', tostring(now) .. ':' .. ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return redis.call('HGET', KEYS[1], '_since')
`;

/* KEYS: 1 contributed hash. ARGV: 1 token, 2 replica id, 3 calls added. Answers 0 when the hash was lost since. */
const markContributedLua = `
if redis.call('HGET', KEYS[1], '_since') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[3])
return 1
`;

export const contributionScripts = {
  reassert: { command: 'deskhandSpendReassertReservation', lua: reassertReservationLua },
  markRoundComplete: { command: 'deskhandSpendMarkRoundComplete', lua: markRoundCompleteLua },
  begin: { command: 'deskhandSpendBeginContribution', lua: beginContributionLua },
  markContributed: { command: 'deskhandSpendMarkContributed', lua: markContributedLua },
  entry: { command: 'deskhandSpendContributeEntry', lua: contributeEntryLua },
  config: { command: 'deskhandSpendContributeConfig', lua: contributeConfigLua },
  register: { command: 'deskhandSpendRegisterReplica', lua: registerReplicaLua },
} as const;

/** `reassertReservation`'s KEYS and ARGV; `keys` are the reservation's (its person's day only with a per-user cap). */
export function reassertReservationCall(
  keys: BudgetKeys,
  reservation: { requestId: string; amountMicroUsd: number },
  timeLeftMs: number,
): ScriptCall {
  const fields = keys.user ? [...keys.reservedFields, keys.user.reservedField] : keys.reservedFields;
  return {
    keys: [keys.reservations, keys.reservationRecords, keys.reserved, keys.request(reservation.requestId)],
    args: [reservation.requestId, reservation.amountMicroUsd, timeLeftMs, requestStateTtlMs, ...fields],
  };
}

/** `contributeEntry`'s KEYS and ARGV; `keys` are the entry's own windows (its day and month, its person). */
export function contributeEntryCall(
  keys: BudgetKeys,
  entry: RecordedSpend & { purpose?: string | undefined },
): ScriptCall {
  const request = keys.request(entry.requestId);
  return {
    keys: [
      request,
      keys.record,
      keys.spentChannelDay,
      keys.spentChannelMonth,
      keys.spentWorkspaceDay,
      keys.user?.spent ?? request,
      keys.channelsByMonthSpend,
      keys.channelsByDaySpend,
      ...keys.tokens,
      keys.reservations,
      keys.reservationRecords,
      keys.reserved,
    ],
    args: [
      entry.requestId,
      entry.costMicroUsd,
      dayTtlSeconds,
      monthTtlSeconds,
      requestStateTtlMs,
      keys.user ? '1' : '0',
      entry.channelId,
      recordRetentionMs,
      ...tokenArguments(
        entry.model
          ? {
              model: entry.model,
              inputTokens: Number(entry.inputTokens),
              outputTokens: Number(entry.outputTokens),
              unpriced: entry.unpriced,
            }
          : undefined,
      ),
      ...spendEntryFields({ ...entry, kind: 'restored' }),
    ],
  };
}
