/**
 * Write tool: file a ticket in the ticket system. Never runs without an approved request; the approval is
 * bound to exactly these fields. Not idempotent unless the sink dedupes on `idempotencyKey`.
 */
import { z } from 'zod';
import { truncate } from '../../../slack-kit/mrkdwn.ts';
import type { AgentTool } from '../tool-registry.ts';

export const fileTicketInputSchema = z
  .object({
    summary: z.string().trim().min(3).max(200),
    category: z.string().trim().min(1).max(60),
    urgency: z.enum(['low', 'medium', 'high', 'critical']),
    description: z.string().trim().max(4000).default(''),
    orderIds: z.array(z.string().trim().min(1).max(60)).max(20).default([]),
    customerEmail: z.email().nullable().default(null),
  })
  .strict();

export type FileTicketArguments = z.infer<typeof fileTicketInputSchema>;

export type FileTicket = (request: {
  ticket: FileTicketArguments;
  workspaceId: string;
  channelId: string;
  threadTs: string | undefined;
  requesterId: string;
  approvedBy: string | undefined;
  idempotencyKey: string;
  signal: AbortSignal;
}) => Promise<{ reference: string; url?: string }>;

export function createFileTicketTool(dependencies: {
  fileTicket: FileTicket;
  /** Name of the ticket system shown on cards, e.g. "the support queue". */
  destinationName: string;
  /** Set when the sink dedupes on `idempotencyKey`, so a call lost in a crash can be re-run safely. */
  sinkDedupes?: boolean;
}): AgentTool<FileTicketArguments> {
  return {
    name: 'file_ticket',
    description: 'File a support ticket. Needs human approval before it runs.',
    inputSchema: fileTicketInputSchema,
    risk: 'write',
    costMicroUsd: 0,
    timeoutMs: 15_000,
    idempotent: dependencies.sinkDedupes === true,
    describe: (args) => ({
      summary:
        `File a ${args.urgency}-urgency "${args.category}" ticket in ${dependencies.destinationName}: ` +
        `"${truncate(args.summary, 200)}"` +
        (args.orderIds.length > 0 ? ` (orders ${args.orderIds.join(', ')})` : '') +
        (args.customerEmail ? ` for ${args.customerEmail}` : ''),
      target: `tickets:${dependencies.destinationName}`,
    }),
    async run(args, context) {
      const filed = await dependencies.fileTicket({
        ticket: args,
        workspaceId: context.workspaceId,
        channelId: context.channelId,
        threadTs: context.threadTs,
        requesterId: context.requesterId,
        approvedBy: context.approvedBy,
        idempotencyKey: context.idempotencyKey,
        signal: context.signal,
      });
      return { content: `Filed ticket ${filed.reference}${filed.url ? ` (${filed.url})` : ''}.` };
    },
  };
}
