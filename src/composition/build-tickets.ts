/**
 * Tickets for the work side: `/ticket`, the message shortcut, the ticket reaction and ticket mentions (the
 * `ticket` capability), the ticket card's buttons and its edit modal, served by a `TicketWorkflow`. Without
 * a model every card is made by rules and the gateway is never called.
 *
 * With the workspace settings, each request is served by its workspace's workflow: its ticket categories, triage
 * channel and webhook URL (the webhook secret stays the environment's), and its model's tokenizer. A workflow is
 * kept per settings object (the source returns the same frozen object until they change), so a save takes effect on
 * the next request and unchanged settings build nothing.
 */

import type { RedisClient } from '../adapters/redis-client.ts';
import { TicketExampleStore } from '../capabilities/tickets/learning/ticket-example-store.ts';
import { WorkspaceExampleIndexes } from '../capabilities/tickets/learning/workspace-example-indexes.ts';
import type { TicketWorkflow } from '../capabilities/tickets/ticket-workflow.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { CapabilityHandler } from '../ports/capability.ts';
import type { LanguageModelGateway } from '../ports/language-model.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { WorkspaceSettings, WorkspaceSettingsSource } from '../ports/workspace-settings.ts';
import { handOverActionId } from '../slack-kit/hand-over-ids.ts';
import { ticketActionIds, ticketEditModalCallbackId } from '../slack-kit/ticket-ids.ts';
import type { InteractionHandlers } from '../work/requests.ts';
import type { Configuration } from './config.ts';
import { createTicketWorkflow } from './create-ticket-workflow.ts';

export interface TicketHandlers {
  ticket: CapabilityHandler;
  actions: InteractionHandlers['actions'];
  views: InteractionHandlers['views'];
}

type TicketConfiguration = Pick<Configuration, 'tickets' | 'budgets' | 'redis' | 'openai'>;

export function buildTickets(
  configuration: TicketConfiguration,
  dependencies: {
    gateway: LanguageModelGateway;
    modelConfigured: boolean;
    redis: RedisClient;
    messenger: Messenger;
    logger: Logger;
    registry: Registry;
    settings?: WorkspaceSettingsSource;
  },
): TicketHandlers {
  const { registry, settings, ...shared } = dependencies;
  // One example store and one in-memory index per workspace, whatever the settings: a correction saved under one
  // settings version teaches the workflows of the next.
  const exampleStore = new TicketExampleStore(shared.redis, { keyPrefix: configuration.redis.keyPrefix });
  const rest = {
    ...shared,
    ticketExamples: { store: exampleStore, nearest: new WorkspaceExampleIndexes(exampleStore) },
  };
  const workflowOf = settings
    ? workspaceWorkflows(configuration, settings, { ...rest, metrics: registry })
    : constant(createTicketWorkflow(configuration, { ...rest, metrics: registry }));
  const actions: InteractionHandlers['actions'] = {};
  for (const actionId of Object.values(ticketActionIds)) {
    actions[actionId] = async (click) => (await workflowOf(click.workspaceId)).handleButton(click);
  }
  // "Get a human" on answers and agent runs: filed through the clicker's workspace's sinks.
  actions[handOverActionId] = async (click) => (await workflowOf(click.workspaceId)).handleHandOver(click);
  return {
    ticket: async (request, reply) => (await workflowOf(request.workspaceId)).handleRoutedRequest(request, reply),
    actions,
    views: {
      [ticketEditModalCallbackId]: async (submission) =>
        (await workflowOf(submission.workspaceId)).handleViewSubmission(submission),
    },
  };
}

type WorkflowOf = (workspaceId: string) => Promise<TicketWorkflow>;

function constant(workflow: TicketWorkflow): WorkflowOf {
  return async () => workflow;
}

/** Each workspace's workflow, built from its settings and kept while they stay the same object. */
function workspaceWorkflows(
  configuration: TicketConfiguration,
  settings: WorkspaceSettingsSource,
  dependencies: Parameters<typeof createTicketWorkflow>[1],
): WorkflowOf {
  const built = new WeakMap<WorkspaceSettings, TicketWorkflow>();
  return async (workspaceId) => {
    const current = await settings.get(workspaceId);
    let workflow = built.get(current);
    if (!workflow) {
      const { categories, triageChannelId, webhookUrl } = current.tickets;
      workflow = createTicketWorkflow(
        {
          ...configuration,
          tickets: { ...configuration.tickets, categories, triageChannelId, webhookUrl },
          openai: { ...configuration.openai, model: current.model },
        },
        dependencies,
      );
      built.set(current, workflow);
    }
    return workflow;
  };
}
