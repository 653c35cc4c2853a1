/**
 * Entry points for Slack wiring. Each returns a handler of the router's shape, so wiring is a few lines in
 * the composition root:
 *
 * ```ts
 * const feedback = new FeedbackStore(redis, { keyPrefix });
 * const retrieve = createRetriever({ index, embedder, gateway, logger }, { mode, contextTokens, rerankerEnabled });
 * const handlers = completeHandlers({
 *   question: createQuestionHandler({ answer: { gateway, retrieve }, feedback, logger }),
 *   docs: createDocsHandler({ ...docsDependencies, isAdmin, resolveFile }),
 * });
 * // the 👍/👎 buttons and the 👎 reason picker: createFeedbackHandlers in feedback-handlers.ts
 * ```
 * Both route handlers send through the request's `Reply` (src/ports/capability.ts), which knows where the answer
 * goes; the Messenger behind it paces and coalesces every update, so nothing here throttles.
 * Files shared in Slack (src/composition/build-answers.ts wires these from `shared-files.ts`): `createFileSharedHandler` is the
 * work side's `fileShared` handler (a file shared with a mention is added to the channel's documents),
 * `createSharedFileResolver` is `resolveFile` for `/docs add`, and `createFileShareMentionCheck` keeps the
 * mention that only shares documents from being routed as well. `fetchFile(urlPrivate, maxBytes)` is the
 * bot-token download, bounded by `maxBytes`.
 */
import { type DeskhandError, toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { CapabilityOutcome, CapabilityRequest, Reply } from '../../ports/capability.ts';
import type { HandOverRecorder } from '../../ports/hand-over.ts';
import type { AccessScope } from '../../ports/vector-index.ts';
import { noDocumentsMessage } from '../../slack-kit/assistant-text.ts';
import { escapeMrkdwn } from '../../slack-kit/mrkdwn.ts';
import { addSharedFile } from './add-shared-file.ts';
import {
  type AnswerMessageOptions,
  buildAnswerMessage,
  buildStatusMessage,
  buildStreamEnding,
  buildStreamingMessage,
} from './answer-blocks.ts';
import { answerHandOverRecord, offerHandOver } from './answer-hand-over.ts';
import type { AnswerOutcome } from './answer-outcome.ts';
import { answerQuestion } from './answer-question.ts';
import type { AnswerQuestionDependencies, AnswerQuestionInput } from './answer-question-input.ts';
import { handleDocsCommand } from './docs-command.ts';
import type { DocsDependencies, DocsReply } from './docs-dependencies.ts';
import type { FeedbackStore } from './feedback-store.ts';
import { parseDocsCommand } from './parse-docs-command.ts';
import type { ConversationTurn } from './rewrite-question.ts';
import type { SharedFile } from './shared-files-of.ts';
import type { UnansweredQuestions } from './unanswered-questions.ts';

export interface QuestionHandlerDependencies {
  answer: AnswerQuestionDependencies;
  feedback: FeedbackStore;
  /** Where questions that found no sources are counted (the App Home's list); absent: not counted. */
  unanswered?: Pick<UnansweredQuestions, 'record'>;
  logger?: Logger;
  /** Deadline for the whole answer, from the start (default 90 s). */
  answerTimeoutMs?: number;
  now?: () => number;
  /**
   * The access scope retrieval uses in a channel (channel control: channel-only in a Slack Connect channel);
   * rejects when that cannot be told, and the answer then ends with the reason. Absent: workspace and channel.
   */
  documentAccess?: DocumentAccess;
  /** Where the "Get a human" records go (the tickets capability files them); absent: no button. */
  handOvers?: HandOverRecorder;
}

/** See `QuestionHandlerDependencies.documentAccess`. */
export type DocumentAccess = (scope: { workspaceId: string; channelId: string }) => Promise<AccessScope>;

/** Thread messages as conversation turns: ours are the assistant's, users' are the user's; other bots are left out. */
export function turnsFromThread(context: CapabilityRequest['threadContext']): ConversationTurn[] {
  const turns: ConversationTurn[] = [];
  for (const message of context) {
    if (message.author === 'other_bot' || !message.text.trim()) continue;
    turns.push({ role: message.author === 'deskhand' ? 'assistant' : 'user', text: message.text });
  }
  return turns;
}

/**
 * The `question` route (`/ask`, mentions classified as questions, thread follow-ups). In a thread, with a
 * Messenger that streams: sets the thread's status while searching, streams the sanitised answer
 * (`startStream`, which falls back by itself to one message updated within `chat.update` limits) and ends the
 * stream with the sources, footer and feedback buttons. Otherwise (e.g. `/ask`, which has no thread): posts a
 * status message, updates it with the answer so far (the Messenger coalesces and paces the updates) and replaces
 * it with the final answer. Records the answer for feedback. Never leaves a reply hanging: any failure ends it
 * with the reason. Where all of this goes is the `Reply`'s business.
 */
export function createQuestionHandler(dependencies: QuestionHandlerDependencies) {
  const now = dependencies.now ?? Date.now;
  return async (request: CapabilityRequest, reply: Reply): Promise<CapabilityOutcome> => {
    // The work side found no channel whose documents this request may read (assistant view): none are read.
    if (request.documentScope?.kind === 'none') {
      dependencies.logger?.info(
        { requestId: request.requestId, code: 'no_sources', reason: request.documentScope.reason },
        'question not searched: no document scope',
      );
      return { kind: 'reply', text: noDocumentsMessage(request.documentScope.reason), visibility: 'thread' };
    }
    const history = turnsFromThread(request.threadContext);
    const answer = reply.canStream
      ? await streamedReply(reply, request, history.length > 0, dependencies.logger)
      : await updatedReply(reply, request, history.length > 0, dependencies.logger);
    // The hand-over record is stored before the message that carries its button (src/ports/hand-over.ts).
    const finish = async (outcome: AnswerOutcome) => {
      const record = answerHandOverRecord(request, reply.threadTs, outcome, new Date(now()));
      const handOverId = await offerHandOver(dependencies.handOvers, record, dependencies.logger);
      await answer.finish(outcome, handOverId ? { handOverId } : {});
    };

    let outcome: AnswerOutcome;
    try {
      const input = questionInput(request, history, answer, now() + (dependencies.answerTimeoutMs ?? 90_000));
      if (dependencies.documentAccess) input.access = await dependencies.documentAccess(input.access);
      outcome = await answerQuestion(input, loggedAnswerDependencies(request, dependencies));
    } catch (error) {
      const coded = toDeskhandError(error);
      dependencies.logger?.error({ err: error, code: coded.code, requestId: request.requestId }, 'answer failed');
      await finish(failedOutcome(request, coded));
      return { kind: 'posted' };
    }
    logAnswered(dependencies.logger, request, outcome, answer.mode);
    await finish(outcome);
    await recordForFeedback(dependencies, request, outcome);
    return { kind: 'posted' };
  };
}

function questionInput(
  request: CapabilityRequest,
  history: ConversationTurn[],
  reply: AnswerReply,
  deadline: number,
): AnswerQuestionInput {
  // Documents, budget and cache follow the channel whose documents the request reads: its own, or the viewed one.
  const channelId = request.documentScope?.kind === 'channel' ? request.documentScope.channelId : request.channelId;
  return {
    question: request.text,
    access: { workspaceId: request.workspaceId, channelId },
    callScope: {
      workspaceId: request.workspaceId,
      channelId,
      userId: request.userId,
      requestId: request.requestId,
    },
    history,
    streaming: { onTextDelta: reply.onTextDelta },
    deadline,
  };
}

/** The answer dependencies, with warnings and errors also logged under the request's id. */
function loggedAnswerDependencies(
  request: CapabilityRequest,
  dependencies: QuestionHandlerDependencies,
): AnswerQuestionDependencies {
  return {
    ...dependencies.answer,
    onWarning: (message, details) => {
      dependencies.logger?.warn({ ...details, requestId: request.requestId }, message);
      dependencies.answer.onWarning?.(message, details);
    },
    onError: (error, details) => {
      dependencies.logger?.error({ ...details, err: error, requestId: request.requestId }, 'answer failed');
      dependencies.answer.onError?.(error, details);
    },
  };
}

/** The outcome shown when answering threw: the coded reason, no model usage. */
function failedOutcome(request: CapabilityRequest, coded: DeskhandError): AnswerOutcome {
  return {
    kind: 'failed',
    code: coded.code,
    userMessage: coded.userMessage,
    answerId: request.requestId,
    question: request.text,
    standaloneQuestion: request.text,
    rewritten: false,
    usage: { modelCalls: 0, cacheHits: 0, inputTokens: 0, outputTokens: 0, costMicroUsd: 0, savedMicroUsd: 0 },
  };
}

function logAnswered(
  logger: Logger | undefined,
  request: CapabilityRequest,
  outcome: AnswerOutcome,
  mode: AnswerReply['mode'],
): void {
  logger?.info(
    {
      requestId: request.requestId,
      answerId: outcome.answerId,
      kind: outcome.kind,
      rewritten: outcome.rewritten,
      streamed: mode,
      ...outcome.usage,
      ...(outcome.kind === 'answered' ? { fromCache: outcome.fromCache, cited: outcome.cited.length } : {}),
    },
    'question answered',
  );
}

/** Records an answer the asker can vote on; a failure to record is logged, not shown. */
async function recordForFeedback(
  dependencies: QuestionHandlerDependencies,
  request: CapabilityRequest,
  outcome: AnswerOutcome,
): Promise<void> {
  if (outcome.kind === 'no_sources') {
    await dependencies.unanswered?.record(request.workspaceId, outcome.question).catch((error: unknown) => {
      dependencies.logger?.warn({ err: error, requestId: request.requestId }, 'could not count an unanswered question');
    });
    return;
  }
  if (
    outcome.kind === 'answered' ||
    outcome.kind === 'over_budget' ||
    outcome.kind === 'upstream_unavailable' ||
    outcome.kind === 'without_model'
  ) {
    await dependencies.feedback
      .recordAnswer(outcome, {
        workspaceId: request.workspaceId,
        channelId: request.channelId,
        userId: request.userId,
      })
      .catch((error: unknown) => {
        dependencies.logger?.warn({ err: error, answerId: outcome.answerId }, 'could not record answer for feedback');
      });
  }
}

/** Where an answer is written while it is generated, and how it ends. */
interface AnswerReply {
  mode: 'stream' | 'update';
  onTextDelta: (delta: string, textSoFar: string) => void;
  finish: (outcome: AnswerOutcome, options: AnswerMessageOptions) => Promise<void>;
}

/**
 * A streamed thread reply. The status shows under the composer until the reply appears (Slack clears it then).
 * The `Reply` addresses the stream; when Slack refuses it (e.g. an org-wide tenant), the Messenger falls back to a
 * posted, updated message.
 */
async function streamedReply(
  reply: Reply,
  request: CapabilityRequest,
  followUp: boolean,
  logger: Logger | undefined,
): Promise<AnswerReply> {
  void reply.setStatus(followUp ? 'is reading the thread…' : 'is searching the documents…');
  const stream = await reply.startStream();
  let streamed = '';
  return {
    get mode() {
      return stream.mode;
    },
    onTextDelta: (delta, textSoFar) => {
      streamed = textSoFar;
      stream.append(delta);
    },
    finish: async (outcome, options) => {
      try {
        await stream.stop(buildStreamEnding(outcome, streamed, options));
      } catch (error) {
        // Only a first post with an unknown outcome ends here; repeating it could show the answer twice.
        logger?.error({ err: error, requestId: request.requestId }, 'streamed answer could not be delivered');
      }
    },
  };
}

/**
 * A status message updated with the answer so far and replaced by the final answer. Every delta is handed to the
 * Messenger, which coalesces the updates of one message to the newest content and paces them (the one place
 * that bounds how often Slack sees an edit); the final update supersedes whatever is still waiting.
 */
async function updatedReply(
  reply: Reply,
  request: CapabilityRequest,
  followUp: boolean,
  logger: Logger | undefined,
): Promise<AnswerReply> {
  const posted = await reply.post(buildStatusMessage(followUp ? 'rewriting' : 'searching', request.text));
  let pending: Promise<void> = Promise.resolve();
  return {
    mode: 'update',
    onTextDelta: (_delta, textSoFar) => {
      // Fire and forget: a failed intermediate update is logged, the final one still replaces the message.
      pending = reply.update(posted.ts, buildStreamingMessage(request.text, textSoFar)).catch((error: unknown) => {
        logger?.warn({ err: error, requestId: request.requestId }, 'streaming update failed');
      });
    },
    finish: async (outcome, options) => {
      await pending;
      await reply.update(posted.ts, buildAnswerMessage(outcome, options));
    },
  };
}

export interface DocsHandlerDependencies extends DocsDependencies {
  /** From configuration (ADMIN_USER_IDS), never from the request. */
  isAdmin: (userId: string) => boolean;
  /** The file `/docs add` refers to (e.g. the newest file the user shared in the channel or thread). */
  resolveFile?: (request: CapabilityRequest) => Promise<SharedFile | undefined>;
  /** As for questions: `/docs list` in a Slack Connect channel shows only that channel's documents. */
  documentAccess?: DocumentAccess;
}

function toOutcome(reply: DocsReply): CapabilityOutcome {
  return {
    kind: 'reply',
    text: reply.text,
    ...(reply.blocks ? { blocks: reply.blocks } : {}),
    visibility: reply.visibility === 'ephemeral' ? 'ephemeral' : 'thread',
  };
}

/**
 * The `docs` route (`/docs …`). `/docs add` posts a progress message through the `Reply` and updates it while
 * the file is ingested (coalesced by the Messenger), then replaces it with the result.
 */
export function createDocsHandler(dependencies: DocsHandlerDependencies) {
  return async (request: CapabilityRequest, reply: Reply): Promise<CapabilityOutcome> => {
    const channel = { workspaceId: request.workspaceId, channelId: request.channelId };
    const requester = {
      access: dependencies.documentAccess ? await dependencies.documentAccess(channel) : channel,
      userId: request.userId,
      isAdmin: dependencies.isAdmin(request.userId),
    };
    const command = parseDocsCommand(request.text);
    if (command.action !== 'add')
      return toOutcome(await handleDocsCommand({ ...requester, text: request.text }, dependencies));
    const file = await dependencies.resolveFile?.(request);
    if (!file) return toOutcome(await handleDocsCommand({ ...requester, text: request.text }, dependencies));
    const progress = await reply.post({ text: `:hourglass_flowing_sand: Adding *${escapeMrkdwn(file.name)}*…` });
    const added = await addSharedFile(
      {
        ...requester,
        file,
        scope: command.scope,
        onProgress: (text) => {
          void reply.update(progress.ts, { text }).catch(() => undefined);
        },
      },
      dependencies,
    );
    await reply.update(progress.ts, { text: added.reply.text });
    return { kind: 'posted' };
  };
}

/** A click on a feedback button, as the actions listener sees it. */
export interface FeedbackClick {
  actionId: string;
  /** The button's value (an answer id): untrusted; the store checks it against the recorded answer. */
  value: string | undefined;
  workspaceId: string;
  userId: string;
  channelId: string | undefined;
}
