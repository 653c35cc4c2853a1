/**
 * A destination for filed tickets (a triage channel, a webhook, …). `fileTicket` calls each configured sink
 * at most once per ticket; a sink throws `DeskhandError` when delivery failed so the next File click retries it.
 */
import type { HandOverDetails } from '../hand-over-card.ts';
import type { Ticket } from '../ticket-schema.ts';

export interface TicketDelivery {
  /** Ticket id: also the idempotency key. */
  ticketId: string;
  workspaceId: string;
  ticket: Ticket;
  source: { channelId: string; messageTs: string; permalink?: string };
  filedBy: string;
  filedAt: string;
  extractedWithoutModel: boolean;
  /** Set for a ticket handed over from an answer or agent run: the question, answer given, sources, thread link. */
  handOver?: HandOverDetails;
}

export interface SinkResult {
  /** The sink's own reference for the ticket (e.g. the help desk's id), when it returns one. */
  reference?: string;
  /** Where people can see the ticket (e.g. the triage message's permalink). */
  link?: string;
}

export interface TicketSink {
  /** Stable name: the delivery record is keyed by it. */
  readonly name: string;
  deliver(delivery: TicketDelivery): Promise<SinkResult>;
}
