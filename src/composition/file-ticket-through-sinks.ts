/**
 * The agent's `file_ticket` tool: delivers the approved ticket to every configured sink, with an id derived from
 * the run's idempotency key (`DH-…`, like a card's; sinks key their delivery records on it, so a re-run files
 * nothing twice). Without a sink there is nowhere
 * to file, which is a clear outcome rather than a silent success.
 */
import type { FileTicket } from '../capabilities/agent/tools/file-ticket.ts';
import type { TicketSink } from '../capabilities/tickets/sinks/ticket-sink.ts';
import { emptyTicket } from '../capabilities/tickets/ticket-schema.ts';
import { ticketIdFor } from '../capabilities/tickets/ticket-store.ts';
import { DeskhandError } from '../errors.ts';

export async function fileTicketThroughSinks(
  request: Parameters<FileTicket>[0],
  sinks: readonly TicketSink[],
  teamLanguage: string,
): Promise<{ reference: string; url?: string }> {
  if (sinks.length === 0) {
    throw new DeskhandError('configuration', 'no ticket sink configured', {
      userMessage: 'No ticket destination is configured (TICKET_TRIAGE_CHANNEL_ID or TICKET_WEBHOOK_URL).',
    });
  }
  const { ticket } = request;
  const ticketId = ticketIdFor(request.idempotencyKey);
  let reference = ticketId;
  for (const sink of sinks) {
    const result = await sink.deliver({
      ticketId,
      workspaceId: request.workspaceId,
      ticket: emptyTicket({
        summary: ticket.summary,
        category: ticket.category,
        urgency: ticket.urgency,
        orderIds: ticket.orderIds,
        customerEmail: ticket.customerEmail,
        language: teamLanguage,
        confidence: 1,
      }),
      source: { channelId: request.channelId, messageTs: request.threadTs ?? request.idempotencyKey },
      filedBy: request.approvedBy ?? request.requesterId,
      filedAt: new Date().toISOString(),
      extractedWithoutModel: false,
    });
    if (result.reference) reference = result.reference;
  }
  return { reference };
}
