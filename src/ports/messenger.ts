/**
 * Everything Deskhand says in Slack goes through this port. Its implementation (`src/slack/outbound/`) owns
 * the Web API client and the platform rules from docs/platform-facts.md: per-call timeouts, no blind retry of
 * posts, about one message per second per channel, coalesced `chat.update`, a 429 in one channel never
 * stalling another, splitting long content within block and character limits, unfurls off, and a plain-text
 * fallback on every message.
 */

/** A Block Kit block as JSON (validated by Slack; built by capabilities with src/slack-kit helpers). */
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
   * paced within `chat.update` limits (per message and per workspace). This is the one place edits are paced:
   * callers hand over every change, e.g. each streamed delta, and never throttle. Resolves when the latest
   * content has been sent.
   */
  update(message: OutgoingMessage & { ts: string }): Promise<void>;
  /** A message only `user` sees. */
  postEphemeral(message: OutgoingMessage & { user: string }): Promise<void>;
  /** Opens a modal; `triggerId` must be used within 3 s of the interaction. */
  openView(triggerId: string, view: Record<string, unknown>): Promise<{ viewId: string }>;
  /** Updates an open modal. */
  updateView(viewId: string, view: Record<string, unknown>): Promise<void>;
  /**
   * Publishes `userId`'s App Home tab (`views.publish` with a `home` view), replacing what they saw. Publishing the
   * same view twice is harmless, so an unknown outcome may be retried once. Optional: messengers without an App
   * Home omit it. https://docs.slack.dev/reference/methods/views.publish
   */
  publishHome?(userId: string, view: Record<string, unknown>): Promise<void>;
  /**
   * Messages of a thread, oldest first (cached briefly: conversations.replies is rate limited). `fresh` reads the
   * thread from Slack now (the result replaces the cached one), for a caller that must see the latest replies.
   */
  threadMessages(channel: string, threadTs: string, options?: ThreadReadOptions): Promise<ThreadMessage[]>;
  /** A single message by channel and ts (for shortcuts and reactions). */
  message(channel: string, ts: string): Promise<ThreadMessage | undefined>;
  /** Permalink of a message, for citations and ticket references. */
  permalink(channel: string, ts: string): Promise<string | undefined>;
  /** Resolves when everything queued has been sent (graceful shutdown). */
  drain(): Promise<void>;
  /**
   * Shows a status ("is searching the docs…") under the thread's composer, as Slack's AI surfaces do
   * (`assistant.threads.setStatus`; cleared by the next reply or after 2 minutes; `''` clears it). Best effort:
   * failures are logged, never thrown. Optional: messengers without AI surfaces omit it.
   */
  setStatus?(channel: string, threadTs: string, status: string): Promise<void>;
  /**
   * Starts a reply that grows while it is written (`chat.startStream`/`appendStream`/`stopStream`). When
   * streaming is unavailable or the stream expires, the same stream continues as one posted message updated
   * within `chat.update` limits, with everything written so far: content is never lost, and a post whose
   * outcome is unknown is never repeated. Optional: callers without it use `post` then `update`.
   */
  startStream?(options: StreamOptions): Promise<MessageStream>;
  /**
   * A file's details and where it was shared (`files.info`); undefined when Slack does not know it or it is
   * not visible to Deskhand. Optional: messengers without file access omit it.
   */
  fileInfo?(fileId: string): Promise<FileDetails | undefined>;
  /**
   * How a conversation is shared (`conversations.info`; needs `channels:read`, `groups:read`, `im:read` or
   * `mpim:read` by conversation type). Rejects when Slack does not answer it (unknown channel, missing scope,
   * Slack down): callers that decide what a channel may see fail closed. Optional: messengers without it omit it.
   */
  conversationSharing?(channel: string): Promise<ConversationSharing>;
  /**
   * Slack's assistant view: the prompts a thread offers (`assistant.threads.setSuggestedPrompts`,
   * `assistant:write`; Slack shows up to four). Best effort: failures are logged, never thrown. Optional.
   */
  setSuggestedPrompts?(channel: string, threadTs: string, prompts: SuggestedPrompt[], title?: string): Promise<void>;
  /** The assistant thread's title in the history (`assistant.threads.setTitle`). Best effort. Optional. */
  setThreadTitle?(channel: string, threadTs: string, title: string): Promise<void>;
  /**
   * Whether `user` is a member of `channel` (`conversations.members`, read page by page up to a bound); undefined
   * when Slack cannot say or the channel has more members than the bound: callers fail closed. Optional.
   */
  isChannelMember?(channel: string, user: string): Promise<boolean | undefined>;
}

/** A suggested prompt of the assistant view: the button's `title` and the `message` it sends. */
export interface SuggestedPrompt {
  title: string;
  message: string;
}

/**
 * A conversation's sharing flags as `conversations.info` reports them (https://docs.slack.dev/reference/objects/
 * conversation-object): `isExtShared` — part of a Slack Connect channel with another organisation (`is_shared` is
 * then true too); `isPendingExtShared` — an invitation to another organisation is pending; `isOrgShared` — shared
 * between workspaces of one Enterprise Grid organisation; `isShared` — shared with any other workspace. An absent
 * flag is reported as false.
 */
export interface ConversationSharing {
  id: string;
  isShared: boolean;
  isExtShared: boolean;
  isOrgShared: boolean;
  isPendingExtShared: boolean;
  isIm: boolean;
}

/** A file as `files.info` describes it. Every field comes from Slack and is untrusted. */
export interface FileDetails {
  id: string;
  name?: string;
  title?: string;
  mimetype?: string;
  size?: number;
  /** Bot-token download URL (`url_private_download`, else `url_private`); absent for external or hidden files. */
  urlPrivate?: string;
  permalink?: string;
  /** Who shared it. */
  user?: string;
  /** The messages that share it: channel, message ts and, for a thread reply, the thread root. */
  shares: { channel: string; ts: string; threadTs?: string }[];
}

export interface StreamOptions {
  channel: string;
  /** The thread the reply goes to (streams are always thread replies). */
  threadTs: string;
  /** Who asked; Slack requires both recipients outside DMs. */
  recipientUserId?: string;
  recipientTeamId?: string;
  /** How task updates are shown: one by one (`timeline`, Slack's default) or grouped (`plan`). */
  taskDisplayMode?: 'timeline' | 'plan';
  /**
   * A message an earlier, interrupted run of the same request started (streamed or posted): the reply continues
   * in it with `chat.update` (a stream it left open is stopped first) instead of starting a second message. When
   * Slack refuses to edit it, the reply is posted anew.
   */
  resumeTs?: string;
  /**
   * Called once with the reply's first message, as soon as it exists in Slack (the stream started, or the
   * fallback message posted), so that the caller can keep it for a re-run. Awaited; must not reject.
   */
  onFirstMessage?: (ts: string) => Promise<void>;
}

export type StreamTaskStatus = 'pending' | 'in_progress' | 'complete' | 'error';

export interface StreamTask {
  /** Stable id: a later update with the same id replaces the task's line. */
  id: string;
  title: string;
  status: StreamTaskStatus;
  /** At most 256 characters are shown (longer is cut). */
  details?: string;
  /** At most 256 characters are shown (longer is cut). */
  output?: string;
}

/**
 * A reply being written. `append` and `updateTasks` only buffer (they never throw and never wait for Slack);
 * the buffer is sent at a bounded rate. `stop` sends everything left and resolves with the final message.
 */
export interface MessageStream {
  /** `stream` while Slack's streaming API is used; `update` once the reply is a posted message being edited. */
  readonly mode: 'stream' | 'update';
  /** Appends Markdown (standard Markdown, not mrkdwn) to the reply. */
  append(markdown: string): void;
  /** Adds or replaces tasks (by id). */
  updateTasks(tasks: StreamTask[]): void;
  /**
   * Sends what is left, appends `final.markdown`, adds `final.blocks` at the bottom, and ends the stream.
   * `final.text` is the plain-text fallback when the reply ends as an ordinary message. Content too long for
   * one message continues in further messages of the thread. Resolves with the (first) message; rejects only
   * when the reply could not be delivered at all (e.g. its first post had an unknown outcome).
   */
  stop(final?: { markdown?: string; blocks?: Block[]; text: string }): Promise<{ channel: string; ts: string }>;
}

/** See `Messenger.threadMessages`: `limit` keeps the parent and the most recent `limit - 1` replies. */
export interface ThreadReadOptions {
  limit?: number;
  fresh?: boolean;
}

export interface ThreadMessage {
  ts: string;
  threadTs?: string;
  user?: string;
  /** The author's display name when Slack sends the message with its `user_profile` (untrusted, at most 80 chars). */
  authorName?: string;
  botId?: string;
  subtype?: string;
  text: string;
  files?: { id: string; name?: string; mimetype?: string; size?: number; urlPrivate?: string }[];
}
