/**
 * Answers from documents for the work side: the retriever (hybrid, or sparse without an embedder, i.e. without a
 * model), questions (`/ask`, questions, follow-ups; without a model, quoted and cited passages and never a
 * gateway call), feedback on answers, `/docs`, and documents shared in Slack: `file_shared` records each user's
 * newest file per channel (what `/docs add` refers to) and ingests a file whose sharing message mentions Deskhand
 * into the channel's scope; the mention that only shares it is not routed as well.
 */

import type { RedisClient } from '../adapters/redis-client.ts';
import {
  createDocsHandler,
  createQuestionHandler,
  type DocumentAccess,
} from '../capabilities/answers/answer-handlers.ts';
import type { Retriever } from '../capabilities/answers/answer-source.ts';
import { UploaderStore } from '../capabilities/answers/docs-command.ts';
import { createFeedbackHandlers } from '../capabilities/answers/feedback-handlers.ts';
import { createRetriever } from '../capabilities/answers/retrieval-adapter.ts';
import { withThreadSaving } from '../capabilities/answers/save-thread.ts';
import {
  createFileSharedHandler,
  createFileShareMentionCheck,
  createSharedFileResolver,
  RecentFileShares,
} from '../capabilities/answers/shared-files.ts';
import { ingestDocument } from '../capabilities/documents/ingestion/ingest-document.ts';
import { IngestionSlots } from '../capabilities/documents/ingestion/ingestion-slots.ts';
import { HandOverStore } from '../capabilities/tickets/hand-over-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { CapabilityHandler, IncomingRequest } from '../ports/capability.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { routeMentionByRules } from '../router/route-rules.ts';
import { answerActionIds, answerReasonModalCallbackId } from '../slack-kit/answer-ids.ts';
import type { FileSharedHandler, InteractionHandlers } from '../work/requests.ts';
import type { ModelAccess } from './build-model-access.ts';
import { buildActivityStore } from './build-weekly-report.ts';
import type { Configuration } from './config.ts';
import { downloadSlackFile } from './download-slack-file.ts';
import { ReportingFeedbackStore, ReportingUnansweredQuestions } from './report-recording.ts';

export interface AnswerDependencies {
  /** Without an embedder (no model) retrieval is sparse and ingestion stores no vectors. */
  model: Pick<ModelAccess, 'gateway' | 'embedder' | 'modelConfigured'>;
  vectorIndex: VectorIndex;
  redis: RedisClient;
  messenger: Messenger;
  logger: Logger;
  /** The bot's user id once the app knows its identity (`undefined` before). */
  botUserId: () => string | undefined;
  /** The bot token file downloads use: the current workspace's in OAuth mode (default `SLACK_BOT_TOKEN`). */
  botToken?: () => Promise<string>;
  /** Channel control's access scope for a channel (channel-only in a Slack Connect channel). */
  documentAccess?: DocumentAccess;
}

export interface AnswerHandlers {
  /** Also the agent's `search` tool. */
  retrieve: Retriever;
  question: CapabilityHandler;
  docs: CapabilityHandler;
  actions: InteractionHandlers['actions'];
  /** The 👎 reason picker's submission. */
  views: InteractionHandlers['views'];
  fileShared: FileSharedHandler;
  /** The mention that shares a file, which `fileShared` serves: not routed. */
  handledElsewhere: (request: IncomingRequest) => Promise<boolean>;
}

export function buildAnswers(configuration: Configuration, dependencies: AnswerDependencies): AnswerHandlers {
  const { vectorIndex, redis, logger } = dependencies;
  const { gateway, embedder, modelConfigured } = dependencies.model;
  const retrieve = createRetriever(
    { index: vectorIndex, ...(embedder ? { embedder } : {}), gateway, logger },
    {
      mode: embedder ? configuration.retrieval.mode : 'sparse',
      contextTokens: configuration.retrieval.contextTokens,
      rerankerEnabled: configuration.retrieval.rerankerEnabled,
    },
  );
  // Both also count what they record for the admins' weekly report (report-recording.ts).
  const activity = buildActivityStore(configuration, redis);
  const feedback = new ReportingFeedbackStore(redis, { keyPrefix: configuration.redis.keyPrefix }, activity, logger);
  const question = createQuestionHandler({
    answer: {
      gateway,
      retrieve,
      withoutModel: !modelConfigured,
      onWarning: (message, details) => logger.warn(details, message),
      onError: (error, details) => logger.warn({ ...details, err: error, code: error.code }, 'answer failed'),
    },
    feedback,
    unanswered: new ReportingUnansweredQuestions(redis, { keyPrefix: configuration.redis.keyPrefix }, activity, logger),
    logger,
    ...(dependencies.documentAccess ? { documentAccess: dependencies.documentAccess } : {}),
    // "Get a human" records, filed by the tickets capability (build-tickets.ts registers the button).
    handOvers: new HandOverStore(redis, { keyPrefix: configuration.redis.keyPrefix }),
  });
  // 👍/👎 and the 👎 reason picker (opened with the click's trigger id; a "Tell us why" button when it cannot).
  const feedbackHandlers = createFeedbackHandlers({ feedback, messenger: dependencies.messenger, logger });
  const actions: InteractionHandlers['actions'] = {
    [answerActionIds.helpful]: (click) => feedbackHandlers.vote(click),
    [answerActionIds.notHelpful]: (click) => feedbackHandlers.vote(click),
    [answerActionIds.reason]: (click) => feedbackHandlers.reopen(click),
  };
  const views: InteractionHandlers['views'] = {
    [answerReasonModalCallbackId]: (submission) => feedbackHandlers.submit(submission),
  };
  return { retrieve, question, actions, views, ...buildDocuments(configuration, dependencies) };
}

/** `/docs`, and documents shared in Slack (recorded per user and channel; ingested when Deskhand is mentioned). */
function buildDocuments(
  configuration: Configuration,
  { model, vectorIndex, redis, messenger, logger, botUserId, botToken, documentAccess }: AnswerDependencies,
): Pick<AnswerHandlers, 'docs' | 'fileShared' | 'handledElsewhere'> {
  const { embedder } = model;
  const recentShares = new RecentFileShares(redis, { keyPrefix: configuration.redis.keyPrefix });
  // At most 2 documents ingested at once per workspace, across replicas (parsing itself is bounded per process).
  const ingestionSlots = new IngestionSlots(redis, { keyPrefix: configuration.redis.keyPrefix, logger });
  const docsDependencies = {
    messenger,
    index: vectorIndex,
    uploaders: new UploaderStore(redis, { keyPrefix: configuration.redis.keyPrefix }),
    ingest: (
      input: Parameters<typeof ingestDocument>[0],
      onProgress: NonNullable<Parameters<typeof ingestDocument>[1]['onProgress']>,
    ) =>
      ingestionSlots.run(input.workspaceId, () =>
        ingestDocument(input, {
          index: vectorIndex,
          ...(embedder ? { embedder } : {}),
          callScope: { workspaceId: input.workspaceId, channelId: 'ingestion' },
          logger,
          onProgress,
        }),
      ),
    fetchFile: async (url: string, maxBytes: number) =>
      downloadSlackFile(url, {
        botToken: (await botToken?.()) ?? configuration.slack.botToken,
        apiUrl: configuration.slack.apiUrl,
        maxBytes,
        logger,
      }),
    maxUploadBytes: configuration.retrieval.maxUploadBytes,
    isAdmin: (userId: string) => configuration.people.adminUserIds.includes(userId),
    logger,
  };
  return {
    // The "Save to Deskhand docs" shortcut goes to the docs route too; it saves its thread (save-thread.ts).
    docs: withThreadSaving(
      createDocsHandler({
        ...docsDependencies,
        resolveFile: createSharedFileResolver({ messenger, recentShares }),
        ...(documentAccess ? { documentAccess } : {}),
      }),
      { ...docsDependencies, botUserId },
    ),
    fileShared: createFileSharedHandler({ ...docsDependencies, botUserId, recentShares }),
    handledElsewhere: createFileShareMentionCheck({ messenger, botUserId, mentionRouteByRules: routeMentionByRules }),
  };
}
