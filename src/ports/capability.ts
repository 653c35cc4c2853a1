/**
 * What the router hands to a capability and what a capability hands back. Capabilities are injected as
 * handlers, one per route; they depend on ports only. Each request comes with its `Reply`: the one place that
 * knows where the answer goes, used by the capability and by the router alike.
 */
import type { Block, MessageStream, PostedMessage, ThreadMessage } from './messenger.ts';
import type { ReplyAnchor } from './reply-anchor.ts';

export const routes = ['ticket', 'question', 'task', 'help', 'budget', 'docs'] as const;
export type Route = (typeof routes)[number];

/** Routes a mention can be classified into (the others are reachable by command only). */
export const mentionRoutes = ['ticket', 'question', 'task', 'help'] as const;
export type MentionRoute = (typeof mentionRoutes)[number];

/** How the request reached Deskhand. */
export type Origin = 'mention' | 'thread_follow_up' | 'command' | 'shortcut' | 'reaction';

export interface IncomingRequest {
  origin: Origin;
  /** Tenant (see src/slack/tenancy.ts). */
  workspaceId: string;
  channelId: string;
  userId: string;
  /** The user's words with mentions of Deskhand removed (for shortcuts and reactions: the target message). */
  text: string;
  /** Set for `command`. */
  command?: string;
  /** Set for `shortcut`: the message shortcut's callback id (src/slack-kit/ids.ts `messageShortcuts`). */
  shortcut?: string;
  /** The message that triggered the request (mention, follow-up, shortcut or reaction target). */
  messageTs?: string;
  /** Root of the thread the message is in, when it is in one. */
  threadTs?: string;
  /** Event id or payload hash: correlates logs and makes model calls idempotent. */
  requestId: string;
  triggerId?: string;
  responseUrl?: string;
  /**
   * Whose documents the request may read when that is not decided by `channelId` — set on the work side only,
   * for a message in Slack's assistant view: the channel the user is viewing, or `none` when no such channel
   * could be established (fail closed: no documents at all). Absent: `channelId` decides, as everywhere else.
   */
  documentScope?: DocumentScopeOverride;
  /**
   * Set by the durable work side (src/work/durable-work.ts): the item this run belongs to and the message an earlier,
   * interrupted run started, which the reply continues (src/ports/reply-anchor.ts). Absent: the reply starts anew.
   */
  replyAnchor?: ReplyAnchor;
}

/** See `IncomingRequest.documentScope`. The budget and answer cache follow the documents' channel. */
export type DocumentScopeOverride = { kind: 'channel'; channelId: string } | { kind: 'none'; reason: string };

/** A message of the conversation so far, oldest first, trimmed to the thread-context token budget. */
export interface ContextMessage {
  ts: string;
  author: 'deskhand' | 'user' | 'other_bot';
  userId?: string;
  text: string;
}

export interface CapabilityRequest extends IncomingRequest {
  route: Route;
  /** Earlier messages of the thread (the triggering message excluded), most recent kept when trimmed. */
  threadContext: ContextMessage[];
  /** Where a threaded reply goes (the same as `Reply.threadTs`; capabilities send through the `Reply`). */
  replyThreadTs?: string;
}

export type CapabilityOutcome =
  /** The router sends this through the request's `Reply`, where the request came from. */
  | { kind: 'reply'; text: string; blocks?: Block[]; visibility?: 'thread' | 'ephemeral' | 'channel' }
  /** The capability sent its reply itself through the request's `Reply` (streamed, updated, a card it tracks). */
  | { kind: 'posted' };

/** What a reply says: plain-text fallback and optional blocks. */
export interface ReplyContent {
  text: string;
  blocks?: Block[];
}

/**
 * Where one request's reply goes and the only way a capability sends it. The router makes one per request
 * (src/router/request-reply.ts) and delivers returned outcomes and failures through the same object, so the
 * target — channel, reply thread, requester — is decided in one place.
 */
export interface Reply {
  /** The channel the request came from. */
  readonly channel: string;
  /** Who asked: ephemeral replies go to them. */
  readonly user: string;
  /**
   * The thread a threaded reply goes to: the thread root, or the triggering message when it starts a thread;
   * undefined for a slash command (its reply is a new channel message, which starts the thread).
   */
  readonly threadTs: string | undefined;
  /** True when `startStream` can be used: there is a reply thread and the Messenger streams. */
  readonly canStream: boolean;
  /**
   * Posts visibly where the request came from: in the reply thread, or as a new channel message when there is
   * none. The conversation then continues in that thread (the router remembers it for conversational routes).
   */
  post(content: ReplyContent): Promise<PostedMessage>;
  /** Replaces a message this reply posted (coalesced and paced by the Messenger). */
  update(ts: string, content: ReplyContent): Promise<void>;
  /** A message only the requester sees, in the reply thread when there is one. */
  postEphemeral(content: ReplyContent): Promise<void>;
  /** Status under the reply thread's composer (best effort; nothing without a thread or AI surfaces). */
  setStatus(status: string): Promise<void>;
  /**
   * A streamed reply in the reply thread, addressed to the requester (and their team when the tenant is a
   * team). Only when `canStream`; the conversation then continues in the reply thread.
   */
  startStream(): Promise<MessageStream>;
  /**
   * The conversation continues in the reply thread (when there is one) although nothing visible was posted
   * through this reply, e.g. a card the capability posted and tracks itself, or an ephemeral explanation.
   */
  continueInThread(): void;
}

/**
 * A capability. Expected failures are thrown as `DeskhandError` with a code and a user message; the router
 * turns them into a short reply (through `reply`) and a log entry. `request` is plain data; `reply` is how the
 * capability answers when it does more than return one message.
 */
export type CapabilityHandler = (request: CapabilityRequest, reply: Reply) => Promise<CapabilityOutcome>;

export type CapabilityHandlers = Record<Route, CapabilityHandler>;

export type { Block, ThreadMessage };
