/**
 * The budget figures of the fault test, read straight from Redis (through the sentinels, so from the current
 * master) and from what the fake OpenAI server was asked:
 * - the spent counters the budget scripts keep (channel today, workspace today; key names from
 *   src/llm/budget-keys.ts), the reserved (in-flight) amounts and the channel's cap overrides;
 * - the spend record: the workspace's stream `<prefix>{T…}:budget:record` (one entry per settled call, field
 *   `cost` in µ$, `channel`, `day`, `kind`), summed for the same windows — counters and record must agree;
 * - the true spend: every chat and embedding call the fake answered whose body carries a marker, priced from the
 *   tokens the fake reported (its own counting: `fakePromptTokens`, tiktoken for the reply and embedding inputs)
 *   at gpt-4o-mini's and text-embedding-3-small's list prices. That is what the provider would bill, whatever the
 *   app recorded.
 */
import type { Redis } from 'ioredis';
import { get_encoding, type Tiktoken } from 'tiktoken';
import { budgetKeys } from '../../src/llm/budget-keys.ts';
import { fakePromptTokens, type RecordedCall } from '../fakes/openai-server.ts';

export interface BudgetSnapshot {
  label: string;
  at: number;
  /** µ$ counters; null when the key does not exist. */
  channelSpent: number | null;
  workspaceSpent: number | null;
  /** Sum of the reserved hash's fields for this channel's day (µ$ still held by calls in flight). */
  channelReserved: number;
  /** Raw fields of the channel's cap hash (empty: no override, the default cap applies). */
  channelCaps: Record<string, string>;
  /** The spend record summed for the same windows; null when the stream does not exist. */
  recordChannel: number | null;
  recordWorkspace: number | null;
  recordEntries: number;
  recordKinds: Record<string, number>;
  /** The restore sentinel (`…:budget:seeded`) when present. */
  seeded: string | null;
}

export async function budgetSnapshot(
  redis: Redis,
  input: { label: string; keyPrefix: string; workspaceId: string; channelId: string; day: string; month: string },
): Promise<BudgetSnapshot> {
  const keys = budgetKeys(input.keyPrefix, input.workspaceId, input.channelId, { day: input.day, month: input.month });
  const base = `${input.keyPrefix}{${input.workspaceId}}:budget:`;
  // One MULTI, so no settlement lands between reading the counters and reading the record.
  const replies = await redis
    .multi()
    .get(keys.spentChannelDay)
    .get(keys.spentWorkspaceDay)
    .hgetall(keys.reserved)
    .hgetall(keys.channelCaps)
    .get(`${base}seeded`)
    .exists(`${base}record`)
    .xrange(`${base}record`, '-', '+')
    .exec();
  if (!replies) throw new Error('the budget snapshot transaction was aborted');
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
  const [channelSpent, workspaceSpent, reserved, caps, seeded, streamExists, entries] = replies.map(
    ([, value]) => value,
  ) as [
    string | null,
    string | null,
    Record<string, string>,
    Record<string, string>,
    string | null,
    number,
    [string, string[]][],
  ];
  let recordChannel = 0;
  let recordWorkspace = 0;
  const recordKinds: Record<string, number> = {};
  for (const [, fields] of entries) {
    const field: Record<string, string> = {};
    for (let index = 0; index + 1 < fields.length; index += 2)
      field[fields[index] as string] = fields[index + 1] as string;
    recordKinds[field.kind ?? '?'] = (recordKinds[field.kind ?? '?'] ?? 0) + 1;
    if (field.day !== input.day) continue;
    const cost = Number(field.cost ?? 0);
    recordWorkspace += cost;
    if (field.channel === input.channelId) recordChannel += cost;
  }
  const channelReserved = keys.reservedFields.slice(0, 1).reduce((sum, name) => sum + Number(reserved[name] ?? 0), 0);
  return {
    label: input.label,
    at: Date.now(),
    channelSpent: channelSpent === null ? null : Number(channelSpent),
    workspaceSpent: workspaceSpent === null ? null : Number(workspaceSpent),
    channelReserved,
    channelCaps: caps,
    recordChannel: streamExists ? recordChannel : null,
    recordWorkspace: streamExists ? recordWorkspace : null,
    recordEntries: entries.length,
    recordKinds,
    seeded,
  };
}

/** List prices in USD per million tokens (src/llm/prices.ts: gpt-4o-mini, text-embedding-3-small). */
const prices = { chatInput: 0.15, chatOutput: 0.6, embeddingInput: 0.02 };

export interface TrueSpend {
  microUsd: number;
  chatCalls: number;
  embeddingCalls: number;
}

/**
 * What the calls whose body matches `marker` cost at list prices, with the tokens the fake reported: prompt tokens
 * by the fake's own counting, completion tokens of the reply `replyFor` gave (the test's scripted answers).
 */
export function trueSpend(
  calls: readonly RecordedCall[],
  marker: RegExp,
  replyFor: (body: Record<string, unknown>) => string,
): TrueSpend {
  const encoders = new Map<string, Tiktoken>();
  const encoder = (name: 'o200k_base' | 'cl100k_base') => {
    let found = encoders.get(name);
    if (!found) {
      found = get_encoding(name);
      encoders.set(name, found);
    }
    return found;
  };
  try {
    let microUsd = 0;
    let chatCalls = 0;
    let embeddingCalls = 0;
    for (const call of calls) {
      if (!marker.test(call.rawBody)) continue;
      const body = call.body as Record<string, unknown>;
      if (call.path.endsWith('/chat/completions')) {
        chatCalls += 1;
        const completion = encoder('o200k_base').encode_ordinary(replyFor(body)).length;
        microUsd += fakePromptTokens(body) * prices.chatInput + completion * prices.chatOutput;
      } else if (call.path.endsWith('/embeddings')) {
        embeddingCalls += 1;
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        const embeddingEncoder = encoder('cl100k_base');
        for (const text of inputs)
          microUsd += embeddingEncoder.encode_ordinary(String(text)).length * prices.embeddingInput;
      }
    }
    return { microUsd, chatCalls, embeddingCalls };
  } finally {
    for (const found of encoders.values()) found.free();
  }
}
