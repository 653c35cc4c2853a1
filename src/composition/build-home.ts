/**
 * `buildHome`: the App Home for the work side — its readers wired to the stores that hold each section (tickets,
 * agent runs, budgets, unanswered questions, approvals, documents, feedback), the publisher that sends it with the
 * workspace's token, and its buttons.
 *
 * - `homeOpened` publishes the opener's Home (`app_home_opened`, durable work).
 * - `refresh(workspaceId, userId, notice?)` republishes one person's Home after a change they would see; hand it to
 *   the settings' `onSettingsChanged` hook so an admin's saved settings show at once.
 * - The Forget button (`home_forget_document`) reuses the `/docs forget` authorisation (admin of the workspace's
 *   settings or the uploader) and refreshes the clicker's Home with what happened.
 * - `withHomeRefresh` wraps the approval buttons: a click made on the Home (`surface: 'home'`) is decided by the
 *   agent's own handler (the server-side approver check), then the clicker's Home is republished with the result.
 *
 * The stores here are read-only views over the same Redis keys the capabilities write (each store is a thin wrapper
 * over the connection), so the Home needs nothing from the other builders.
 */

import type { RedisClient } from '../adapters/redis-client.ts';
import { approvalButtonValue } from '../capabilities/agent/approval-hash.ts';
import { ApprovalStore } from '../capabilities/agent/approval-store.ts';
import { RunStateStore } from '../capabilities/agent/run-state.ts';
import { FeedbackStore } from '../capabilities/answers/feedback-store.ts';
import { createForgetFromHomeHandler } from '../capabilities/answers/forget-from-home.ts';
import { UnansweredQuestions } from '../capabilities/answers/unanswered-questions.ts';
import { UploaderStore } from '../capabilities/answers/uploader-store.ts';
import type { HomeDocument, HomeReaders } from '../capabilities/home/home-data.ts';
import { HomePublisher } from '../capabilities/home/home-publisher.ts';
import { TicketStore } from '../capabilities/tickets/ticket-store.ts';
import { DeskhandError, toDeskhandError } from '../errors.ts';
import { channelsByMonthSpendKey } from '../llm/budget-keys.ts';
import { readChannelsBySpend } from '../llm/budget-status.ts';
import type { Logger } from '../observability/logger.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { DocumentSummary, VectorIndex } from '../ports/vector-index.ts';
import { withWorkspace } from '../ports/workspace-scope.ts';
import type { WorkspaceSettingsSource } from '../ports/workspace-settings.ts';
import { agentActionIds } from '../slack-kit/agent-ids.ts';
import { homeActionIds } from '../slack-kit/home-ids.ts';
import type { ActionHandler, HomeOpenedHandler, InteractionHandlers } from '../work/requests.ts';
import { buildBudgetStore } from './build-budget-store.ts';
import type { Configuration } from './config.ts';

export interface HomeDependencies {
  redis: RedisClient;
  messenger: Messenger;
  settings: WorkspaceSettingsSource;
  vectorIndex: Pick<VectorIndex, 'getDocument' | 'deleteDocument' | 'listDocuments'>;
  logger: Logger;
  modelConfigured: boolean;
  /** Least time between two publishes of one person's Home (default 3 s). */
  minIntervalMs?: number;
}

export interface HomeParts {
  homeOpened: HomeOpenedHandler;
  /** Republishes one person's Home (coalesced); never rejects. Wire it to the settings' `onSettingsChanged`. */
  refresh: (workspaceId: string, userId: string, notice?: string) => Promise<void>;
  /** The Home's own buttons. */
  actions: InteractionHandlers['actions'];
  /** The given actions, with the approval buttons refreshing the clicker's Home when clicked there. */
  withHomeRefresh: (actions: InteractionHandlers['actions']) => InteractionHandlers['actions'];
  close: () => Promise<void>;
}

export function buildHome(configuration: Configuration, dependencies: HomeDependencies): HomeParts {
  const { redis, messenger, logger } = dependencies;
  const readers = homeReaders(configuration, dependencies);
  const publisher = new HomePublisher({
    readers,
    publish: (workspaceId, userId, view) =>
      withWorkspace(workspaceId, async () => {
        if (!messenger.publishHome) throw new DeskhandError('not_available_yet', 'this messenger cannot publish');
        await messenger.publishHome(userId, view);
      }),
    redis,
    keyPrefix: configuration.redis.keyPrefix,
    logger,
    modelConfigured: dependencies.modelConfigured,
    ticketReaction: configuration.tickets.reaction,
    ...(dependencies.minIntervalMs === undefined ? {} : { minIntervalMs: dependencies.minIntervalMs }),
  });
  const refresh = (workspaceId: string, userId: string, notice?: string) =>
    publisher.refresh(workspaceId, userId, notice === undefined ? {} : { notice });
  const forget = createForgetFromHomeHandler({
    index: dependencies.vectorIndex,
    uploaders: new UploaderStore(redis, { keyPrefix: configuration.redis.keyPrefix }),
    isAdmin: readers.isAdmin,
    logger,
  });
  const forgetAction: ActionHandler = async (request) => {
    const { notice } = await forget(request);
    await refresh(request.workspaceId, request.userId, notice);
    return undefined;
  };
  return {
    homeOpened: (request) => refresh(request.workspaceId, request.userId),
    refresh,
    actions: { [homeActionIds.forgetDocument]: forgetAction },
    withHomeRefresh: (actions) => {
      const wrapped = { ...actions };
      for (const actionId of [agentActionIds.approve, agentActionIds.reject] as const) {
        const inner = actions[actionId];
        if (inner) wrapped[actionId] = refreshingHomeAfter(inner, refresh);
      }
      return wrapped;
    },
    close: () => publisher.close(),
  };
}

/** Runs `inner`; when the click came from the Home, republishes the clicker's Home saying what happened. */
function refreshingHomeAfter(
  inner: ActionHandler,
  refresh: (workspaceId: string, userId: string, notice?: string) => Promise<void>,
): ActionHandler {
  return async (request) => {
    if (request.surface !== 'home') return inner(request);
    try {
      const outcome = await inner(request);
      await refresh(request.workspaceId, request.userId, outcome?.kind === 'reply' ? outcome.text : undefined);
      return outcome;
    } catch (error) {
      await refresh(request.workspaceId, request.userId, toDeskhandError(error).userMessage);
      throw error;
    }
  };
}

/** Each section's reader over its store (see `HomeReaders`: bounded, one workspace, read-only). */
function homeReaders(configuration: Configuration, dependencies: HomeDependencies): HomeReaders {
  const { redis, settings, vectorIndex } = dependencies;
  const keyPrefix = configuration.redis.keyPrefix;
  const tickets = new TicketStore(redis, { keyPrefix });
  const runs = new RunStateStore({ redis, keyPrefix });
  // Read-only here: the policy is never consulted (only the agent's own store decides approvals).
  const approvals = new ApprovalStore({
    redis,
    keyPrefix,
    ttlSeconds: configuration.agent.approvalTtlSeconds,
    policy: { approverUserIds: [], allowSelfApproval: false },
  });
  const budgets = buildBudgetStore(configuration, redis, settings);
  const unanswered = new UnansweredQuestions(redis, { keyPrefix });
  const feedback = new FeedbackStore(redis, { keyPrefix });
  const uploaders = new UploaderStore(redis, { keyPrefix });
  return {
    isAdmin: async (workspaceId, userId) => (await settings.get(workspaceId)).admins.includes(userId),
    async recentTickets(workspaceId, userId, limit) {
      const { drafts, total } = await tickets.recentDrafts(workspaceId, userId, limit);
      const items = drafts.map((draft) => ({
        id: draft.id,
        summary: draft.ticket.summary,
        status: draft.status,
        createdAt: Date.parse(draft.createdAt) || 0,
        channelId: draft.channelId,
      }));
      return { items, total: Math.max(total, items.length) };
    },
    async recentRuns(workspaceId, userId, limit) {
      const found = await runs.recentRuns(workspaceId, userId, limit);
      const items = found.runs.map((run) => ({
        runId: run.runId,
        goal: run.goal,
        status: run.status,
        ...(run.outcome ? { outcome: run.outcome.kind } : {}),
        createdAt: run.createdAt,
        channelId: run.channelId,
        spentMicroUsd: run.counters.spentMicroUsd,
      }));
      return { items, total: Math.max(found.total, items.length) };
    },
    async channelSpend(workspaceId, limit) {
      const key = channelsByMonthSpendKey(keyPrefix, workspaceId, budgets.windowsAt().month);
      const { channelIds, total } = await readChannelsBySpend(redis, key, limit);
      const items = await Promise.all(
        channelIds.map(async (channelId) => {
          const { windows } = await budgets.status(workspaceId, channelId);
          const day = windows.find((window) => window.window === 'channel_daily');
          const month = windows.find((window) => window.window === 'channel_monthly');
          return {
            channelId,
            dailySpentMicroUsd: day?.spentMicroUsd ?? 0,
            dailyCapMicroUsd: day?.capMicroUsd ?? 0,
            monthlySpentMicroUsd: month?.spentMicroUsd ?? 0,
            monthlyCapMicroUsd: month?.capMicroUsd ?? 0,
          };
        }),
      );
      return { items, total: Math.max(total, items.length) };
    },
    async unansweredQuestions(workspaceId, limit) {
      const { questions, total } = await unanswered.top(workspaceId, limit);
      return { items: questions, total: Math.max(total, questions.length) };
    },
    async pendingApprovals(workspaceId, limit) {
      const { requests, total } = await approvals.pendingRequests(workspaceId, limit);
      const items = requests.map((request) => ({
        requestId: request.requestId,
        summary: request.summary,
        tool: request.tool,
        requesterId: request.requesterId,
        channelId: request.channelId,
        expiresAt: request.expiresAt,
        buttonValue: approvalButtonValue(request),
      }));
      return { items, total };
    },
    async documents(workspaceId, limit) {
      const { documentIds, total } = await uploaders.documentIds(workspaceId, limit);
      const found = await Promise.all(documentIds.map((id) => vectorIndex.getDocument(workspaceId, id)));
      const items: HomeDocument[] = found
        .filter((document): document is DocumentSummary => document?.workspaceId === workspaceId)
        .map((document) => ({
          documentId: document.documentId,
          title: document.title,
          scope: document.scope,
          chunkCount: document.chunkCount,
          ingestedAt: document.ingestedAt,
        }))
        .sort((left, right) => left.scope.localeCompare(right.scope) || left.title.localeCompare(right.title));
      return { items, total: Math.max(items.length, total - (documentIds.length - items.length)) };
    },
    feedbackTally: (workspaceId) => feedback.tally(workspaceId),
  };
}
