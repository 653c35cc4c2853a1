/**
 * Files shared in Slack, on the work side: a file shared with a mention of Deskhand is added to the channel's
 * documents, and `/docs add` finds the file the user just shared.
 *
 * How the events arrive: the message that shares a file with a mention comes as `app_mention` (routed as a
 * mention, its files not passed on) and as `message`/`file_share` (not routed: the mention handles it), and
 * every shared file also comes as `file_shared` (`file_id`, `channel_id`, `user_id`, no message). The
 * `file_shared` event is the one that names the file, so it drives both: it records the user's latest file
 * per channel (for `/docs add`, which as a slash command has no thread to look in), and when the sharing
 * message mentions Deskhand it ingests that file. One event per file, so a message with three files is three
 * independent additions (each idempotent on the document id).
 */
import { toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { CapabilityRequest, IncomingRequest, MentionRoute } from '../../ports/capability.ts';
import type { FileDetails, Messenger } from '../../ports/messenger.ts';
import { escapeMrkdwn } from '../../slack-kit/mrkdwn.ts';
import { addSharedFile } from './add-shared-file.ts';
import type { DocsDependencies } from './docs-dependencies.ts';
import { newestFileSharedBy, type SharedFile } from './shared-files-of.ts';

/** The Redis commands the record of recent shares uses (an ioredis `Redis` instance fits). */
export interface RecentSharesRedis {
  set(key: string, value: string, mode: 'EX', seconds: number): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

/** The newest file each user shared in each channel, kept for `ttlSeconds` (default one day). */
export class RecentFileShares {
  readonly #redis: RecentSharesRedis;
  readonly #prefix: string;
  readonly #ttlSeconds: number;

  constructor(redis: RecentSharesRedis, options: { keyPrefix: string; ttlSeconds?: number }) {
    this.#redis = redis;
    this.#prefix = `${options.keyPrefix}docs:recent-file:`;
    this.#ttlSeconds = options.ttlSeconds ?? 86_400;
  }

  #key(workspaceId: string, channelId: string, userId: string): string {
    return `${this.#prefix}${workspaceId}:${channelId}:${userId}`;
  }

  async record(workspaceId: string, channelId: string, userId: string, fileId: string): Promise<void> {
    await this.#redis.set(this.#key(workspaceId, channelId, userId), fileId, 'EX', this.#ttlSeconds);
  }

  async latest(workspaceId: string, channelId: string, userId: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#key(workspaceId, channelId, userId))) ?? undefined;
  }
}

/** `files.info` details as a file Deskhand can download, or undefined (external, hidden, no private URL). */
export function sharedFileFromDetails(details: FileDetails): SharedFile | undefined {
  if (!details.urlPrivate) return undefined;
  return {
    id: details.id,
    name: details.name ?? details.title ?? details.id,
    ...(details.title ? { title: details.title } : {}),
    ...(details.mimetype ? { mimetype: details.mimetype } : {}),
    ...(details.size !== undefined ? { size: details.size } : {}),
    urlPrivate: details.urlPrivate,
    ...(details.permalink ? { permalink: details.permalink } : {}),
  };
}

/** True when `text` mentions the user `botUserId` (`<@U…>` or `<@U…|name>`). */
export function mentionsUser(text: string, botUserId: string): boolean {
  return text.includes(`<@${botUserId}>`) || text.includes(`<@${botUserId}|`);
}

/**
 * Whether a shared file is meant as a document. Images, video and audio shared with a mention are left to the
 * mention (a screenshot for a ticket is not a document); everything else goes to ingestion, whose format
 * detection gives unsupported files a specific reason.
 */
export function isDocumentCandidate(file: { mimetype?: string }): boolean {
  return !/^(image|video|audio)\//i.test(file.mimetype ?? '');
}

/** A `file_shared` event, as the listener hands it to the work side. */
export interface FileSharedEvent {
  workspaceId: string;
  fileId: string;
  channelId: string | undefined;
  userId: string;
  requestId: string;
}

export interface FileSharedHandlerDependencies extends DocsDependencies {
  messenger: Pick<Messenger, 'post' | 'update' | 'message'> & Partial<Pick<Messenger, 'fileInfo'>>;
  /** From configuration (ADMIN_USER_IDS), never from the request. */
  isAdmin: (userId: string) => boolean;
  /** Deskhand's user id (from auth.test); undefined until known, when nothing is ingested. */
  botUserId: () => string | undefined;
  recentShares?: RecentFileShares;
  logger?: Logger;
}

/**
 * The `file_shared` handler: records the share for `/docs add`, then, when the message that shared the file
 * mentions Deskhand, adds the file to the channel's documents with progress and the result in the message's
 * thread. Files shared without a mention are not downloaded (Deskhand stays quiet where not invited). Never
 * throws for Slack data it cannot use; a failure to add is posted in the thread with its reason.
 */
export function createFileSharedHandler(dependencies: FileSharedHandlerDependencies) {
  return async (event: FileSharedEvent): Promise<void> => {
    const logger = dependencies.logger?.child({ requestId: event.requestId, fileId: event.fileId });
    const { messenger } = dependencies;
    const channelId = event.channelId;
    const botUserId = dependencies.botUserId();
    if (!channelId || event.userId === botUserId) return;
    await dependencies.recentShares?.record(event.workspaceId, channelId, event.userId, event.fileId);
    if (!botUserId || !messenger.fileInfo) {
      logger?.debug({ code: 'not_available_yet' }, 'file_shared: bot identity or files.info unavailable');
      return;
    }
    const details = await messenger.fileInfo(event.fileId);
    const share = details?.shares.filter((candidate) => candidate.channel === channelId).at(-1);
    if (!details || !share) {
      logger?.info({ code: 'not_found', channelId }, 'file_shared: no share of the file in this channel');
      return;
    }
    const sharing = await messenger.message(channelId, share.ts);
    if (!sharing || sharing.user !== event.userId || !mentionsUser(sharing.text, botUserId)) return;

    if (!isDocumentCandidate(details)) {
      logger?.debug({ mimetype: details.mimetype }, 'file_shared: media file left to the mention');
      return;
    }
    const threadTs = share.threadTs ?? share.ts;
    const file = sharedFileFromDetails(details);
    if (!file) {
      logger?.warn({ code: 'invalid_input' }, 'shared file cannot be downloaded');
      await messenger.post({
        channel: channelId,
        threadTs,
        text: `:warning: I cannot add *${escapeMrkdwn(details.name ?? event.fileId)}*: it is not stored in Slack (external or hidden files cannot be downloaded).`,
      });
      return;
    }
    const progress = await messenger.post({
      channel: channelId,
      threadTs,
      text: `:hourglass_flowing_sand: Adding *${escapeMrkdwn(file.name)}*…`,
    });
    let text: string;
    try {
      const { reply } = await addSharedFile(
        {
          access: { workspaceId: event.workspaceId, channelId },
          userId: event.userId,
          isAdmin: dependencies.isAdmin(event.userId),
          file,
          scope: 'channel',
          onProgress: (progressText) => {
            void messenger
              .update({ channel: channelId, ts: progress.ts, threadTs, text: progressText })
              .catch(() => undefined);
          },
        },
        dependencies,
      );
      text = reply.text;
    } catch (error) {
      const coded = toDeskhandError(error);
      logger?.error({ err: error, code: coded.code }, 'adding a shared file failed');
      text = `:warning: I could not add *${escapeMrkdwn(file.name)}*: ${escapeMrkdwn(coded.userMessage)}`;
    }
    await messenger.update({ channel: channelId, ts: progress.ts, threadTs, text });
  };
}

/**
 * The file `/docs add` refers to: in a thread, the newest file the user shared there; otherwise the newest
 * file the user shared in the channel (recorded from `file_shared`) as `files.info` describes it now, and only
 * while it is still shared in that channel.
 */
export function createSharedFileResolver(dependencies: {
  messenger: Pick<Messenger, 'threadMessages'> & Partial<Pick<Messenger, 'fileInfo'>>;
  recentShares?: RecentFileShares;
}) {
  return async (request: CapabilityRequest): Promise<SharedFile | undefined> => {
    const { messenger } = dependencies;
    const threadTs = request.threadTs ?? request.replyThreadTs;
    if (threadTs) {
      const inThread = newestFileSharedBy(await messenger.threadMessages(request.channelId, threadTs), request.userId);
      if (inThread) return inThread;
    }
    const fileId = await dependencies.recentShares?.latest(request.workspaceId, request.channelId, request.userId);
    if (!fileId || !messenger.fileInfo) return undefined;
    const details = await messenger.fileInfo(fileId);
    if (!details?.shares.some((share) => share.channel === request.channelId)) return undefined;
    return sharedFileFromDetails(details);
  };
}

/**
 * Whether a mention is the message that shares documents with Deskhand and nothing more: it mentions Deskhand,
 * carries only document files from its author, and its words ask for no ticket, question or task (empty or a
 * greeting). The `file_shared` handler adds and answers for those files, so routing the mention too would
 * reply twice (help, or a classification call). One `conversations.history` read, only for such mentions.
 */
export function createFileShareMentionCheck(dependencies: {
  messenger: Pick<Messenger, 'message'>;
  botUserId: () => string | undefined;
  /** The router's keyword rules (`routeMentionByRules`), injected: a capability does not import the router. */
  mentionRouteByRules: (text: string) => MentionRoute | undefined;
}) {
  return async (request: IncomingRequest): Promise<boolean> => {
    if (request.origin !== 'mention' || !request.messageTs) return false;
    const intent = dependencies.mentionRouteByRules(request.text);
    if (intent !== undefined && intent !== 'help') return false;
    const botUserId = dependencies.botUserId();
    if (!botUserId) return false;
    const message = await dependencies.messenger.message(request.channelId, request.messageTs);
    const files = message?.files ?? [];
    return (
      message?.user === request.userId &&
      mentionsUser(message.text, botUserId) &&
      files.length > 0 &&
      files.every(isDocumentCandidate)
    );
  };
}
