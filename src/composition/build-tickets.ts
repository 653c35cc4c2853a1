/**
 * Tickets for the work side: `/ticket`, the message shortcut, the ticket reaction and ticket mentions (the
 * `ticket` capability), the ticket card's buttons and its edit modal, all served by one `TicketWorkflow`. Without
 * a model every card is made by rules and the gateway is never called.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { CapabilityHandler } from '../ports/capability.ts';
import type { LanguageModelGateway } from '../ports/language-model.ts';
import type { Messenger } from '../ports/messenger.ts';
import { ticketActionIds, ticketEditModalCallbackId } from '../slack-kit/ticket-ids.ts';
import type { InteractionHandlers } from '../work/requests.ts';
import type { Configuration } from './config.ts';
import { createTicketWorkflow } from './create-ticket-workflow.ts';

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
    messenger: Messenger;
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
    ticket: (request, reply) => tickets.handleRoutedRequest(request, reply),
    actions,
    views: { [ticketEditModalCallbackId]: (submission) => tickets.handleViewSubmission(submission) },
  };
}
