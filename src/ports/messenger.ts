/**
 * Everything Deskhand says in Slack goes through this port. Its implementation (`src/slack/outbound/`) owns
 * the Web API client and the platform rules from ../shared/REFERENCE.md: per-call timeouts, no blind retry of
 * posts, about one message per second per channel, coalesced `chat.update`, a 429 in one channel never
 * stalling another, splitting long content within block and character limits, unfurls off, and a plain-text
 * fallback on every message.
 */

/** A Block Kit block as JSON (validated by Slack; built by src/slack/blocks helpers). */
export type Block = Record<string, unknown> & { type: string };

export interface OutgoingMessage {
  channel: string;
  /** Reply in this thread. */
  threadTs?: string;
  /** Plain-text fallback (notifications, screen readers); always required. */
  text: string;
  blocks?: Block[];
}

export interface PostedMessage {
  channel: string;
  /** Timestamp of the first message posted (long content may be split into several). */
  ts: string;
  /** All timestamps when the content was split. */
  allTs: string[];
}

export interface Messenger {
  /** Posts a message (split when too long). Not retried when the outcome is unknown: no duplicate posts. */
  post(message: OutgoingMessage): Promise<PostedMessage>;
  /**
   * Replaces a message's content. Calls for the same message are coalesced: only the latest content is sent,
   * paced within `chat.update` limits. Resolves when the latest content has been sent.
   */
  update(message: OutgoingMessage & { ts: string }): Promise<void>;
  /** A message only `user` sees. */
  postEphemeral(message: OutgoingMessage & { user: string }): Promise<void>;
  /** Opens a modal; `triggerId` must be used within 3 s of the interaction. */
  openView(triggerId: string, view: Record<string, unknown>): Promise<{ viewId: string }>;
  /** Updates an open modal. */
  updateView(viewId: string, view: Record<string, unknown>): Promise<void>;
  /** Messages of a thread, oldest first (cached briefly: conversations.replies is rate limited). */
  threadMessages(channel: string, threadTs: string, options?: { limit?: number }): Promise<ThreadMessage[]>;
  /** A single message by channel and ts (for shortcuts and reactions). */
  message(channel: string, ts: string): Promise<ThreadMessage | undefined>;
  /** Permalink of a message, for citations and ticket references. */
  permalink(channel: string, ts: string): Promise<string | undefined>;
  /** Resolves when everything queued has been sent (graceful shutdown). */
  drain(): Promise<void>;
}

export interface ThreadMessage {
  ts: string;
  threadTs?: string;
  user?: string;
  botId?: string;
  subtype?: string;
  text: string;
  files?: { id: string; name?: string; mimetype?: string; size?: number; urlPrivate?: string }[];
}
