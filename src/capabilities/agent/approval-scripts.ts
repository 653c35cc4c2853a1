/**
 * The approval store's Lua scripts and their KEYS/ARGV layout.
 *
 * Guarantees:
 * - A new request and its audit entry are written in one script (`createRequestScript`), so a request is never
 *   stored without its audit trail.
 * - `decideScript` is the one compare-and-set of `pending → approved | rejected`: exactly one decision wins, every
 *   other attempt (double click, a second approver, a replay, expiry racing a click) learns who decided first, a
 *   wrong hash is refused, and every attempt is appended to the run's audit log in the same script.
 * - Each script touches only keys of one workspace (`agent:{T…}:…`), so it runs on one Redis Cluster slot.
 */

// Stores a new pending request and its audit entry atomically.
// KEYS: request hash, audit list. ARGV: request id, request JSON, hash, expiresAt (ms), keep (s), audit entry JSON.
export const createRequestScript = `
redis.call('HSET', KEYS[1], 'requestId', ARGV[1], 'request', ARGV[2], 'status', 'pending', 'hash', ARGV[3],
  'expiresAt', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('RPUSH', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
`;

// KEYS: audit list. ARGV: audit entry JSON, audit TTL (s).
export const appendAuditScript = `
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

// Compare-and-set pending → approved|rejected. KEYS: request hash, audit list. ARGV: expected hash ('' skips the
// check), new status, actor, now (ms), reason, action label, audit TTL (s), enforce expiry ('1'|'0').
export const decideScript = `
local key, audit = KEYS[1], KEYS[2]
local expected, decision, actor, now, reason, action, auditTtl, enforceExpiry =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local status = redis.call('HGET', key, 'status')
if not status then return {'not_found'} end
local requestId = redis.call('HGET', key, 'requestId')
local function log(result, decidedBy)
  redis.call('RPUSH', audit, cjson.encode({at = tonumber(now), requestId = requestId, actor = actor,
    action = action, result = result, decidedBy = decidedBy}))
  redis.call('EXPIRE', audit, auditTtl)
end
if expected ~= '' and redis.call('HGET', key, 'hash') ~= expected then
  log('hash_mismatch', nil)
  return {'hash_mismatch'}
end
if status ~= 'pending' then
  log('already_decided', redis.call('HGET', key, 'decidedBy'))
  return {'already_decided'}
end
if enforceExpiry == '1' and tonumber(redis.call('HGET', key, 'expiresAt')) <= tonumber(now) then
  redis.call('HSET', key, 'status', 'rejected', 'decidedBy', 'expiry', 'decidedAt', now, 'reason', 'expired')
  log('expired', 'expiry')
  return {'expired'}
end
redis.call('HSET', key, 'status', decision, 'decidedBy', actor, 'decidedAt', now, 'reason', reason)
log(decision, actor)
return {'decided'}
`;
