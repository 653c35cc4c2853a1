/**
 * Builds the work side — everything after the ack: its own Redis connection, the Slack Messenger, the model
 * gateway, the vector index and the capabilities — from the configuration. Used by `src/main.ts` on its own
 * event loop, or inside the worker thread (src/composition/worker/work-thread.ts) so that model, index and tokenizer work
 * never competes with acknowledging Slack. One builder per concept, in this order: model access (budget
 * counters reseeded before any handler exists), vector index (ready before use), tickets, answers, agent (its
 * worker started last). With OAuth distribution (build-installations.ts) the Messenger sends each workspace's
 * calls with that workspace's token, every request runs in its workspace's scope (`scopeWork`), and the purger
 * deletes uninstalled workspaces' data.
 *
 * Without a model (`OPENAI_API_KEY` unset) the OpenAI client is never constructed and no request reaches a
 * model server: the gateway is `createNoModelGateway` (refuses and counts any call), questions get quoted
 * passages from sparse retrieval, tickets are made by rules, mentions are routed by rules or get help,
 * `/budget` and `/docs` work from Redis and the index, and `/agent` says it needs a model.
 */
import type { WebClient } from '@slack/web-api';
import type { RedisClient } from '../adapters/redis-client.ts';
import { encodingForModel } from '../llm/tokenizer.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { ChannelControl } from '../router/channel-control.ts';
import { createHelpHandler } from '../router/default-handlers.ts';
import type { BotIdentity } from '../router/thread-context.ts';
import { RedisThreadMemory } from '../router/thread-memory.ts';
import { boltLogger } from '../slack/bolt-logger.ts';
import { RedisSharedPacing } from '../slack/outbound/shared-pacing.ts';
import { createSlackWebClient, SlackMessenger } from '../slack/outbound/slack-messenger.ts';
import { anchorsDirectory, workJournalDirectory } from '../work/journal-files.ts';
import { RedisReplyAnchors } from '../work/reply-anchors.ts';
import { createInProcessWork, type Work } from '../work/work.ts';
import { buildAdminIngest } from './build-admin-ingest.ts';
import { buildAgent } from './build-agent.ts';
import { buildAnswers } from './build-answers.ts';
import { buildAssistant } from './build-assistant.ts';
import { buildHome } from './build-home.ts';
import { buildWorkspacePurger, buildWorkspaceSlack, scopeWork } from './build-installations.ts';
import { buildModelAccess } from './build-model-access.ts';
import { buildSettingsHandlers, buildWorkspaceSettings } from './build-settings.ts';
import { buildTickets } from './build-tickets.ts';
import { buildVectorIndex } from './build-vector-index.ts';
import type { Configuration } from './config.ts';
import { createRedis } from './create-redis.ts';

/** `parts.vectorIndex`: an index opened elsewhere (the embedded index shared by work threads); default: its own. */
export async function buildWorkSide(
  configuration: Configuration,
  logger: Logger,
  registry: Registry,
  parts: { vectorIndex?: VectorIndex } = {},
): Promise<Work> {
  const redis = createRedis(configuration, { logger });
  // OAuth distribution: each workspace's calls with its own token (build-installations.ts); else the one token.
  const oauth = configuration.slack.oauth;
  const workspaces = oauth ? buildWorkspaceSlack(configuration, oauth, { redis, logger, registry }) : undefined;
  const { messenger, webClient } = workspaces ?? singleWorkspaceSlack(configuration, { redis, logger, registry });

  // Each workspace's settings (admins, approvers, caps, model, tickets, channels) over the environment's defaults.
  const settings = buildWorkspaceSettings(configuration, { redis, logger });
  const model = await buildModelAccess(configuration, { redis, messenger, logger, registry, settings });
  const { gateway, modelConfigured } = model;
  const vectorIndex = parts.vectorIndex ?? (await buildVectorIndex(configuration, { redis, logger }));
  const ticketParts = { gateway, modelConfigured, redis, messenger, logger, registry, settings };
  const tickets = buildTickets(configuration, ticketParts);
  let identity: BotIdentity = {};
  // OAuth distribution: each workspace has its own bot user; else the one learnt at start.
  const workspaceIdentity = () => workspaces?.identity();
  const botUserId = () => (workspaceIdentity() ?? identity).botUserId;
  const botToken = workspaces ? { botToken: workspaces.botToken } : {};
  // Where Deskhand works and what it may read there (Slack Connect channels: channel-only documents).
  const channels = new ChannelControl({ settings, messenger, redis, keyPrefix: configuration.redis.keyPrefix, logger });
  const documentAccess = (scope: { workspaceId: string; channelId: string }) => channels.documentAccess(scope);
  const answerParts = { model, vectorIndex, redis, messenger, logger, botUserId, documentAccess, ...botToken };
  const answers = buildAnswers(configuration, answerParts);
  const { retrieve } = answers;
  const agentParts = { model, retrieve, redis, webClient, messenger, logger, registry, settings, documentAccess };
  const agent = buildAgent(configuration, agentParts);
  // Slack's assistant view; channel control's decision is its `channelAdmitted` seam (build-assistant.ts).
  const channelAdmitted = async (workspaceId: string, channelId: string) =>
    (await channels.admit({ origin: 'mention', workspaceId, channelId })).admitted;
  const assistant = buildAssistant(configuration, { redis, messenger, logger, channelAdmitted });
  // The App Home; `home.refresh` republishes one person's Home after a change they would see.
  const home = buildHome(configuration, { redis, messenger, settings, vectorIndex, logger, modelConfigured });
  // The settings modal (admins only); a save republishes the saver's Home.
  const settingsModal = buildSettingsHandlers(configuration, settings, {
    messenger,
    logger,
    onSettingsChanged: (workspaceId, userId) => home.refresh(workspaceId, userId),
  });

  const purger = workspaces && buildWorkspacePurger(configuration, workspaces, { redis, vectorIndex, logger });
  purger?.start();

  const work = createInProcessWork({
    identity: workspaceIdentity,
    messenger,
    gateway,
    threads: new RedisThreadMemory({ redis, keyPrefix: configuration.redis.keyPrefix }),
    replyAnchors: new RedisReplyAnchors({
      redis,
      keyPrefix: configuration.redis.keyPrefix,
      logger,
      // Beside this replica's work journal, which the ingress thread opened (nothing written without it).
      anchorsDirectory: anchorsDirectory(workJournalDirectory(configuration.dataDir)),
    }),
    logger,
    registry,
    capabilities: {
      help: createHelpHandler({ modelConfigured, ticketReaction: configuration.tickets.reaction }),
      budget: model.budget,
      ticket: tickets.ticket,
      question: answers.question,
      docs: answers.docs,
      task: agent.task,
    },
    interactions: {
      actions: home.withHomeRefresh({
        ...tickets.actions,
        ...answers.actions,
        ...agent.actions,
        ...home.actions,
        ...settingsModal.actions,
      }),
      views: { ...tickets.views, ...settingsModal.views, ...answers.views },
      fileShared: answers.fileShared,
      assistantThread: assistant.assistantThread,
      homeOpened: home.homeOpened,
    },
    classifierModel: configuration.openai.classifierModel,
    threadContextTokens: configuration.threadContextTokens,
    encoding: encodingForModel(configuration.openai.model, configuration.openai.fallbackEncoding),
    handledElsewhere: answers.handledElsewhere,
    channels,
    prepareRoute: assistant.prepareRoute,
    adminIngest: buildAdminIngest(configuration, { vectorIndex, embedder: model.embedder, redis, logger }),
    ready: async () => (await redis.ping()) === 'PONG' && (await vectorIndex.ping()),
    onClose: async () => {
      await purger?.stop();
      await home.close();
      await agent.close();
      await vectorIndex.close();
      await model.close();
      await redis.quit();
    },
  });
  return scopeWork({
    ...work,
    setIdentity(value) {
      identity = value;
      work.setIdentity(value);
    },
  });
}

/** Single-token mode: one messenger and one client on `SLACK_BOT_TOKEN`. */
function singleWorkspaceSlack(
  configuration: Configuration,
  parts: { redis: RedisClient; logger: Logger; registry: Registry },
): { messenger: Messenger; webClient: () => Promise<WebClient> } {
  const { redis, logger, registry } = parts;
  const client = createSlackWebClient({
    token: configuration.slack.botToken,
    apiUrl: configuration.slack.apiUrl,
    timeoutMs: configuration.slack.requestTimeoutMs,
    clientLogger: boltLogger(logger),
  });
  // Posts per channel paced across replicas (and this replica's work threads) in Redis.
  const sharedPacing = new RedisSharedPacing({ redis, keyPrefix: configuration.redis.keyPrefix, logger });
  const messenger = new SlackMessenger({ client, logger, metrics: registry, sharedPacing });
  return { messenger, webClient: async () => client };
}
