/**
 * The `budget` route: `/budget` served by the budget capability, always answered ephemerally. When the budget store
 * counts tokens (`BudgetStore.tokenUsage`), the status reply also shows the tokens used in each window and a note per
 * unpriced model (charged $0 because no price is known, e.g. on a local server), so a $0 spend never reads as
 * "nothing used". If the token counters cannot be read, the money figures are still answered.
 * When Redis had lost the workspace's figures and they were restored (issue 17), the status reply says when and from
 * what ("Figures restored from the spend record at 14:05"), and that calls are refused while the caps are unknown.
 */
import { DateTime } from 'luxon';
import { type BudgetCommandDependencies, handleBudgetCommand } from '../capabilities/budget/handle-budget-command.ts';
import type { RestoreNote } from '../llm/budget-types.ts';
import type { TokenUsageReport, TokenWindow } from '../llm/token-usage.ts';
import type { CapabilityHandler, CapabilityRequest } from '../ports/capability.ts';
import type { Block } from '../ports/messenger.ts';

/** What the handler reads token counts from (`BudgetStore` satisfies it). */
export interface TokenUsageSource {
  tokenUsage(workspaceId: string, channelId: string): Promise<TokenUsageReport>;
}

/** What the handler reads the last restore from (`BudgetStore` satisfies it). */
export interface RestoreNoteSource {
  restoreNote(workspaceId: string): Promise<RestoreNote | undefined>;
}

export interface BudgetHandlerDependencies extends BudgetCommandDependencies {
  /** The budget store; token lines are shown when it can report token usage, a restore line when it notes restores. */
  budgets: BudgetCommandDependencies['budgets'] & Partial<TokenUsageSource> & Partial<RestoreNoteSource>;
}

/**
 * The `/budget` line about a restore, e.g. "Figures restored from the spend record at 14:05 (Redis had lost them)."
 * in the workspace's time zone; with the caps unknown, that model calls are refused until an admin sets them.
 */
export function restoredText(note: RestoreNote, timeZone: string): string {
  const at = DateTime.fromMillis(note.at, { zone: timeZone }).toFormat('HH:mm');
  const from =
    note.source === 'export'
      ? `this instance's local ledger export at ${at} (Redis had lost the spend record too; calls other instances recorded may be missing)`
      : note.source === 'record+export'
        ? `the spend record and this instance's local ledger export at ${at} (Redis had lost them)`
        : `the spend record at ${at} (Redis had lost them)`;
  const caps =
    note.caps === 'unknown'
      ? ' :no_entry: The caps could not be restored: model calls are refused until an admin sets them again (`/budget set <usd> daily`).'
      : '';
  return `:information_source: Figures restored from ${from}.${caps}`;
}

const labels: Record<TokenWindow, string> = {
  channel_daily: 'Channel, today',
  channel_monthly: 'Channel, this month',
  workspace_daily: 'Workspace, today',
  workspace_monthly: 'Workspace, this month',
};

const count = (value: number) => value.toLocaleString('en-US');

/**
 * Token lines for `/budget`: one per window, then one note per unpriced model used this month, e.g.
 * "Model `llama3.1:8b` is unpriced (local server): spend shows $0; 1,234 tokens used today in this channel (1,500 in
 * the workspace)."
 */
export function tokenUsageText(usage: TokenUsageReport): string {
  const lines = usage.windows.map(
    (window) =>
      `• *${labels[window.window]}*: ${count(window.inputTokens + window.outputTokens)} tokens (${count(window.inputTokens)} in, ${count(window.outputTokens)} out)`,
  );
  const windowOf = (name: TokenWindow) => usage.windows.find((window) => window.window === name);
  const unpriced = new Map<string, string>();
  for (const window of usage.windows) {
    for (const model of window.models) if (model.unpriced) unpriced.set(model.model, model.unpriced);
  }
  const tokensToday = (name: TokenWindow, model: string) => {
    const found = windowOf(name)?.models.find((entry) => entry.model === model);
    return found ? found.inputTokens + found.outputTokens : 0;
  };
  const notes = [...unpriced].map(
    ([model, reason]) =>
      `:warning: Model \`${model}\` is unpriced (${reason}): spend shows $0; ${count(tokensToday('channel_daily', model))} tokens used today in this channel (${count(tokensToday('workspace_daily', model))} in the workspace).`,
  );
  return ['*Tokens used* (counted for every model, priced or not)', ...lines, ...notes].join('\n');
}

/** The `budget` route: it only returns its reply (the router delivers it), so it needs no `Reply`. */
export function budgetHandler(
  dependencies: BudgetHandlerDependencies,
): (request: CapabilityRequest) => ReturnType<CapabilityHandler> {
  return async (request) => {
    const reply = await handleBudgetCommand(
      {
        text: request.text,
        userId: request.userId,
        workspaceId: request.workspaceId,
        channelId: request.channelId,
      },
      dependencies,
    );
    let text = reply.text;
    let blocks: Block[] | undefined = reply.blocks;
    const verb = request.text.trim().split(/\s+/)[0]?.toLowerCase() || 'show';
    const tokenUsage = dependencies.budgets.tokenUsage?.bind(dependencies.budgets);
    const restoreNote = dependencies.budgets.restoreNote?.bind(dependencies.budgets);
    if (restoreNote && (verb === 'show' || verb === 'status')) {
      try {
        const note = await restoreNote(request.workspaceId);
        if (note) {
          const line = restoredText(note, dependencies.budgets.timeZone);
          text = `${text}\n${line}`;
          if (blocks) {
            // Right after the spend figures it qualifies, before the trailing context block (who can change caps).
            const footer = blocks.at(-1)?.type === 'context' ? blocks.slice(-1) : [];
            const body = blocks.slice(0, blocks.length - footer.length);
            blocks = [...body, { type: 'section', text: { type: 'mrkdwn', text: line } }, ...footer];
          }
        }
      } catch (error) {
        dependencies.logger?.warn(
          { err: error, workspaceId: request.workspaceId },
          '/budget could not read the restore note',
        );
      }
    }
    if (tokenUsage && (verb === 'show' || verb === 'status')) {
      try {
        const tokens = tokenUsageText(await tokenUsage(request.workspaceId, request.channelId));
        text = `${text}\n${tokens}`;
        if (blocks) {
          // Before the trailing context block (who can change the caps), after the spend figures.
          const footer = blocks.at(-1)?.type === 'context' ? blocks.slice(-1) : [];
          const body = blocks.slice(0, blocks.length - footer.length);
          blocks = [...body, { type: 'section', text: { type: 'mrkdwn', text: tokens } }, ...footer];
        }
      } catch (error) {
        dependencies.logger?.warn(
          { err: error, workspaceId: request.workspaceId, channelId: request.channelId },
          '/budget could not read token counters',
        );
      }
    }
    return {
      kind: 'reply',
      visibility: 'ephemeral',
      text,
      ...(blocks ? { blocks } : {}),
    };
  };
}
