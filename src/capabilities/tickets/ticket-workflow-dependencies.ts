/**
 * What every part of the ticket workflow is built from: the extraction, the draft store, the Messenger port, the
 * sinks, the categories and the workspace time zone. Types only; imports no part of the workflow, so every part
 * (and the `TicketWorkflow` facade) can import it.
 */
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import type { Messenger } from '../../ports/messenger.ts';
import type { ExtractTicketDependencies } from './extract-ticket.ts';
import type { HandOverStore } from './hand-over-store.ts';
import type { TicketExampleStore } from './learning/ticket-example-store.ts';
import type { TicketSink } from './sinks/ticket-sink.ts';
import type { TicketStore } from './ticket-store.ts';

export interface TicketWorkflowDependencies {
  extraction: ExtractTicketDependencies;
  store: TicketStore;
  messenger: Messenger;
  sinks: readonly TicketSink[];
  categories: readonly string[];
  /** Workspace time zone (`TIME_ZONE`) for relative dates. */
  timeZone: string;
  /** Where saved edits and filed tickets become labelled examples (learning from corrections); absent: none. */
  ticketExamples?: TicketExampleStore;
  /** The "Get a human" records (issue 16); absent: the button says hand-over is not set up. */
  handOvers?: HandOverStore;
  logger?: Logger;
  /** When given: `deskhand_ticket_extractions_total{trigger,outcome}` and `deskhand_ticket_filings_total{outcome}`. */
  metrics?: Registry;
  now?: () => Date;
}
