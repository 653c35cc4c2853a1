/**
 * The last step of a workspace's restore (`budget-restore.ts`), as one Lua script in the workspace's hash slot: it
 * writes the rebuilt spend counters, the channels-by-spend indexes, the restored caps and settings and the seeded
 * sentinel together, and only if
 * - the rebuilder still holds the restore lock (another replica cannot have taken over after a stall), and
 * - nothing was appended to the spend record since the rebuilder read it (`moved`): a call settled meanwhile is
 *   read and added first, so the counters equal the record exactly and no settlement is lost to the restore.
 * Counters are only raised (never lowered) and the settings hash is only written when Redis has none.
 * While the sentinel is absent every reservation is answered `unseeded`, so nothing is admitted before this runs.
 */
import type { ScriptCall } from './budget-scripts.ts';

/*
 * KEYS: 1 seeded sentinel, 2 spend record, 3 restore lock, 4 config stream, 5 settings hash, then `n` counters,
 * `m` channel cap hashes, `z` sorted sets.
 * ARGV: 1 newest record id read ('' for an empty record), 2 lock token, 3 sentinel text, 4 sentinel ttl s, 5 settings
 * JSON ('' none), 6 settings version, 7 caps JSON of a snapshot to append with the
 * settings hash as written (a new workspace's first snapshot, or the export's when Redis lost the config stream; ''
 * appends none), 8 config length, 9 n, 10 m, 11 z, then per counter total and ttl s, per cap hash daily and monthly ('' keeps the field), per sorted
 * set member, score and ttl s.
 */
const applyRestoreLua = `
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 'lock_lost' end
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local newest_id = ''
if newest then newest_id = newest[1] end
if newest_id ~= ARGV[1] then return 'moved' end
local n, m, z = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local a = 12
for i = 1, n do
  local key = KEYS[5 + i]
  if tonumber(ARGV[a]) > tonumber(redis.call('GET', key) or '0') then
    redis.call('SET', key, ARGV[a], 'EX', ARGV[a + 1])
  end
  a = a + 2
end
for i = 1, m do
  local key = KEYS[5 + n + i]
  if ARGV[a] ~= '' then redis.call('HSET', key, 'daily', ARGV[a]) end
  if ARGV[a + 1] ~= '' then redis.call('HSET', key, 'monthly', ARGV[a + 1]) end
  a = a + 2
end
for i = 1, z do
  local key = KEYS[5 + n + m + i]
  redis.call('ZADD', key, 'GT', ARGV[a + 1], ARGV[a])
  redis.call('EXPIRE', key, ARGV[a + 2])
  a = a + 3
end
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('HSET', KEYS[5], 'json', ARGV[5], 'version', ARGV[6])
end
if ARGV[7] ~= '' then
  local stored = redis.call('HMGET', KEYS[5], 'json', 'version')
  local settings = ''
  if stored[1] then settings = cjson.encode({json = stored[1], version = tonumber(stored[2])}) end
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'caps', ARGV[7], 'settings', settings)
end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('DEL', KEYS[3])
return 'ok'
`;

export const applyRestoreScript = { command: 'deskhandBudgetApplyRestore', lua: applyRestoreLua } as const;

/** Releases the restore lock only when it is still ours. KEYS: 1 lock. ARGV: 1 token. */
export const releaseRestoreLockLua =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/** What the apply step writes (µ$ totals and key names are the caller's; this only lays out KEYS and ARGV). */
export interface RestoreWrite {
  keys: { seeded: string; record: string; rebuilding: string; config: string; settings: string };
  newestRecordId: string;
  lockToken: string;
  sentinel: string;
  sentinelTtlSeconds: number;
  settings: { json: string; version: number } | undefined;
  /** Caps JSON of a snapshot to append to the config stream (with the settings hash as it is then), or undefined. */
  appendSnapshotCaps: string | undefined;
  configLength: number;
  counters: Array<{ key: string; total: number; ttlSeconds: number }>;
  caps: Array<{ key: string; daily: number | undefined; monthly: number | undefined }>;
  rankings: Array<{ key: string; member: string; score: number; ttlSeconds: number }>;
}

/** KEYS and ARGV of `applyRestoreScript` (layout above `applyRestoreLua`). */
export function applyRestoreCall(write: RestoreWrite): ScriptCall {
  const { keys } = write;
  return {
    keys: [
      keys.seeded,
      keys.record,
      keys.rebuilding,
      keys.config,
      keys.settings,
      ...write.counters.map((counter) => counter.key),
      ...write.caps.map((cap) => cap.key),
      ...write.rankings.map((ranking) => ranking.key),
    ],
    args: [
      write.newestRecordId,
      write.lockToken,
      write.sentinel,
      write.sentinelTtlSeconds,
      write.settings?.json ?? '',
      write.settings?.version ?? 0,
      write.appendSnapshotCaps ?? '',
      write.configLength,
      write.counters.length,
      write.caps.length,
      write.rankings.length,
      ...write.counters.flatMap((counter) => [counter.total, counter.ttlSeconds]),
      ...write.caps.flatMap((cap) => [cap.daily ?? '', cap.monthly ?? '']),
      ...write.rankings.flatMap((ranking) => [ranking.member, ranking.score, ranking.ttlSeconds]),
    ],
  };
}
