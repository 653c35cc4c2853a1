/**
 * `spendTotals`: what a set of settled calls adds up to in the current day and month — per channel, per workspace and
 * per person today, spend and tokens per model — de-duplicated by request id (the first entry of an id counts).
 * Shared by the rebuild from the spend record (`budget-restore.ts`) and from the local ledger export (`ledger.ts`).
 */
import { isBudgetId } from './budget-keys.ts';
import { type ModelTokens, tokenArguments } from './token-usage.ts';

/** One settled call, as the spend record and the ledger export both describe it. */
export interface RecordedSpend {
  requestId: string;
  workspaceId: string;
  channelId: string;
  userId?: string | undefined;
  day: string;
  month: string;
  model: string;
  costMicroUsd: number;
  inputTokens: number;
  outputTokens: number;
  unpriced?: string | undefined;
}

/** Adds up de-duplicated entries of the current month per channel, workspace and (today's) person. */
export function spendTotals(entries: readonly RecordedSpend[], current: { day: string; month: string }) {
  const seen = new Set<string>();
  const channelTotals = new Map<string, ChannelTotals>();
  const workspaceTotals = new Map<string, WorkspaceTotals>();
  const userTotals = new Map<string, UserTotals>();
  for (const entry of entries) {
    if (seen.has(entry.requestId)) continue;
    seen.add(entry.requestId);
    if (entry.month !== current.month) continue;
    const key = `${entry.workspaceId}\u0000${entry.channelId}`;
    const totals = channelTotals.get(key) ?? {
      workspaceId: entry.workspaceId,
      channelId: entry.channelId,
      day: 0,
      month: 0,
      dayTokens: new Map(),
      monthTokens: new Map(),
    };
    const workspace = workspaceTotals.get(entry.workspaceId) ?? {
      day: 0,
      dayTokens: new Map(),
      monthTokens: new Map(),
    };
    totals.month += entry.costMicroUsd;
    addTokens(totals.monthTokens, entry);
    addTokens(workspace.monthTokens, entry);
    if (entry.day === current.day) {
      totals.day += entry.costMicroUsd;
      workspace.day += entry.costMicroUsd;
      addTokens(totals.dayTokens, entry);
      addTokens(workspace.dayTokens, entry);
      if (typeof entry.userId === 'string' && isBudgetId(entry.userId)) {
        const userKey = `${entry.workspaceId}\u0000${entry.userId}`;
        const user = userTotals.get(userKey) ?? { workspaceId: entry.workspaceId, userId: entry.userId, day: 0 };
        user.day += entry.costMicroUsd;
        userTotals.set(userKey, user);
      }
    }
    channelTotals.set(key, totals);
    workspaceTotals.set(entry.workspaceId, workspace);
  }
  return { seen, channelTotals, workspaceTotals, userTotals };
}

/** A person's spend today in one workspace. */
export interface UserTotals {
  workspaceId: string;
  userId: string;
  day: number;
}

/** A channel's spend and tokens per model in the current day and month. */
export interface ChannelTotals {
  workspaceId: string;
  channelId: string;
  day: number;
  month: number;
  dayTokens: Map<string, ModelTokens>;
  monthTokens: Map<string, ModelTokens>;
}

/** A workspace's spend in the current day, and its tokens per model in the current day and month. */
export interface WorkspaceTotals {
  day: number;
  dayTokens: Map<string, ModelTokens>;
  monthTokens: Map<string, ModelTokens>;
}

/** Adds an entry's tokens to its model's totals, counted as the settle script counts them (clamped, whole). */
function addTokens(models: Map<string, ModelTokens>, entry: RecordedSpend): void {
  if (typeof entry.model !== 'string' || entry.model === '') return;
  const [, input, output] = tokenArguments({
    model: entry.model,
    inputTokens: Number(entry.inputTokens),
    outputTokens: Number(entry.outputTokens),
  });
  const totals = models.get(entry.model) ?? { model: entry.model, inputTokens: 0, outputTokens: 0 };
  totals.inputTokens += Number(input);
  totals.outputTokens += Number(output);
  if (entry.unpriced) totals.unpriced = entry.unpriced;
  models.set(entry.model, totals);
}
