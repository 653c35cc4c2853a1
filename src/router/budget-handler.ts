/** The `budget` route: `/budget` served by the budget capability, always answered ephemerally. */
import { type BudgetCommandDependencies, handleBudgetCommand } from '../capabilities/budget/handle-budget-command.ts';
import type { CapabilityHandler } from './types.ts';

export function budgetHandler(dependencies: BudgetCommandDependencies): CapabilityHandler {
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
    return {
      kind: 'reply',
      visibility: 'ephemeral',
      text: reply.text,
      ...(reply.blocks ? { blocks: reply.blocks } : {}),
    };
  };
}
