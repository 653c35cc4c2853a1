/**
 * The spend record: what each workspace spent and how its caps were set, kept in Redis Streams every replica reads
 * (issue 17, item 2). Two streams per workspace, both under the workspace's hash tag `{T…}` (one Redis Cluster
 * slot, so the scripts that write them also write the counters in the same step):
 *
 * - `<prefix>{T…}:budget:record` — one entry per settled call, appended by the settle script itself (so an entry
 *   exists exactly when the counters moved). Fields: `kind` (`settle`, or `restored` for an entry copied back from
 *   a replica's local export after Redis lost the stream), `request`, `channel`, `user` ('' when unknown), `day`,
 *   `month` (the windows fixed at reservation), `cost` (µ$), `model`, `in`, `out`, `unpriced` ('' when priced),
 *   `purpose`. The entry id's milliseconds are the Redis clock at settlement. Bounded by age: every append trims
 *   entries older than `recordRetentionMs` (`XADD … MINID ~`), longer than the longest window a rebuild restores
 *   (the calendar month) — trimming never drops an entry a rebuild still needs.
 * - `<prefix>{T…}:budget:config` — caps and settings: every change appends a FULL snapshot (`caps`: JSON of each
 *   channel's overrides; `settings`: JSON `{json, version}` of the workspace settings, '' when none), so the newest
 *   entry alone restores them and the stream can be trimmed by count (`MAXLEN ~ configRecordLength`).
 *
 * A release charges nothing and writes no entry: the record holds what was spent, not what was attempted.
 */
import type { Redis } from 'ioredis';

/** Entries older than this are trimmed: the longest window restored is a calendar month (≤ 31 days) plus slack. */
export const recordRetentionMs = 35 * 86_400_000;
/** Config entries kept (each is a full snapshot; only the newest is needed). */
export const configRecordLength = 100;

/** One settled call as the spend record holds it. */
export interface SpendRecordEntry {
  /** Stream entry id (`<ms>-<seq>`); '' for an entry not read from Redis. */
  id: string;
  kind: 'settle' | 'restored';
  requestId: string;
  channelId: string;
  userId?: string | undefined;
  day: string;
  month: string;
  costMicroUsd: number;
  model: string;
  inputTokens: number;
  outputTokens: number;
  unpriced?: string | undefined;
  purpose?: string | undefined;
}

/** A channel's cap overrides in µ$ (absent: the workspace default applies). */
export interface ChannelCapOverrides {
  daily?: number;
  monthly?: number;
}

/** The caps and settings in force after one change: the newest snapshot restores them all. */
export interface ConfigSnapshot {
  caps: Record<string, ChannelCapOverrides>;
  /** The workspace settings hash as stored (its JSON text and version); undefined when never saved. */
  settings?: { json: string; version: number };
}

const spendFieldOrder = [
  'kind',
  'request',
  'channel',
  'user',
  'day',
  'month',
  'cost',
  'model',
  'in',
  'out',
  'unpriced',
  'purpose',
] as const;

/** The stream fields of an entry (flat field/value pairs, `XADD` order): what `kind=restored` appends. */
export function spendEntryFields(entry: Omit<SpendRecordEntry, 'id'>): string[] {
  const values: Record<(typeof spendFieldOrder)[number], string> = {
    kind: entry.kind,
    request: entry.requestId,
    channel: entry.channelId,
    user: entry.userId ?? '',
    day: entry.day,
    month: entry.month,
    cost: String(entry.costMicroUsd),
    model: entry.model,
    in: String(entry.inputTokens),
    out: String(entry.outputTokens),
    unpriced: entry.unpriced ?? '',
    purpose: entry.purpose ?? '',
  };
  return spendFieldOrder.flatMap((field) => [field, values[field]]);
}

/**
 * Reads one stream entry (`[id, [field, value, …]]` as XRANGE answers it). Returns undefined for an entry that is not
 * a well-formed spend entry (unknown kind, missing request id, a cost that is not a non-negative integer), so one
 * damaged entry cannot poison a rebuild.
 */
export function parseSpendEntry(id: string, fields: readonly string[]): SpendRecordEntry | undefined {
  const map = fieldMap(fields);
  const kind = map.get('kind');
  const requestId = map.get('request');
  const channelId = map.get('channel');
  const cost = Number(map.get('cost'));
  if ((kind !== 'settle' && kind !== 'restored') || !requestId || !channelId) return undefined;
  if (!Number.isSafeInteger(cost) || cost < 0) return undefined;
  const day = map.get('day') ?? '';
  const month = map.get('month') ?? '';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || month !== day.slice(0, 7)) return undefined;
  const count = (name: string) => {
    const value = Number(map.get(name) ?? 0);
    return Number.isSafeInteger(value) && value >= 0 ? value : 0;
  };
  const user = map.get('user');
  const unpriced = map.get('unpriced');
  const purpose = map.get('purpose');
  return {
    id,
    kind,
    requestId,
    channelId,
    ...(user ? { userId: user } : {}),
    day,
    month,
    costMicroUsd: cost,
    model: map.get('model') ?? '',
    inputTokens: count('in'),
    outputTokens: count('out'),
    ...(unpriced ? { unpriced } : {}),
    ...(purpose ? { purpose } : {}),
  };
}

/** The snapshot in a config entry, or undefined when it does not parse. */
export function parseConfigEntry(fields: readonly string[]): ConfigSnapshot | undefined {
  const map = fieldMap(fields);
  try {
    const caps = parseCaps(JSON.parse(map.get('caps') ?? '{}'));
    if (!caps) return undefined;
    const settingsText = map.get('settings') ?? '';
    if (settingsText === '') return { caps };
    const settings = JSON.parse(settingsText) as { json?: unknown; version?: unknown };
    if (typeof settings.json !== 'string' || !Number.isSafeInteger(settings.version)) return undefined;
    return { caps, settings: { json: settings.json, version: Number(settings.version) } };
  } catch {
    return undefined;
  }
}

/** Checks a caps object read from a snapshot (a stream entry or a local export line). */
export function parseCaps(value: unknown): ConfigSnapshot['caps'] | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const caps: ConfigSnapshot['caps'] = {};
  for (const [channelId, windows] of Object.entries(value)) {
    if (typeof windows !== 'object' || windows === null) return undefined;
    const entry: ChannelCapOverrides = {};
    for (const window of ['daily', 'monthly'] as const) {
      const cap = (windows as Record<string, unknown>)[window];
      if (cap === undefined) continue;
      if (!Number.isSafeInteger(cap) || (cap as number) < 0) return undefined;
      entry[window] = cap as number;
    }
    caps[channelId] = entry;
  }
  return caps;
}

/**
 * Lua: `append_config(config_key, seeded_key, part, value, maxlen)` — appends a full snapshot to the config stream
 * with `part` ('caps' or 'settings') replaced by `value` and the other part carried over from the newest entry. An
 * admin's change also ends a "caps unknown" state (the seeded sentinel's `"caps":"unknown"`, see budget-restore.ts):
 * they were told to set the caps again, and did.
 */
export const appendConfigLua = `
local function append_config(config_key, seeded_key, part, value, maxlen)
  local snapshot = {caps = '{}', settings = ''}
  local newest = redis.call('XREVRANGE', config_key, '+', '-', 'COUNT', 1)[1]
  if newest then
    local fields = newest[2]
    for i = 1, #fields, 2 do snapshot[fields[i]] = fields[i + 1] end
  end
  snapshot[part] = value
  redis.call('XADD', config_key, 'MAXLEN', '~', maxlen, '*', 'caps', snapshot['caps'], 'settings', snapshot['settings'])
  local seeded = redis.call('GET', seeded_key)
  if seeded and string.find(seeded, '"caps":"unknown"', 1, true) then
    local ttl = redis.call('TTL', seeded_key)
    local fixed = string.gsub(seeded, '"caps":"unknown"', '"caps":"reset"')
    if ttl > 0 then redis.call('SET', seeded_key, fixed, 'EX', ttl) else redis.call('SET', seeded_key, fixed) end
  end
  return snapshot
end
`;

/** Every spend entry of a stream, oldest first, read in pages (XRANGE … COUNT) so no reply is unbounded. */
export async function readSpendRecord(
  redis: Pick<Redis, 'xrange'>,
  key: string,
  after = '-',
  pageSize = 2000,
): Promise<{ entries: SpendRecordEntry[]; lastId: string; damaged: number }> {
  const entries: SpendRecordEntry[] = [];
  let damaged = 0;
  let start = after;
  let lastId = after === '-' ? '' : after;
  for (;;) {
    const page = await redis.xrange(key, start === '-' ? '-' : `(${start}`, '+', 'COUNT', pageSize);
    for (const [id, fields] of page) {
      const entry = parseSpendEntry(id, fields);
      if (entry) entries.push(entry);
      else damaged += 1;
      lastId = id;
    }
    if (page.length < pageSize) break;
    start = lastId;
  }
  return { entries, lastId, damaged };
}

/** The newest config snapshot of a workspace, or undefined when the stream is empty or its newest entry is damaged. */
export async function readConfigRecord(
  redis: Pick<Redis, 'xrevrange'>,
  key: string,
): Promise<ConfigSnapshot | undefined> {
  const [newest] = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
  return newest ? parseConfigEntry(newest[1]) : undefined;
}

function fieldMap(fields: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let index = 0; index + 1 < fields.length; index += 2) map.set(fields[index] ?? '', fields[index + 1] ?? '');
  return map;
}
