/**
 * The state one streamed reply shares between its parts: the facade (message-stream.ts) that buffers and paces,
 * the streaming side (flush-stream.ts) and the posted-and-updated fallback (flush-update.ts).
 *
 * Guarantees: `text` holds everything appended, in order, and is the source of truth for the fallback;
 * `throwIfLost` turns a reply that can no longer be delivered into one `DeskhandError` carrying the text length
 * and a message for the user. Imports no other part of the stream, so every part can import it.
 */
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Block, StreamOptions, StreamTask } from '../../ports/messenger.ts';
import type { MessageLimits } from './split-message.ts';
import type { StreamTransport } from './stream-transport.ts';

export type QueueItem = { kind: 'text'; text: string } | { kind: 'tasks'; tasks: Map<string, StreamTask> };

/** What the caller hands to `stop()`: final Markdown, blocks at the bottom, and a plain-text fallback. */
export type FinalContent = { markdown?: string; blocks?: Block[]; text: string };

export interface StreamReply {
  options: StreamOptions;
  transport: StreamTransport;
  logger: Logger;
  maxCallChars: number;
  maxStreamChars: number;
  limits: MessageLimits;

  mode: 'stream' | 'update';
  state: 'open' | 'stopping' | 'stopped';
  /** Everything appended, in order: the source of truth for the fallback. */
  text: string;
  tasks: Map<string, StreamTask>;
  /** Stream mode: content not yet sent. */
  queue: QueueItem[];
  streamTs: string | undefined;
  /** Characters sent (or possibly sent) to the current streamed message. */
  streamedChars: number;
  /** A stream call's outcome was unknown: the message is rewritten with `chat.update` once stopped. */
  uncertain: boolean;
  /** Update mode: where in `text` the edited message's content starts, and a code fence it reopens. */
  segmentStart: number;
  segmentPrefix: string;
  updateTs: string | undefined;
  /** Update mode: `updateTs` is the former streamed message (Slack may refuse to edit it). */
  updatingStreamMessage: boolean;
  dirty: boolean;
  /** The reply can no longer be delivered (a post with an unknown or failed outcome). */
  lost: unknown;
  firstTs: string | undefined;
  /**
   * Resuming an interrupted reply (`StreamOptions.resumeTs`): `updateTs` is a message an earlier run left, maybe a
   * stream still open, which is stopped (best effort) before its first edit.
   */
  resuming: boolean;
}

/** Characters of text waiting in the stream-mode queue. */
export function pendingChars(reply: StreamReply): number {
  return reply.queue.reduce((sum, item) => sum + (item.kind === 'text' ? item.text.length : 0), 0);
}

export function throwIfLost(reply: StreamReply): void {
  if (reply.lost === undefined) return;
  if (reply.lost instanceof DeskhandError) {
    reply.lost.details.textLength = reply.text.length;
    throw reply.lost;
  }
  throw new DeskhandError('upstream_unavailable', 'The streamed reply could not be delivered', {
    cause: reply.lost,
    userMessage: 'Slack did not take my reply. Please check the thread before trying again.',
  });
}

/** Records the reply's first message and tells the caller (`StreamOptions.onFirstMessage`) once. */
export async function noteFirstMessage(reply: StreamReply, ts: string): Promise<void> {
  if (reply.firstTs !== undefined) return;
  reply.firstTs = ts;
  await reply.options.onFirstMessage?.(ts).catch((error: unknown) => {
    reply.logger.warn({ err: error, ts }, 'could not keep the reply anchor');
  });
}
