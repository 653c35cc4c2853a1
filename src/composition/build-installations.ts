/**
 * The OAuth distribution parts of the composition (many workspaces, `configuration.slack.oauth` set):
 * - the encrypted installation store, shared by the ingress (Bolt's OAuth routes and `authorize`) and the work side;
 * - on the work side: each workspace's token read from that store (installation-tokens.ts), a `WorkspaceMessenger`
 *   sending each workspace's calls with its own token, a `WorkspacePurger` deleting an uninstalled workspace's data,
 *   and `scopeWork`, which makes every request of the work side act for its workspace (workspace-scope.ts), so the
 *   Messenger knows whose token to use without each capability passing it along;
 * - the scopes the install asks for, read from the manifest (one list for the manifest and the install URL).
 * The token travels neither with the request nor through the worker thread: the work side reads it itself.
 */
import { readFileSync } from 'node:fs';
import type { WebClient } from '@slack/web-api';
import type { RedisClient } from '../adapters/redis-client.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { currentWorkspace, withWorkspace } from '../ports/workspace-scope.ts';
import { boltLogger } from '../slack/bolt-logger.ts';
import { InstallationTokens } from '../slack/installations/installation-tokens.ts';
import { RedisInstallationStore } from '../slack/installations/redis-installation-store.ts';
import { parseKeyRing } from '../slack/installations/token-cipher.ts';
import { WorkspacePurger } from '../slack/installations/workspace-purge.ts';
import { RedisSharedPacing } from '../slack/outbound/shared-pacing.ts';
import { createSlackWebClient, SlackMessenger } from '../slack/outbound/slack-messenger.ts';
import { WorkspaceMessenger } from '../slack/outbound/workspace-messenger.ts';
import type { ReceiverOAuthOptions } from '../slack/receiver.ts';
import type { Work } from '../work/work.ts';
import type { Configuration } from './config.ts';
import type { OAuthConfiguration } from './oauth-config.ts';

const manifestUrl = new URL('../../manifests/deskhand.manifest.json', import.meta.url);

/** The bot scopes of the manifest, which the install URL asks for. */
export function manifestBotScopes(): string[] {
  const manifest = JSON.parse(readFileSync(manifestUrl, 'utf8')) as { oauth_config?: { scopes?: { bot?: string[] } } };
  return manifest.oauth_config?.scopes?.bot ?? [];
}

export function createInstallationStore(
  oauth: OAuthConfiguration,
  parts: { redis: RedisClient; keyPrefix: string; logger: Logger },
): RedisInstallationStore {
  return new RedisInstallationStore({ ...parts, keys: parseKeyRing(oauth.encryptionKeys) });
}

export interface WorkspaceSlack {
  messenger: WorkspaceMessenger;
  store: RedisInstallationStore;
  tokens: InstallationTokens;
  /** The current workspace's Web API client (user groups). */
  webClient: () => Promise<WebClient>;
  /** The current workspace's bot token (file downloads). */
  botToken: () => Promise<string>;
  /** The current workspace's bot ids, once its installation was read in this process (thread context). */
  identity: () => { botUserId?: string; botId?: string } | undefined;
}

/** The work side's Slack in OAuth mode: every call with the token of the workspace the work acts for. */
export function buildWorkspaceSlack(
  configuration: Configuration,
  oauth: OAuthConfiguration,
  parts: { redis: RedisClient; logger: Logger; registry: Registry },
): WorkspaceSlack {
  const { redis, logger, registry } = parts;
  const store = createInstallationStore(oauth, { redis, keyPrefix: configuration.redis.keyPrefix, logger });
  const tokens = new InstallationTokens({ store });
  // Posts per channel paced across replicas in Redis (channel ids are unique across workspaces).
  const sharedPacing = new RedisSharedPacing({ redis, keyPrefix: configuration.redis.keyPrefix, logger });
  const messenger = new WorkspaceMessenger({
    tokenOf: async (workspaceId) => (await tokens.botOf(workspaceId)).token,
    client: (token) =>
      createSlackWebClient({
        token,
        apiUrl: configuration.slack.apiUrl,
        timeoutMs: configuration.slack.requestTimeoutMs,
        clientLogger: boltLogger(logger),
      }),
    // Metrics are registered once: every workspace's messenger shares the registry's series.
    create: (client) => new SlackMessenger({ client, logger, metrics: registry, sharedPacing }),
    logger,
  });
  const identity = () => {
    const workspaceId = currentWorkspace();
    return workspaceId ? tokens.botIdsOf(workspaceId) : undefined;
  };
  return { messenger, store, tokens, webClient: () => messenger.client(), botToken: () => messenger.token(), identity };
}

/** Deletes uninstalled workspaces' data on the work side (see workspace-purge.ts); started by the caller. */
export function buildWorkspacePurger(
  configuration: Configuration,
  slack: WorkspaceSlack,
  parts: { redis: RedisClient; vectorIndex: VectorIndex; logger: Logger },
): WorkspacePurger {
  return new WorkspacePurger({
    ...parts,
    keyPrefix: configuration.redis.keyPrefix,
    deleteInstallation: (workspaceId) => slack.store.deleteTenant(workspaceId),
    forgetInMemory: async (workspaceId) => {
      slack.tokens.forget(workspaceId);
      await slack.messenger.forget(workspaceId);
    },
  });
}

/** Every request of `work` runs acting for its workspace (what the `WorkspaceMessenger` reads). */
export function scopeWork<W extends Work>(work: W): W {
  return {
    ...work,
    route: (request) => withWorkspace(request.workspaceId, () => work.route(request)),
    reaction: (request) => withWorkspace(request.workspaceId, () => work.reaction(request)),
    action: (request) => withWorkspace(request.workspaceId, () => work.action(request)),
    view: (request) => withWorkspace(request.workspaceId, () => work.view(request)),
    fileShared: (request) => withWorkspace(request.workspaceId, () => work.fileShared(request)),
    assistantThread: (request) => withWorkspace(request.workspaceId, () => work.assistantThread(request)),
    homeOpened: (request) => withWorkspace(request.workspaceId, () => work.homeOpened(request)),
  };
}

export interface IngressInstallations {
  store: RedisInstallationStore;
  /** What the HTTP receiver needs to serve Bolt's install and redirect paths. */
  receiverOptions: ReceiverOAuthOptions;
  /** A workspace's bot token, for the ingress's rare own messages; undefined when it has none (logged). */
  tokenOf(workspaceId: string | undefined): Promise<string | undefined>;
}

/** The ingress's side of OAuth distribution, or undefined in single-token mode. */
export function ingressInstallations(
  configuration: Configuration,
  parts: { redis: RedisClient; logger: Logger },
): IngressInstallations | undefined {
  const oauth = configuration.slack.oauth;
  if (!oauth) return undefined;
  const { logger } = parts;
  const store = createInstallationStore(oauth, { ...parts, keyPrefix: configuration.redis.keyPrefix });
  return {
    store,
    receiverOptions: {
      clientId: oauth.clientId,
      clientSecret: oauth.clientSecret,
      stateSecret: oauth.stateSecret,
      installationStore: store,
      scopes: manifestBotScopes(),
      ...(oauth.redirectUri ? { redirectUri: oauth.redirectUri } : {}),
      clientOptions: { slackApiUrl: configuration.slack.apiUrl, timeout: configuration.slack.requestTimeoutMs },
    },
    async tokenOf(workspaceId) {
      const installation = workspaceId ? await store.installationOf(workspaceId).catch(() => undefined) : undefined;
      if (!installation?.bot?.token) logger.warn({ workspaceId, code: 'not_authorised' }, 'no token to notify with');
      return installation?.bot?.token;
    },
  };
}
