/**
 * Tickets for the work side: `/ticket`, the message shortcut, the ticket reaction and ticket mentions (the
 * `ticket` capability), the ticket card's buttons and its edit modal, all served by one `TicketWorkflow`. Without
 * a model every card is made by rules and the gateway is never called.
 */
import type { Redis } from 'ioredis';
import { createTicketWorkflow } from '../capabilities/tickets/create-ticket-workflow.ts';
import { ticketActionIds, ticketEditModalCallbackId } from '../capabilities/tickets/ticket-ids.ts';
import type { Configuration } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { LanguageModelGateway } from '../ports/language-model.ts';
import type { CapabilityHandler } from '../router/types.ts';
import type { InteractionHandlers } from '../slack/listeners/dependencies.ts';
import type { SlackMessenger } from '../slack/outbound/slack-messenger.ts';

export interface TicketHandlers {
  ticket: CapabilityHandler;
  actions: InteractionHandlers['actions'];
  views: InteractionHandlers['views'];
}

export function buildTickets(
  configuration: Pick<Configuration, 'tickets' | 'budgets' | 'redis' | 'openai'>,
  dependencies: {
    gateway: LanguageModelGateway;
    modelConfigured: boolean;
    redis: Redis;
    messenger: SlackMessenger;
    logger: Logger;
    registry: Registry;
  },
): TicketHandlers {
  const { registry, ...rest } = dependencies;
  const tickets = createTicketWorkflow(configuration, { ...rest, metrics: registry });
  const actions: InteractionHandlers['actions'] = {};
  for (const actionId of Object.values(ticketActionIds)) {
    actions[actionId] = (click) => tickets.handleButton(click);
  }
  return {
    ticket: (request) => tickets.handleRoutedRequest(request),
    actions,
    views: { [ticketEditModalCallbackId]: (submission) => tickets.handleViewSubmission(submission) },
  };
}
