/**
 * Token counters kept beside the money counters, so budgets still count use when a model is charged $0 (a local
 * server, an unpriced model). Per window — the channel's day and month, the workspace's day and month — a hash holds
 * `in:<model>` and `out:<model>` (provider-reported tokens, as settled) and `unpriced:<model>` = why that model was
 * charged $0 without a price (e.g. "local server").
 *
 * Guarantees: the counters are incremented inside the budget store's settle script (`tokenCountersLua`), so they move
 * atomically with the spend and only once per request id (a second settle of the same request is a no-op); their keys
 * carry the workspace hash tag like every budget key, so the script stays in one Redis Cluster slot. Cache hits and
 * released reservations count no tokens: the provider did no work.
 */

export type TokenWindow = 'channel_daily' | 'channel_monthly' | 'workspace_daily' | 'workspace_monthly';
export const tokenWindows: readonly TokenWindow[] = [
  'channel_daily',
  'channel_monthly',
  'workspace_daily',
  'workspace_monthly',
];

/** What a settled call used, as the provider reported it (our own count only when it reported none). */
export interface SettledTokens {
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Why the model was charged $0 without a known price (`PriceTable.unpricedReason`); unset when priced. */
  unpriced?: string | undefined;
}

export interface ModelTokens {
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Set when the model was charged $0 without a known price in this window, e.g. "local server". */
  unpriced?: string;
}

export interface TokenWindowUsage {
  window: TokenWindow;
  inputTokens: number;
  outputTokens: number;
  /** Per model, most tokens first. */
  models: ModelTokens[];
}

export interface TokenUsageReport {
  workspaceId: string;
  channelId: string;
  windows: TokenWindowUsage[];
}

/** The four counter keys, in `tokenWindows` order. `base` ends with the workspace's hash-tagged budget prefix. */
export function tokenKeys(base: string, channelId: string, windows: { day: string; month: string }): string[] {
  return [
    `${base}tokens:ch:${channelId}:d:${windows.day}`,
    `${base}tokens:ch:${channelId}:m:${windows.month}`,
    `${base}tokens:ws:d:${windows.day}`,
    `${base}tokens:ws:m:${windows.month}`,
  ];
}

/**
 * Lua for the settle script: `count_tokens(keys, model, input, output, unpriced, day_ttl, month_ttl)` adds one call's
 * tokens to the four hashes in `keys` (a Lua array in `tokenKeys` order). A call without a model ('') counts nothing.
 */
export const tokenCountersLua = `
local function count_tokens(keys, model, input, output, unpriced, day_ttl, month_ttl)
  if model == '' then return end
  local ttls = {day_ttl, month_ttl, day_ttl, month_ttl}
  for i = 1, 4 do
    redis.call('HINCRBY', keys[i], 'in:' .. model, input)
    redis.call('HINCRBY', keys[i], 'out:' .. model, output)
    if unpriced ~= '' then redis.call('HSET', keys[i], 'unpriced:' .. model, unpriced) end
    redis.call('EXPIRE', keys[i], ttls[i])
  end
end
`;

/**
 * Lua for the ledger rebuild: raises the hash KEYS[1]'s fields to at least the given totals and never lowers one
 * (Redis may hold use the ledger has not seen). ARGV: 1 ttl s, then field/value pairs; an `unpriced:<model>` field is
 * only set when missing. The TTL is set only when a field changed.
 */
export const raiseTokenCountersLua = `
local changed = false
for i = 2, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  if string.sub(field, 1, 9) == 'unpriced:' then
    if redis.call('HSETNX', KEYS[1], field, value) == 1 then changed = true end
  elseif tonumber(value) > tonumber(redis.call('HGET', KEYS[1], field) or '0') then
    redis.call('HSET', KEYS[1], field, value)
    changed = true
  end
end
if changed then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return changed and 1 or 0
`;

/** The field/value pairs `raiseTokenCountersLua` raises one window's hash to (models with no tokens are skipped). */
export function raiseTokenArguments(models: Iterable<ModelTokens>): string[] {
  const pairs: string[] = [];
  for (const { model, inputTokens, outputTokens, unpriced } of models) {
    if (model === '') continue;
    if (inputTokens > 0) pairs.push(`in:${model}`, String(inputTokens));
    if (outputTokens > 0) pairs.push(`out:${model}`, String(outputTokens));
    if (unpriced) pairs.push(`unpriced:${model}`, unpriced);
  }
  return pairs;
}

/**
 * The settle script's arguments for one call's tokens: model, input, output, unpriced reason. Counts that are not
 * non-negative integers (a provider's odd usage) are clamped rather than refused: the counters are a report, and
 * the money settled in the same script must never fail because of them.
 */
export function tokenArguments(tokens: SettledTokens | undefined): Array<string | number> {
  if (!tokens) return ['', 0, 0, ''];
  const clamp = (count: number) => (Number.isFinite(count) ? Math.max(0, Math.min(Math.floor(count), 2 ** 52)) : 0);
  return [tokens.model, clamp(tokens.inputTokens), clamp(tokens.outputTokens), tokens.unpriced ?? ''];
}

/** Turns the four hashes (HGETALL replies, `tokenWindows` order) into per-window totals. */
export function parseTokenUsage(
  workspaceId: string,
  channelId: string,
  hashes: ReadonlyArray<Record<string, string>>,
): TokenUsageReport {
  return {
    workspaceId,
    channelId,
    windows: tokenWindows.map((window, index) => {
      const models = new Map<string, ModelTokens>();
      const entry = (model: string) => {
        let found = models.get(model);
        if (!found) {
          found = { model, inputTokens: 0, outputTokens: 0 };
          models.set(model, found);
        }
        return found;
      };
      for (const [field, value] of Object.entries(hashes[index] ?? {})) {
        const separator = field.indexOf(':');
        const kind = field.slice(0, separator);
        const model = field.slice(separator + 1);
        if (separator < 1 || model === '') continue;
        if (kind === 'in') entry(model).inputTokens = Number(value) || 0;
        else if (kind === 'out') entry(model).outputTokens = Number(value) || 0;
        else if (kind === 'unpriced') entry(model).unpriced = value;
      }
      const list = [...models.values()].sort(
        (a, b) => b.inputTokens + b.outputTokens - (a.inputTokens + a.outputTokens) || a.model.localeCompare(b.model),
      );
      return {
        window,
        inputTokens: list.reduce((sum, model) => sum + model.inputTokens, 0),
        outputTokens: list.reduce((sum, model) => sum + model.outputTokens, 0),
        models: list,
      };
    }),
  };
}
