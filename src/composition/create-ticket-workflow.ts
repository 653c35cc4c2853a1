/**
 * Builds the ticket capability from configuration, for the composition root (src/main.ts):
 *
 *   const tickets = createTicketWorkflow(configuration, { gateway, redis, messenger, logger, metrics: registry });
 *   handlers.ticket = (request, reply) => tickets.handleRoutedRequest(request, reply);
 */

import { type HandOverRedis, HandOverStore } from '../capabilities/tickets/hand-over-store.ts';
import type { TicketExampleSource } from '../capabilities/tickets/learning/ticket-example.ts';
import type { TicketExampleStore } from '../capabilities/tickets/learning/ticket-example-store.ts';
import { createTicketSinks } from '../capabilities/tickets/sinks/create-ticket-sinks.ts';
import type { TicketRedis } from '../capabilities/tickets/ticket-store.ts';
import { TicketWorkflow } from '../capabilities/tickets/ticket-workflow.ts';
import { encodingForModel } from '../llm/tokenizer.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { LanguageModelGateway } from '../ports/language-model.ts';
import type { Messenger } from '../ports/messenger.ts';
import { buildActivityStore } from './build-weekly-report.ts';
import type { Configuration } from './config.ts';
import { ReportingTicketStore } from './report-recording.ts';

export function createTicketWorkflow(
  configuration: Pick<Configuration, 'tickets' | 'budgets' | 'redis' | 'openai'>,
  dependencies: {
    gateway: LanguageModelGateway;
    /** False when no language model is configured: every card is made by rules, without a gateway call. */
    modelConfigured?: boolean;
    redis: TicketRedis & HandOverRedis;
    messenger: Messenger;
    logger?: Logger;
    metrics?: Registry;
    /** The workspaces' labelled examples, shared by every workflow (learning from corrections). */
    ticketExamples?: { store: TicketExampleStore; nearest: TicketExampleSource };
  },
): TicketWorkflow {
  const { tickets } = configuration;
  return new TicketWorkflow({
    extraction: {
      gateway: dependencies.gateway,
      ...(dependencies.modelConfigured === false ? { modelConfigured: false } : {}),
      configuration: {
        categories: tickets.categories,
        teamLanguage: tickets.teamLanguage,
        encoding: encodingForModel(configuration.openai.model, configuration.openai.fallbackEncoding ?? 'o200k_base'),
      },
      ...(dependencies.ticketExamples ? { examples: dependencies.ticketExamples.nearest } : {}),
      ...(dependencies.logger ? { logger: dependencies.logger } : {}),
    },
    // Drafts and filings are also counted by category for the admins' weekly report (report-recording.ts).
    store: new ReportingTicketStore(
      dependencies.redis,
      { keyPrefix: configuration.redis.keyPrefix },
      buildActivityStore(configuration, dependencies.redis),
      dependencies.logger,
    ),
    handOvers: new HandOverStore(dependencies.redis, { keyPrefix: configuration.redis.keyPrefix }),
    ...(dependencies.ticketExamples ? { ticketExamples: dependencies.ticketExamples.store } : {}),
    messenger: dependencies.messenger,
    sinks: createTicketSinks(tickets, {
      messenger: dependencies.messenger,
      ...(dependencies.logger ? { logger: dependencies.logger } : {}),
    }),
    categories: tickets.categories,
    timeZone: configuration.budgets.timeZone,
    ...(dependencies.logger ? { logger: dependencies.logger } : {}),
    ...(dependencies.metrics ? { metrics: dependencies.metrics } : {}),
  });
}
