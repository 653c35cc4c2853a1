/**
 * Builds the work side — everything after the ack: its own Redis connection, the Slack Messenger, the model
 * gateway, the vector index and the capabilities — from the configuration. Used by `src/main.ts` on its own
 * event loop, or inside the worker thread (src/workers/work-thread.ts) so that model, index and tokenizer work
 * never competes with acknowledging Slack.
 *
 * Without a model (`OPENAI_API_KEY` unset) the OpenAI client is never constructed and no request reaches a
 * model server: the gateway is `createNoModelGateway` (refuses and counts any call), questions get quoted
 * passages from sparse retrieval, tickets are made by rules, mentions are routed by rules or get help,
 * `/budget` and `/docs` work from Redis and the index, and `/agent` says it needs a model.
 */
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import {
  createApprovalActionHandler,
  createModelRequiredAgentHandler,
  createStopActionHandler,
  createTaskHandler,
} from './capabilities/agent/agent-handlers.ts';
import { agentActionIds } from './capabilities/agent/agent-ids.ts';
import { createAgent } from './capabilities/agent/create-agent.ts';
import type { FileTicket } from './capabilities/agent/tools/file-ticket.ts';
import {
  createDocsHandler,
  createFeedbackHandler,
  createQuestionHandler,
} from './capabilities/answers/answer-handlers.ts';
import { answerActionIds } from './capabilities/answers/answer-ids.ts';
import { UploaderStore } from './capabilities/answers/docs-command.ts';
import { FeedbackStore } from './capabilities/answers/feedback-store.ts';
import { createRetriever } from './capabilities/answers/retrieval-adapter.ts';
import {
  createFileSharedHandler,
  createFileShareMentionCheck,
  createSharedFileResolver,
  RecentFileShares,
} from './capabilities/answers/shared-files.ts';
import { budgetWarningText } from './capabilities/budget/budget-warning.ts';
import { ingestDocument } from './capabilities/documents/ingestion/ingest-document.ts';
import { createTicketWorkflow } from './capabilities/tickets/create-ticket-workflow.ts';
import { extractTicket } from './capabilities/tickets/extract-ticket.ts';
import { createTicketSinks } from './capabilities/tickets/sinks/create-ticket-sinks.ts';
import type { TicketSink } from './capabilities/tickets/sinks/ticket-sink.ts';
import { ticketActionIds, ticketEditModalCallbackId } from './capabilities/tickets/ticket-ids.ts';
import type { Configuration } from './config.ts';
import { DeskhandError } from './errors.ts';
import { BudgetStore } from './llm/budget-store.ts';
import { createGateway } from './llm/create-gateway.ts';
import { encodingForModel } from './llm/tokenizer.ts';
import type { Logger } from './observability/logger.ts';
import type { Registry } from './observability/metrics.ts';
import { EmbeddedVectorIndex } from './ports/adapters/embedded-vector-index.ts';
import { QdrantVectorIndex, RedisIndexVersionCounter } from './ports/adapters/qdrant-vector-index.ts';
import type { Embedder } from './ports/embedder.ts';
import type { ChatRequest, LanguageModelGateway } from './ports/language-model.ts';
import type { VectorIndex } from './ports/vector-index.ts';
import { budgetHandler } from './router/budget-handler.ts';
import { createHelpHandler } from './router/default-handlers.ts';
import { createNoModelGateway } from './router/no-model.ts';
import type { BotIdentity } from './router/thread-context.ts';
import { RedisThreadMemory } from './router/thread-memory.ts';
import type { CapabilityHandlers } from './router/types.ts';
import { boltLogger } from './slack/bolt-logger.ts';
import type { InteractionHandlers } from './slack/listeners/dependencies.ts';
import { createSlackWebClient, SlackMessenger } from './slack/outbound/slack-messenger.ts';
import { createInProcessWork, type Work } from './slack/work.ts';

export async function buildWorkSide(configuration: Configuration, logger: Logger, registry: Registry): Promise<Work> {
  const redis = new Redis(configuration.redis.url, { maxRetriesPerRequest: 2, connectTimeout: 5_000 });
  redis.on('error', (error) => logger.warn({ err: error, code: 'upstream_unavailable' }, 'redis error'));
  const webClient = createSlackWebClient({
    token: configuration.slack.botToken,
    apiUrl: configuration.slack.apiUrl,
    timeoutMs: configuration.slack.requestTimeoutMs,
    clientLogger: boltLogger(logger),
  });
  const messenger = new SlackMessenger({ client: webClient, logger, metrics: registry });

  let closeGateway = async () => {};
  let estimateChatCostMicroUsd: ((request: ChatRequest) => number) | undefined;
  let gateway: LanguageModelGateway;
  let embedder: Embedder | undefined;
  const capabilities: Partial<CapabilityHandlers> = {};
  const interactions: InteractionHandlers = { actions: {}, views: {} };
  const modelConfigured = Boolean(configuration.openai.apiKey);
  capabilities.help = createHelpHandler({ modelConfigured, ticketReaction: configuration.tickets.reaction });
  if (modelConfigured) {
    const openai = new OpenAI({ apiKey: configuration.openai.apiKey, baseURL: configuration.openai.baseURL });
    const parts = createGateway(configuration, {
      openai,
      redis,
      metrics: registry,
      logger,
      // Each window's 80 % crossing is reported once by the budget store; the channel hears it once.
      onBudgetWarning: async (warning) => {
        logger.info({ code: 'budget_warning', ...warning }, 'budget warning');
        await messenger.post({
          channel: warning.channelId,
          text: budgetWarningText(warning, {
            timeZone: configuration.budgets.timeZone,
            adminUserIds: configuration.people.adminUserIds,
          }),
        });
      },
    });
    gateway = parts.gateway;
    embedder = parts.embedder;
    closeGateway = parts.close;
    const chatModel = configuration.openai.model;
    estimateChatCostMicroUsd = (request) =>
      parts.prices.cost(request.model ?? chatModel, {
        inputTokens: parts.gateway.countChatTokens(request),
        outputTokens: request.maxOutputTokens,
      });
    // Counters are only ever raised from the durable ledger, so this is safe on every start and restores caps
    // after Redis lost its data (restart without persistence, failover).
    try {
      const rebuilt = await parts.rebuildCounters();
      logger.info({ code: 'ok', ...rebuilt }, 'budget counters reseeded from the ledger');
    } catch (error) {
      logger.warn({ err: error, code: 'budget_unenforceable' }, 'could not reseed budget counters from the ledger');
    }
    capabilities.budget = budgetHandler({
      budgets: parts.budgets,
      adminUserIds: configuration.people.adminUserIds,
      logger,
    });
  } else {
    logger.warn(
      { code: 'configuration' },
      'OPENAI_API_KEY is not set: no model calls; answers quote passages, tickets use rules, /agent is off',
    );
    gateway = createNoModelGateway({ logger, registry });
    // Nothing is spent without a model, but `/budget` still shows the caps and any earlier spend.
    capabilities.budget = budgetHandler({
      budgets: budgetStoreWithoutModel(configuration, redis),
      adminUserIds: configuration.people.adminUserIds,
      logger,
    });
  }

  // Qdrant when QDRANT_URL is set (index versions as Redis counters, shared with `npm run ingest`), else embedded.
  const vectorIndex: VectorIndex = configuration.qdrant.url
    ? new QdrantVectorIndex({
        client: new QdrantClient({
          url: configuration.qdrant.url,
          ...(configuration.qdrant.apiKey ? { apiKey: configuration.qdrant.apiKey } : {}),
          timeout: 30_000,
          checkCompatibility: false,
        }),
        collection: configuration.qdrant.collection,
        dimensions: configuration.openai.embeddingDimensions,
        versions: new RedisIndexVersionCounter(redis, configuration.redis.keyPrefix),
        logger,
      })
    : new EmbeddedVectorIndex({ directory: join(configuration.dataDir, 'index'), logger });
  await vectorIndex.ensureReady();

  // Tickets: /ticket, the shortcut, the reaction, ticket mentions; the card's buttons and its edit modal.
  const tickets = createTicketWorkflow(configuration, {
    gateway,
    modelConfigured,
    redis,
    messenger,
    logger,
    metrics: registry,
  });
  capabilities.ticket = (request) => tickets.handleRoutedRequest(request);
  for (const actionId of Object.values(ticketActionIds)) {
    interactions.actions[actionId] = (click) => tickets.handleButton(click);
  }
  interactions.views[ticketEditModalCallbackId] = (submission) => tickets.handleViewSubmission(submission);

  // Answers from documents (/ask, questions, follow-ups), /docs, and feedback on answers.
  const retrieve = createRetriever(
    { index: vectorIndex, ...(embedder ? { embedder } : {}), gateway, logger },
    {
      mode: embedder ? configuration.retrieval.mode : 'sparse',
      contextTokens: configuration.retrieval.contextTokens,
      rerankerEnabled: configuration.retrieval.rerankerEnabled,
    },
  );
  const feedback = new FeedbackStore(redis, { keyPrefix: configuration.redis.keyPrefix });
  capabilities.question = createQuestionHandler({
    answer: {
      gateway,
      retrieve,
      withoutModel: !modelConfigured,
      onWarning: (message, details) => logger.warn(details, message),
      onError: (error, details) => logger.warn({ ...details, err: error, code: error.code }, 'answer failed'),
    },
    messenger,
    feedback,
    logger,
  });
  const feedbackHandler = createFeedbackHandler(feedback, logger);
  for (const actionId of Object.values(answerActionIds)) {
    interactions.actions[actionId] = (click) => feedbackHandler(click);
  }
  // Documents from Slack: `file_shared` records each user's newest file per channel (what `/docs add` refers
  // to) and ingests a file whose sharing message mentions Deskhand into the channel's scope.
  let identity: BotIdentity = {};
  const recentShares = new RecentFileShares(redis, { keyPrefix: configuration.redis.keyPrefix });
  const docsDependencies = {
    messenger,
    index: vectorIndex,
    uploaders: new UploaderStore(redis, { keyPrefix: configuration.redis.keyPrefix }),
    ingest: (
      input: Parameters<typeof ingestDocument>[0],
      onProgress: NonNullable<Parameters<typeof ingestDocument>[1]['onProgress']>,
    ) =>
      ingestDocument(input, {
        index: vectorIndex,
        ...(embedder ? { embedder } : {}),
        callScope: { workspaceId: input.workspaceId, channelId: 'ingestion' },
        logger,
        onProgress,
      }),
    fetchFile: (url: string, maxBytes: number) => downloadSlackFile(url, configuration.slack.botToken, maxBytes),
    maxUploadBytes: configuration.retrieval.maxUploadBytes,
    isAdmin: (userId: string) => configuration.people.adminUserIds.includes(userId),
    logger,
  };
  capabilities.docs = createDocsHandler({
    ...docsDependencies,
    resolveFile: createSharedFileResolver({ messenger, recentShares }),
  });
  interactions.fileShared = createFileSharedHandler({
    ...docsDependencies,
    botUserId: () => identity.botUserId,
    recentShares,
  });

  // The agent (/agent, approvals, stop) needs a model: without one it is not built and says so.
  let closeAgent = async () => {};
  if (modelConfigured) {
    const agent = buildAgent();
    closeAgent = () => agent.queue.close();
  } else {
    const needsModel = createModelRequiredAgentHandler();
    capabilities.task = needsModel;
    for (const actionId of Object.values(agentActionIds)) interactions.actions[actionId] = needsModel;
  }

  /** The agent (/agent, approvals, stop): its tools reuse retrieval, ticket extraction and the ticket sinks. */
  function buildAgent() {
    const sinks = createTicketSinks(configuration.tickets, { messenger, logger });
    const agent = createAgent({
      configuration,
      redis,
      queueConnection: { url: configuration.redis.url, maxRetriesPerRequest: null },
      gateway,
      messenger,
      logger,
      metrics: registry,
      // APPROVER_USER_GROUP_ID: members are approvers (cached 60 s by the agent; a failed lookup denies).
      listUserGroupMembers: async (usergroup) => (await webClient.usergroups.users.list({ usergroup })).users ?? [],
      tools: {
        search: async ({ query, access, limit }) => {
          const context = await retrieve({ question: query, access, callScope: { ...access } });
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
                categories: configuration.tickets.categories,
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
        fileTicket: (request) => fileTicketThroughSinks(request, sinks, configuration.tickets.teamLanguage),
        ticketDestinationName: configuration.tickets.triageChannelId ? 'the triage channel' : 'the ticket webhook',
        encoding: encodingForModel(configuration.openai.model, configuration.openai.fallbackEncoding),
      },
      // Lets the run check its per-run cap before a call, not only after it.
      ...(estimateChatCostMicroUsd ? { estimateChatCostMicroUsd } : {}),
    });
    agent.queue.startWorker();
    capabilities.task = createTaskHandler(agent.service);
    const approval = createApprovalActionHandler(agent.service);
    interactions.actions[agentActionIds.approve] = (click) => approval(click);
    interactions.actions[agentActionIds.reject] = (click) => approval(click);
    const stop = createStopActionHandler(agent.service);
    interactions.actions[agentActionIds.stop] = (click) => stop(click);
    return agent;
  }

  const work = createInProcessWork({
    messenger,
    gateway,
    threads: new RedisThreadMemory({ redis, keyPrefix: configuration.redis.keyPrefix }),
    logger,
    registry,
    capabilities,
    interactions,
    classifierModel: configuration.openai.classifierModel,
    threadContextTokens: configuration.threadContextTokens,
    encoding: encodingForModel(configuration.openai.model, configuration.openai.fallbackEncoding),
    handledElsewhere: createFileShareMentionCheck({ messenger, botUserId: () => identity.botUserId }),
    ready: async () => (await redis.ping()) === 'PONG' && (await vectorIndex.ping()),
    onClose: async () => {
      await closeAgent();
      await vectorIndex.close();
      await closeGateway();
      await redis.quit();
    },
  });
  return {
    ...work,
    setIdentity(value) {
      identity = value;
      work.setIdentity(value);
    },
  };
}

/**
 * The budget store `/budget` reads when no model is configured: the same Redis keys, caps and time zone as the
 * one `createGateway` builds, without the OpenAI client, the price table or the ledger (nothing is spent).
 */
function budgetStoreWithoutModel(configuration: Configuration, redis: Redis): BudgetStore {
  const micro = (usd: number) => Math.round(usd * 1_000_000);
  return new BudgetStore({
    redis,
    keyPrefix: configuration.redis.keyPrefix,
    timeZone: configuration.budgets.timeZone,
    defaults: {
      channelDailyMicroUsd: micro(configuration.budgets.channelDailyUsd),
      channelMonthlyMicroUsd: micro(configuration.budgets.channelMonthlyUsd),
      workspaceDailyMicroUsd: micro(configuration.budgets.workspaceDailyUsd),
    },
    reservationTtlMs: configuration.budgets.reservationTtlSeconds * 1000,
    adminUserIds: configuration.people.adminUserIds,
  });
}

/**
 * Downloads a Slack file (`url_private`) with the bot token, refusing anything larger than `maxBytes` while it
 * streams — the declared size is not trusted. Hand-written: a bounded authenticated GET is all this needs.
 */
async function downloadSlackFile(url: string, botToken: string, maxBytes: number): Promise<Uint8Array> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${botToken}` },
    signal: AbortSignal.timeout(60_000),
  });
  if (!response.ok || !response.body) {
    throw new DeskhandError('upstream_unavailable', `file download failed with HTTP ${response.status}`, {
      userMessage: 'I could not download that file from Slack.',
    });
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      throw new DeskhandError('input_too_large', `file larger than ${maxBytes} bytes`, {
        userMessage: `That file is larger than the ${Math.round(maxBytes / 1024 / 1024)} MB limit.`,
      });
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * The agent's `file_ticket` tool: delivers the approved ticket to every configured sink, with the run's
 * idempotency key as the ticket id (sinks key their delivery records on it). Without a sink there is nowhere
 * to file, which is a clear outcome rather than a silent success.
 */
async function fileTicketThroughSinks(
  request: Parameters<FileTicket>[0],
  sinks: readonly TicketSink[],
  teamLanguage: string,
): Promise<{ reference: string; url?: string }> {
  if (sinks.length === 0) {
    throw new DeskhandError('configuration', 'no ticket sink configured', {
      userMessage: 'No ticket destination is configured (TICKET_TRIAGE_CHANNEL_ID or TICKET_WEBHOOK_URL).',
    });
  }
  const { ticket } = request;
  let reference = request.idempotencyKey;
  for (const sink of sinks) {
    const result = await sink.deliver({
      ticketId: request.idempotencyKey,
      workspaceId: request.workspaceId,
      ticket: {
        summary: ticket.summary,
        category: ticket.category,
        urgency: ticket.urgency,
        urgencyReason: null,
        orderIds: ticket.orderIds,
        customerName: null,
        customerEmail: ticket.customerEmail,
        product: null,
        deadline: null,
        frequency: null,
        language: teamLanguage,
        questionsToAsk: [],
        confidence: 1,
      },
      source: { channelId: request.channelId, messageTs: request.threadTs ?? request.idempotencyKey },
      filedBy: request.approvedBy ?? request.requesterId,
      filedAt: new Date().toISOString(),
      extractedWithoutModel: false,
    });
    if (result.reference) reference = result.reference;
  }
  return { reference };
}
