/**
 * Read tool: turn a customer message into a ticket draft (no side effect; filing is `file_ticket`). The
 * extraction itself is the tickets capability, injected.
 */
import { z } from 'zod';
import type { AgentTool } from '../tool-registry.ts';

export type ExtractTicket = (request: {
  text: string;
  workspaceId: string;
  channelId: string;
  userId: string;
  signal: AbortSignal;
}) => Promise<{ ticket: Record<string, unknown>; costMicroUsd?: number }>;

const inputSchema = z
  .object({
    text: z.string().trim().min(1).max(8000).describe('The customer message to extract the ticket from'),
  })
  .strict();

export type ExtractTicketArguments = z.infer<typeof inputSchema>;

export function createExtractTicketTool(dependencies: {
  extractTicket: ExtractTicket;
}): AgentTool<ExtractTicketArguments> {
  return {
    name: 'extract_ticket',
    description:
      'Extract a support ticket draft (summary, category, urgency, order ids, customer) from a message. ' +
      'Does not file anything.',
    inputSchema,
    risk: 'read',
    costMicroUsd: 3000,
    timeoutMs: 30_000,
    idempotent: true,
    describe: () => ({ summary: 'Extract a ticket draft from a message', target: 'none' }),
    async run(args, context) {
      const { ticket, costMicroUsd } = await dependencies.extractTicket({
        text: args.text,
        workspaceId: context.workspaceId,
        channelId: context.channelId,
        userId: context.requesterId,
        signal: context.signal,
      });
      return { content: JSON.stringify(ticket), ...(costMicroUsd === undefined ? {} : { costMicroUsd }) };
    },
  };
}
