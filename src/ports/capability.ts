/**
 * What the router hands to a capability and what a capability hands back. Capabilities are injected as
 * handlers, one per route; they depend on ports only.
 */
import type { Block, ThreadMessage } from './messenger.ts';

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
  /** The message that triggered the request (mention, follow-up, shortcut or reaction target). */
  messageTs?: string;
  /** Root of the thread the message is in, when it is in one. */
  threadTs?: string;
  /** Event id or payload hash: correlates logs and makes model calls idempotent. */
  requestId: string;
  triggerId?: string;
  responseUrl?: string;
}

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
  /** Where a threaded reply goes: the thread root, or the triggering message when it starts a thread. */
  replyThreadTs?: string;
}

export type CapabilityOutcome =
  /** The router posts this where the request came from. */
  | { kind: 'reply'; text: string; blocks?: Block[]; visibility?: 'thread' | 'ephemeral' | 'channel' }
  /** The capability posted its result itself through the Messenger (e.g. streamed updates). */
  | { kind: 'posted'; threadTs?: string };

/**
 * A capability. Expected failures are thrown as `DeskhandError` with a code and a user message; the router
 * turns them into a short reply and a log entry.
 */
export type CapabilityHandler = (request: CapabilityRequest) => Promise<CapabilityOutcome>;

export type CapabilityHandlers = Record<Route, CapabilityHandler>;

export type { Block, ThreadMessage };
