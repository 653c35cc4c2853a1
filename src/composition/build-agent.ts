/**
 * The agent for the work side: `/agent` (the `task` capability) and the approve, reject and stop buttons.
 *
 * - With a model: the agent with its tools, which reuse retrieval, ticket extraction and the ticket sinks; its
 *   BullMQ queue (its own Redis clients) and worker are started here, and `close` stops them.
 * - Without one: no agent, queue or worker is built; `/agent` and every agent button say a model is needed and
 *   how to set one.
 */
import type { WebClient } from '@slack/web-api';
import type { RedisClient } from '../adapters/redis-client.ts';
import {
  createApprovalActionHandler,
  createModelRequiredAgentHandler,
  createStopActionHandler,
  createTaskHandler,
} from '../capabilities/agent/agent-handlers.ts';
import type { DocumentAccess } from '../capabilities/answers/answer-handlers.ts';
import type { Retriever } from '../capabilities/answers/answer-source.ts';
import { extractTicket } from '../capabilities/tickets/extract-ticket.ts';
import { createTicketSinks } from '../capabilities/tickets/sinks/create-ticket-sinks.ts';
import { DeskhandError } from '../errors.ts';
import { encodingForModel } from '../llm/tokenizer.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { CapabilityHandler } from '../ports/capability.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { WorkspaceSettingsSource } from '../ports/workspace-settings.ts';
import { agentActionIds } from '../slack-kit/agent-ids.ts';
import type { InteractionHandlers } from '../work/requests.ts';
import type { ModelAccess } from './build-model-access.ts';
import type { Configuration } from './config.ts';
import { type CreateAgentOptions, createAgent } from './create-agent.ts';
import { createQueueConnection } from './create-redis.ts';
import { fileTicketThroughSinks } from './file-ticket-through-sinks.ts';

export interface AgentDependencies {
  model: Pick<ModelAccess, 'gateway' | 'estimateChatCostMicroUsd' | 'modelConfigured'>;
  /** The agent's `search` tool. */
  retrieve: Retriever;
  redis: RedisClient;
  /** The Web API client of the workspace the current work acts for (one client in single-token mode). */
  webClient: () => Promise<WebClient>;
  messenger: Messenger;
  logger: Logger;
  registry: Registry;
  /** Each workspace's approvers, approver group, model, ticket categories and sinks; default: the configuration's. */
  settings?: WorkspaceSettingsSource;
  /** Channel control's access scope for the run's channel (channel-only in a Slack Connect channel). */
  documentAccess?: DocumentAccess;
}

export interface AgentHandlers {
  task: CapabilityHandler;
  actions: InteractionHandlers['actions'];
  /** Closes the agent's queue (nothing to do without a model). */
  close: () => Promise<void>;
}

export function buildAgent(configuration: Configuration, dependencies: AgentDependencies): AgentHandlers {
  if (!dependencies.model.modelConfigured) {
    const needsModel = createModelRequiredAgentHandler();
    const actions: InteractionHandlers['actions'] = {};
    for (const actionId of Object.values(agentActionIds)) actions[actionId] = needsModel;
    return { task: needsModel, actions, close: async () => {} };
  }
  const { redis, messenger, logger, registry, webClient } = dependencies;
  const { gateway, estimateChatCostMicroUsd } = dependencies.model;
  const agent = createAgent({
    configuration,
    redis,
    queueConnection: createQueueConnection(configuration),
    gateway,
    messenger,
    logger,
    metrics: registry,
    // APPROVER_USER_GROUP_ID: members are approvers (cached 60 s by the agent; a failed lookup denies).
    listUserGroupMembers: async (usergroup) =>
      (await (await webClient()).usergroups.users.list({ usergroup })).users ?? [],
    tools: agentTools(configuration, dependencies),
    ...(dependencies.settings ? { settings: dependencies.settings } : {}),
    // Lets the run check its per-run cap before a call, not only after it.
    ...(estimateChatCostMicroUsd ? { estimateChatCostMicroUsd } : {}),
  });
  agent.queue.startWorker();
  const task = createTaskHandler(agent.service);
  const approval = createApprovalActionHandler(agent.service);
  const stop = createStopActionHandler(agent.service);
  return {
    task,
    actions: {
      [agentActionIds.approve]: (click) => approval(click),
      [agentActionIds.reject]: (click) => approval(click),
      [agentActionIds.stop]: (click) => stop(click),
    },
    close: () => agent.queue.close(),
  };
}

/** The agent's tools: search reuses retrieval, extraction the ticket extractor, filing the ticket sinks. */
function agentTools(
  configuration: Configuration,
  { model: { gateway }, retrieve, messenger, logger, settings, documentAccess }: AgentDependencies,
): CreateAgentOptions['tools'] {
  const sinks = createTicketSinks(configuration.tickets, { messenger, logger });
  // A workspace's ticket settings: its categories and destinations (the webhook secret stays the environment's).
  const ticketsOf = async (workspaceId: string) => {
    if (!settings) return { categories: configuration.tickets.categories, sinks };
    const { tickets } = await settings.get(workspaceId);
    const destinations = { ...configuration.tickets, ...tickets };
    return { categories: tickets.categories, sinks: createTicketSinks(destinations, { messenger, logger }) };
  };
  return {
    search: async ({ query, access: runChannel, userId, limit }) => {
      // Resolved when the tool runs (a run may outlive a channel's sharing change); failing closes the search.
      const access = documentAccess ? await documentAccess(runChannel) : runChannel;
      // The run's requester: the query embedding and any reranking count against their daily cap.
      const context = await retrieve({ question: query, access, callScope: { ...runChannel, userId } });
      return context.passages
        .slice(0, limit)
        .map((passage) => ({ title: passage.title, source: passage.source, text: passage.text }));
    },
    extractTicket: async ({ text, workspaceId, channelId, userId }) => {
      const extraction = await extractTicket(
        {
          text,
          messageTs: (Date.now() / 1000).toFixed(6),
          workspaceId,
          channelId,
          userId,
          timeZone: configuration.budgets.timeZone,
        },
        {
          gateway,
          configuration: {
            categories: (await ticketsOf(workspaceId)).categories,
            teamLanguage: configuration.tickets.teamLanguage,
          },
          logger,
        },
      );
      if (extraction.kind !== 'extracted') {
        throw new DeskhandError('upstream_invalid_response', `ticket extraction ${extraction.kind}`, {
          userMessage: 'I could not extract a ticket from that text.',
        });
      }
      return { ticket: { ...extraction.ticket } };
    },
    fileTicket: async (request) =>
      fileTicketThroughSinks(request, (await ticketsOf(request.workspaceId)).sinks, configuration.tickets.teamLanguage),
    ticketDestinationName: configuration.tickets.triageChannelId ? 'the triage channel' : 'the ticket webhook',
    encoding: encodingForModel(configuration.openai.model, configuration.openai.fallbackEncoding),
  };
}
