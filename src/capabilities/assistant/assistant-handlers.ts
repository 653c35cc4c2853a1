/**
 * Slack's assistant view on the work side (issue 15). Two entry points, wired by composition:
 * - `createAssistantThreadHandler`: the `assistantThread` work item. Stores the thread's context (who opened it,
 *   the channel they view) and, when the thread starts, sets its suggested prompts. A context change replaces the
 *   stored context. Nothing is posted in the thread.
 * - `createAssistantRoutePreparer`: the work side's `prepareRoute`. A message in a DM thread that is a known
 *   assistant thread becomes a mention (routed by the one router like any mention) whose documents are the
 *   viewed channel's (`documentScopeForViewedChannel`: verified, fail-closed), after the thread's status is set to
 *   "is thinking…" and, for its first question, its title. Every other request passes unchanged — ordinary DM
 *   threads keep their follow-up behaviour. When the thread record cannot be read, a DM thread message reads no
 *   documents (fail closed) but is otherwise routed as before.
 * The answer itself streams into the thread through the `Reply` of the request (chat.startStream in the DM).
 */
import type { Logger } from '../../observability/logger.ts';
import type { IncomingRequest } from '../../ports/capability.ts';
import type { Messenger } from '../../ports/messenger.ts';
import {
  assistantSuggestedPrompts,
  assistantThreadTitle,
  suggestedPromptsTitle,
} from '../../slack-kit/assistant-text.ts';
import { type AssistantThreadStore, isAssistantThreadAddress } from './assistant-thread-store.ts';
import { documentScopeForViewedChannel, type ViewedChannelChecks } from './viewed-channel-scope.ts';

export const thinkingStatus = 'is thinking…';

export interface AssistantDependencies {
  store: AssistantThreadStore;
  messenger: Pick<Messenger, 'setSuggestedPrompts' | 'setThreadTitle' | 'setStatus' | 'isChannelMember'>;
  logger: Logger;
  /** Channel control's allow/deny decision for the viewed channel (see viewed-channel-scope.ts); absent: all. */
  channelAdmitted?: ViewedChannelChecks['channelAdmitted'];
}

/** An assistant thread started or its viewed channel changed (the shape of work/requests.ts' request). */
export interface AssistantThreadEvent {
  event: 'thread_started' | 'context_changed';
  workspaceId: string;
  channelId: string;
  threadTs: string;
  userId: string;
  context: { channelId?: string; teamId?: string; enterpriseId?: string };
  requestId: string;
}

export function createAssistantThreadHandler(
  dependencies: AssistantDependencies,
): (request: AssistantThreadEvent) => Promise<void> {
  const { store, messenger, logger } = dependencies;
  return async (request) => {
    const where = { workspaceId: request.workspaceId, channelId: request.channelId, threadTs: request.threadTs };
    const log = logger.child({ requestId: request.requestId, ...where, event: request.event });
    const saved = await store.save(where, { userId: request.userId, context: request.context });
    if (!saved) {
      log.warn({ code: 'invalid_input' }, 'assistant thread with malformed ids: nothing stored');
      return;
    }
    if (request.event === 'thread_started') {
      await messenger.setSuggestedPrompts?.(
        request.channelId,
        request.threadTs,
        [...assistantSuggestedPrompts],
        suggestedPromptsTitle,
      );
    }
    log.info({ code: 'ok', viewing: request.context.channelId !== undefined }, 'assistant thread context stored');
  };
}

export function createAssistantRoutePreparer(dependencies: AssistantDependencies) {
  const { store, messenger, logger } = dependencies;
  const checks: ViewedChannelChecks = {
    isMember: async (channelId, userId) => messenger.isChannelMember?.(channelId, userId),
    ...(dependencies.channelAdmitted ? { channelAdmitted: dependencies.channelAdmitted } : {}),
  };
  return async (request: IncomingRequest): Promise<IncomingRequest> => {
    const threadTs = request.threadTs;
    if (request.origin !== 'thread_follow_up' || threadTs === undefined) return request;
    if (!isAssistantThreadAddress(request.channelId, threadTs)) return request;
    const log = logger.child({ requestId: request.requestId, workspaceId: request.workspaceId });
    let record: Awaited<ReturnType<AssistantThreadStore['get']>>;
    try {
      record = await store.get(request.workspaceId, request.channelId, threadTs);
    } catch (error) {
      log.warn({ err: error, code: 'upstream_unavailable' }, 'could not read the assistant thread: no documents');
      return { ...request, documentScope: { kind: 'none', reason: 'context_unavailable' } };
    }
    if (!record) return request;

    await messenger.setStatus?.(request.channelId, threadTs, thinkingStatus);
    const documentScope = await documentScopeForViewedChannel(
      request.workspaceId,
      request.userId,
      record.context,
      checks,
    );
    const first = await store.claimTitle(request.workspaceId, request.channelId, threadTs).catch(() => false);
    if (first) await messenger.setThreadTitle?.(request.channelId, threadTs, assistantThreadTitle(request.text));
    log.info(
      {
        code: 'ok',
        documents: documentScope.kind === 'channel' ? documentScope.channelId : 'none',
        ...(documentScope.kind === 'none' ? { reason: documentScope.reason } : {}),
      },
      'assistant thread message routed as a mention',
    );
    return { ...request, origin: 'mention', documentScope };
  };
}
