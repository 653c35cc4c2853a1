/**
 * Events API listeners. Only three things start work: a mention of Deskhand (or a direct message), a message in
 * a thread Deskhand is part of, and the ticket reaction. Deskhand's own messages, other bots, edits, deletions,
 * unfurls and thread broadcasts never do (docs/platform-facts.md, "Own messages"). The receiver sends Bolt's ack
 * only after these return (receiver.ts), so each stores its work item durably before returning; the work itself
 * runs in the background.
 */
import type { App } from '@slack/bolt';
import { stripMentions } from '../../router/route-rules.ts';
import { deliveryIdFrom, dispatchDurably } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import { register as registerAssistantThreads } from './assistant.ts';
import { register as registerChannelSharing } from './channel-sharing.ts';
import type { ListenerDependencies } from './dependencies.ts';
import { register as registerHome } from './home.ts';

/** The fields of a message-like event Deskhand reads. */
interface MessageLike {
  type: string;
  subtype?: string;
  text?: string;
  user?: string;
  bot_id?: string;
  app_id?: string;
  bot_profile?: unknown;
  channel?: string;
  channel_type?: string;
  ts?: string;
  thread_ts?: string;
  hidden?: boolean;
}

/** Subtypes that are a person talking; every other subtype (edits, deletions, broadcasts, joins…) is ignored. */
const workableSubtypes: ReadonlySet<string | undefined> = new Set([undefined, 'file_share']);

/** Why a message-like event must not start work, or undefined when it may. */
export function ignoredBecause(event: MessageLike, botUserId: string | undefined): string | undefined {
  if (!workableSubtypes.has(event.subtype)) return `subtype ${event.subtype}`;
  if (event.hidden) return 'hidden';
  if (event.bot_id || event.app_id || event.bot_profile) return 'bot message';
  if (!event.user) return 'no user';
  if (botUserId && event.user === botUserId) return 'own message';
  if (!event.channel || !event.ts) return 'no channel or ts';
  return undefined;
}

export function register(app: App, dependencies: ListenerDependencies): void {
  registerMentions(app, dependencies);
  registerMessages(app, dependencies);
  registerTicketReactions(app, dependencies);
  registerFileShares(app, dependencies);
  registerAssistantThreads(app, dependencies);
  registerHome(app, dependencies);
  registerChannelSharing(app, dependencies);
}

/** A mention of Deskhand: routed with its origin `mention`. */
function registerMentions(app: App, dependencies: ListenerDependencies): void {
  const { durable, logger } = dependencies;
  app.event('app_mention', async ({ event, body, context }) => {
    const message = event as unknown as MessageLike;
    const reason = ignoredBecause(message, context.botUserId ?? dependencies.identity().botUserId);
    const workspaceId = tenantOf(body, installationOf(context, dependencies.identity()));
    if (reason || !workspaceId) {
      logger.debug({ deliveryId: deliveryIdFrom(context), reason: reason ?? 'no tenant' }, 'mention ignored');
      return;
    }
    await dispatchDurably(context, durable, 'mention', {
      kind: 'route',
      request: {
        origin: 'mention',
        workspaceId,
        channelId: message.channel as string,
        userId: message.user as string,
        text: stripMentions(message.text ?? ''),
        messageTs: message.ts as string,
        ...(message.thread_ts ? { threadTs: message.thread_ts } : {}),
        requestId: deliveryIdFrom(context),
      },
    });
  });
}

/** A direct message (routed as a mention) or a follow-up in a thread; a mention in a channel is `app_mention`'s. */
function registerMessages(app: App, dependencies: ListenerDependencies): void {
  const { durable, logger } = dependencies;
  app.event('message', async ({ event, body, context }) => {
    const message = event as unknown as MessageLike;
    const botUserId = context.botUserId ?? dependencies.identity().botUserId;
    const workspaceId = tenantOf(body, installationOf(context, dependencies.identity()));
    const reason = ignoredBecause(message, botUserId) ?? (workspaceId ? undefined : 'no tenant');
    if (reason) {
      logger.debug({ deliveryId: deliveryIdFrom(context), reason }, 'message ignored');
      return;
    }
    const directMessage = message.channel_type === 'im';
    const inThread = message.thread_ts !== undefined && message.thread_ts !== message.ts;
    // A mention also arrives as `app_mention`, which handles it; direct messages get no `app_mention`.
    const mentionsDeskhand = botUserId !== undefined && (message.text ?? '').includes(`<@${botUserId}`);
    if ((mentionsDeskhand && !directMessage) || (!directMessage && !inThread)) return;
    await dispatchDurably(context, durable, directMessage && !inThread ? 'direct_message' : 'thread_follow_up', {
      kind: 'route',
      request: {
        origin: directMessage && !inThread ? 'mention' : 'thread_follow_up',
        workspaceId: workspaceId as string,
        channelId: message.channel as string,
        userId: message.user as string,
        text: stripMentions(message.text ?? ''),
        messageTs: message.ts as string,
        ...(inThread ? { threadTs: message.thread_ts as string } : {}),
        requestId: deliveryIdFrom(context),
      },
    });
  });
}

/** The ticket reaction by someone other than Deskhand, on a message. */
function registerTicketReactions(app: App, dependencies: ListenerDependencies): void {
  const { durable } = dependencies;
  app.event('reaction_added', async ({ event, body, context }) => {
    const botUserId = context.botUserId ?? dependencies.identity().botUserId;
    const workspaceId = tenantOf(body, installationOf(context, dependencies.identity()));
    if (event.reaction !== dependencies.ticketReaction || event.item.type !== 'message' || !workspaceId) return;
    if (botUserId && event.user === botUserId) return;
    const { channel, ts } = event.item;
    const userId = event.user;
    await dispatchDurably(context, durable, 'ticket_reaction', {
      kind: 'reaction',
      request: { workspaceId, channelId: channel, userId, messageTs: ts, requestId: deliveryIdFrom(context) },
    });
  });
}

function registerFileShares(app: App, dependencies: ListenerDependencies): void {
  const { durable } = dependencies;
  app.event('file_shared', async ({ event, body, context }) => {
    const workspaceId = tenantOf(body, installationOf(context, dependencies.identity()));
    if (!workspaceId) return;
    await dispatchDurably(context, durable, 'file_shared', {
      kind: 'fileShared',
      request: {
        workspaceId,
        fileId: event.file_id,
        channelId: event.channel_id,
        userId: event.user_id,
        requestId: deliveryIdFrom(context),
      },
    });
  });
}
