/**
 * Wires the agent from configuration, so the composition root stays a few lines:
 *
 * ```ts
 * const agent = createAgent({
 *   configuration, redis, gateway, messenger, logger,
 *   queueConnection: { url: configuration.redis.url, maxRetriesPerRequest: null },
 *   tools: {
 *     search: vectorIndexSearch(vectorIndex),              // or the retrieval pipeline's hybrid search
 *     extractTicket: async (request) => …,                  // tickets capability
 *     fileTicket: async (request) => …,                     // ticket sinks
 *     ticketDestinationName: 'the support queue',
 *     encoding: encodingForModel(configuration.openai.model, configuration.openai.fallbackEncoding),
 *   },
 *   estimateChatCostMicroUsd: (request) => prices.cost(configuration.openai.model, {      // the agent counted
 *     inputTokens: request.inputTokens ?? gateway.countChatTokens(request), outputTokens: request.maxOutputTokens }),
 *   listUserGroupMembers: async (usergroup) =>              // for APPROVER_USER_GROUP_ID (cached 60 s here)
 *     (await webClient.usergroups.users.list({ usergroup })).users ?? [],
 * });
 * agent.queue.startWorker();                              // also schedules the approval expiry sweep
 * // shutdown: await agent.queue.close();
 * ```
 */
import type { ConnectionOptions } from 'bullmq';
import { createAgentMetrics } from '../capabilities/agent/agent-metrics.ts';
import type { AgentRedis } from '../capabilities/agent/agent-redis.ts';
import type { AgentLimits, AgentRuntime } from '../capabilities/agent/agent-runtime.ts';
import { AgentService } from '../capabilities/agent/agent-service.ts';
import { ApprovalStore } from '../capabilities/agent/approval-store.ts';
import type { ApprovalPolicy } from '../capabilities/agent/approver-check.ts';
import {
  createApproverGroupCheck,
  createUserGroupMembership,
  type ListUserGroupMembers,
} from '../capabilities/agent/approver-group.ts';
import { ProgressReporter } from '../capabilities/agent/progress.ts';
import { AgentRunQueue } from '../capabilities/agent/run-queue.ts';
import { RunStateStore } from '../capabilities/agent/run-state.ts';
import { type AgentTool, createToolRegistry } from '../capabilities/agent/tool-registry.ts';
import { createExtractTicketTool, type ExtractTicket } from '../capabilities/agent/tools/extract-ticket.ts';
import { createFileTicketTool, type FileTicket } from '../capabilities/agent/tools/file-ticket.ts';
import { createPostMessageTool } from '../capabilities/agent/tools/post-message.ts';
import { createSearchDocumentsTool, type SearchDocuments } from '../capabilities/agent/tools/search-documents.ts';
import { createSummariseThreadTool } from '../capabilities/agent/tools/summarise-thread.ts';
import { HandOverStore } from '../capabilities/tickets/hand-over-store.ts';
import type { EncodingName } from '../llm/tokenizer.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { ChatRequest, LanguageModelGateway } from '../ports/language-model.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { WorkspaceSettingsSource } from '../ports/workspace-settings.ts';
import type { Configuration } from './config.ts';

export interface CreateAgentOptions {
  configuration: Configuration;
  redis: AgentRedis;
  /** BullMQ's connection (its own clients; workers need `maxRetriesPerRequest: null`). */
  queueConnection: ConnectionOptions;
  gateway: LanguageModelGateway;
  messenger: Messenger;
  logger: Logger;
  tools: {
    search: SearchDocuments;
    extractTicket: ExtractTicket;
    fileTicket: FileTicket;
    ticketDestinationName: string;
    /** Set when the ticket sink dedupes on the idempotency key. */
    ticketSinkDedupes?: boolean;
    encoding: EncodingName;
    /** Extra tools (each one module, see tool-registry.ts). */
    extra?: readonly AgentTool<unknown>[];
  };
  estimateChatCostMicroUsd?: (request: ChatRequest) => number;
  /** Overrides the approver-group check built from `listUserGroupMembers`. */
  isInApproverGroup?: (userId: string, workspaceId: string) => Promise<boolean>;
  /**
   * Members of a user group (Slack's `usergroups.users.list`). With `APPROVER_USER_GROUP_ID` set, its members
   * are approvers (cached 60 s; a failed lookup denies). With the group set but no lister, nobody is an
   * approver through the group (fail closed).
   */
  listUserGroupMembers?: ListUserGroupMembers;
  /**
   * Each workspace's settings: its approvers and approver group decide its approvals (instead of
   * `APPROVER_USER_IDS` / `APPROVER_USER_GROUP_ID`), and its model runs its agent (the gateway resolves it).
   */
  settings?: WorkspaceSettingsSource;
  maxOutputTokensPerTurn?: number;
  concurrency?: number;
  metrics?: Registry;
  /** Approval expiry check interval (default 30 s), run by the queue's worker. */
  expirySweepIntervalMs?: number;
}

/** The limits from configuration (`AGENT_*`), in the units the loop uses. */
export function agentLimitsFrom(configuration: Configuration): AgentLimits {
  return {
    maxSteps: configuration.agent.maxSteps,
    maxToolCalls: configuration.agent.maxToolCalls,
    maxRunMicroUsd: Math.round(configuration.agent.maxRunUsd * 1_000_000),
    maxRunMs: configuration.agent.maxRunSeconds * 1000,
  };
}

export function createAgent(options: CreateAgentOptions): {
  service: AgentService;
  queue: AgentRunQueue;
  runtime: AgentRuntime;
} {
  const { configuration, logger } = options;
  const limits = agentLimitsFrom(configuration);
  const keyPrefix = configuration.redis.keyPrefix;
  const groupId = configuration.people.approverUserGroupId;
  if (groupId && !options.isInApproverGroup && !options.listUserGroupMembers) {
    logger.warn({ groupId }, 'APPROVER_USER_GROUP_ID is set but no group lookup was given; its members cannot approve');
  }
  const isInApproverGroup =
    options.isInApproverGroup ??
    (groupId && options.listUserGroupMembers
      ? createApproverGroupCheck({ groupId, listMembers: options.listUserGroupMembers, logger })
      : undefined);
  const registry = createToolRegistry([
    createSearchDocumentsTool({ search: options.tools.search }),
    createExtractTicketTool({ extractTicket: options.tools.extractTicket }),
    createFileTicketTool({
      fileTicket: options.tools.fileTicket,
      destinationName: options.tools.ticketDestinationName,
      ...(options.tools.ticketSinkDedupes ? { sinkDedupes: true } : {}),
    }),
    createPostMessageTool({ messenger: options.messenger }),
    createSummariseThreadTool({
      messenger: options.messenger,
      gateway: options.gateway,
      encoding: options.tools.encoding,
    }),
    ...(options.tools.extra ?? []),
  ]);
  const runtime: AgentRuntime = {
    gateway: options.gateway,
    registry,
    approvals: new ApprovalStore({
      redis: options.redis,
      keyPrefix,
      ttlSeconds: configuration.agent.approvalTtlSeconds,
      policy: {
        approverUserIds: configuration.people.approverUserIds,
        allowSelfApproval: configuration.people.allowSelfApproval,
        ...(isInApproverGroup ? { isInApproverGroup } : {}),
        ...workspaceApprovers(options),
      },
    }),
    runs: new RunStateStore({ redis: options.redis, keyPrefix }),
    messenger: options.messenger,
    progress: new ProgressReporter({
      messenger: options.messenger,
      limits: { maxSteps: limits.maxSteps, maxToolCalls: limits.maxToolCalls, maxRunMicroUsd: limits.maxRunMicroUsd },
      logger,
    }),
    limits,
    // With settings the gateway resolves each workspace's model; without, the configured one.
    ...(options.settings ? {} : { model: configuration.openai.model }),
    maxOutputTokensPerTurn: options.maxOutputTokensPerTurn ?? 800,
    ...(options.estimateChatCostMicroUsd ? { estimateChatCostMicroUsd: options.estimateChatCostMicroUsd } : {}),
    logger: logger.child({ component: 'agent' }),
    metrics: createAgentMetrics(options.metrics),
    // "Get a human" on runs that did not get the job done; filed by the tickets capability.
    handOvers: new HandOverStore(options.redis, { keyPrefix: configuration.redis.keyPrefix }),
  };
  const queue = new AgentRunQueue({
    connection: options.queueConnection,
    prefix: `${keyPrefix}{agent}`,
    runtime,
    logger,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.expirySweepIntervalMs === undefined ? {} : { expirySweepIntervalMs: options.expirySweepIntervalMs }),
  });
  return { service: new AgentService({ runtime, queue, logger }), queue, runtime };
}

/** The approval policy's per-workspace part: the approvers and group each workspace's settings name. */
function workspaceApprovers(options: CreateAgentOptions): Pick<ApprovalPolicy, 'approversOf' | 'isInGroup'> {
  const { settings, listUserGroupMembers, logger } = options;
  if (!settings) return {};
  return {
    approversOf: async (workspaceId) => {
      const current = await settings.get(workspaceId);
      return { userIds: current.approvers, groupId: current.approverGroup };
    },
    ...(listUserGroupMembers
      ? { isInGroup: createUserGroupMembership({ listMembers: listUserGroupMembers, logger }) }
      : {}),
  };
}
