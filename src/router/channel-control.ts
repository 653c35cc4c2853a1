/**
 * `ChannelControl`: the work side's one answer to "may Deskhand work here, and what may it read here" (issue 15).
 *
 * - `admit`: the workspace's channel settings (allow/deny lists, exemptions, per-channel mention defaults:
 *   channel-policy.ts), read through the injected `WorkspaceSettingsSource`. A settings read that fails rejects,
 *   and the router turns that into a coded failure: nothing is routed, no model is called.
 * - `documentAccess`: the access scope retrieval must use in a channel. In an externally shared (Slack Connect)
 *   channel it is `channelOnly` — the vector index's filter then leaves workspace-wide documents out — unless the
 *   workspace's admins set `sharedChannelDocuments: 'workspace'`. Fail-closed: when Slack cannot say whether the
 *   channel is shared (lookup failed, scope missing, malformed id), the channel is treated as shared and that is
 *   logged with code `upstream_unavailable`.
 * - Sharing is read with `conversations.info` (through the Messenger, so with the workspace's own token) and cached
 *   in Redis per workspace and channel under the workspace's hash tag (`{T…}:channel-sharing:C…`, in the uninstall
 *   purge's prefix list) for `ttlSeconds`; a failed lookup is cached as "shared" for `failureTtlSeconds` only, so
 *   Slack is not asked again by every request while it is down. Concurrent lookups of one channel share one call.
 *   `forget` drops the entry when Slack reports `channel_shared` / `channel_unshared`.
 *
 * "Externally shared" is `is_ext_shared` or `is_pending_ext_shared` (an invitation to another organisation is
 * out: its people may join before the cache expires), or `is_shared` without `is_org_shared` (shared, and not
 * within one Enterprise Grid organisation). A channel shared only between workspaces of one organisation is not.
 */
import type { Logger } from '../observability/logger.ts';
import type { IncomingRequest } from '../ports/capability.ts';
import type { ConversationSharing, Messenger } from '../ports/messenger.ts';
import type { AccessScope } from '../ports/vector-index.ts';
import type { WorkspaceSettingsSource } from '../ports/workspace-settings.ts';
import { admitToChannel, type ChannelAdmission } from './channel-policy.ts';

/** The Redis commands the cache uses (an ioredis `Redis` instance fits). */
export interface ChannelControlRedis {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, mode: 'EX', seconds: number): Promise<unknown>;
  del(key: string): Promise<number>;
}

export interface ChannelControlOptions {
  settings: WorkspaceSettingsSource;
  messenger: Partial<Pick<Messenger, 'conversationSharing'>>;
  redis: ChannelControlRedis;
  keyPrefix: string;
  logger: Logger;
  /** How long a channel's sharing is trusted without asking Slack again (default 10 min). */
  ttlSeconds?: number;
  /** How long a failed lookup is remembered as "shared" (default 60 s). */
  failureTtlSeconds?: number;
}

/** Where the cache keeps a channel's sharing, relative to `REDIS_KEY_PREFIX` (listed in the uninstall purge). */
export function channelSharingKeyPrefix(workspaceId: string): string {
  return `{${workspaceId}}:channel-sharing:`;
}

const channelIdPattern = /^[CDG][A-Z0-9]{2,30}$/;
const workspaceIdPattern = /^[TE][A-Z0-9]{1,40}$/;

type Sharing = 'external' | 'internal' | 'unknown';

/**
 * Drops a channel's cached sharing (what `ChannelControl.forget` does), for a caller that has only the Redis
 * connection: the ack side, on `channel_shared` / `channel_unshared` (src/slack/listeners/channel-sharing.ts).
 * Ids that are not Slack ids are ignored.
 */
export async function forgetChannelSharing(
  redis: Pick<ChannelControlRedis, 'del'>,
  keyPrefix: string,
  workspaceId: string,
  channelId: string,
): Promise<void> {
  if (!workspaceIdPattern.test(workspaceId) || !channelIdPattern.test(channelId)) return;
  await redis.del(`${keyPrefix}${channelSharingKeyPrefix(workspaceId)}${channelId}`);
}

/** True when Slack's flags say people of another organisation are, or are about to be, in the conversation. */
export function isExternallyShared(sharing: ConversationSharing): boolean {
  if (sharing.isExtShared || sharing.isPendingExtShared) return true;
  return sharing.isShared && !sharing.isOrgShared;
}

export class ChannelControl {
  readonly #options: ChannelControlOptions;
  readonly #inFlight = new Map<string, Promise<Sharing>>();

  constructor(options: ChannelControlOptions) {
    this.#options = options;
  }

  /** Whether the request may be handled in its channel (see channel-policy.ts); rejects when settings are unreadable. */
  async admit(
    request: Pick<IncomingRequest, 'workspaceId' | 'origin' | 'channelId' | 'command'>,
  ): Promise<ChannelAdmission> {
    const settings = await this.#options.settings.get(request.workspaceId);
    return admitToChannel(settings.channels, settings.admins, request);
  }

  /** The access scope for retrieval in this channel: channel-only in an externally shared channel (fail-closed). */
  async documentAccess(scope: { workspaceId: string; channelId: string }): Promise<AccessScope> {
    const access: AccessScope = { workspaceId: scope.workspaceId, channelId: scope.channelId };
    if ((await this.sharing(scope.workspaceId, scope.channelId)) === 'internal') return access;
    const settings = await this.#options.settings.get(scope.workspaceId);
    if (settings.channels.sharedChannelDocuments === 'workspace') return access;
    return { ...access, channelOnly: true };
  }

  /** `internal`, `external`, or `unknown` (the lookup failed: callers treat it as external). */
  async sharing(workspaceId: string, channelId: string): Promise<Sharing> {
    if (!workspaceIdPattern.test(workspaceId) || !channelIdPattern.test(channelId)) {
      this.#options.logger.warn(
        { code: 'invalid_input', workspaceId: workspaceId.slice(0, 64), channelId: channelId.slice(0, 64) },
        'not a Slack workspace or channel id: treated as an externally shared channel',
      );
      return 'unknown';
    }
    const key = this.#key(workspaceId, channelId);
    const cached = await this.#options.redis.get(key);
    if (cached === 'external' || cached === 'internal' || cached === 'unknown') return cached;
    const running = this.#inFlight.get(key);
    if (running) return running;
    const lookup = this.#lookUp(workspaceId, channelId, key).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, lookup);
    return lookup;
  }

  /** Drops the cached sharing of a channel (Slack said it was shared or unshared). */
  async forget(workspaceId: string, channelId: string): Promise<void> {
    await forgetChannelSharing(this.#options.redis, this.#options.keyPrefix, workspaceId, channelId);
  }

  async #lookUp(workspaceId: string, channelId: string, key: string): Promise<Sharing> {
    const { messenger, redis, logger } = this.#options;
    let sharing: Sharing;
    try {
      if (!messenger.conversationSharing) throw new Error('the Messenger cannot read conversations');
      sharing = isExternallyShared(await messenger.conversationSharing(channelId)) ? 'external' : 'internal';
      logger.info({ workspaceId, channelId, sharing }, 'channel sharing looked up');
    } catch (error) {
      sharing = 'unknown';
      logger.warn(
        { err: error, code: 'upstream_unavailable', workspaceId, channelId },
        'could not tell whether the channel is shared with another organisation: treated as shared',
      );
    }
    const ttl = sharing === 'unknown' ? (this.#options.failureTtlSeconds ?? 60) : (this.#options.ttlSeconds ?? 600);
    await redis
      .set(key, sharing, 'EX', ttl)
      .catch((error: unknown) =>
        logger.warn({ err: error, workspaceId, channelId }, 'could not cache channel sharing'),
      );
    return sharing;
  }

  #key(workspaceId: string, channelId: string): string {
    return `${this.#options.keyPrefix}${channelSharingKeyPrefix(workspaceId)}${channelId}`;
  }
}
