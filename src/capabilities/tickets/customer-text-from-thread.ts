/**
 * The customer's words in a Slack thread, for the mention trigger.
 *
 * Guarantees: only people's messages count (no bots, no Deskhand messages, no edits or joins; file shares and
 * thread broadcasts do), the mention that asked for the ticket is left out, and messages keep their order.
 */
import type { ThreadMessage } from '../../ports/messenger.ts';
import type { TicketSourceFile } from './extract-ticket.ts';

/**
 * Customer text of a thread for the mention trigger: people's messages (no bots, no Deskhand messages, no
 * edits or joins), without the mention that asked for the ticket. Returns the text and the latest ts.
 */
export function customerTextFromThread(
  messages: readonly ThreadMessage[],
  options: { excludeTs?: string; botUserId?: string } = {},
): { text: string; latestTs: string | undefined; files: TicketSourceFile[] } {
  const kept = messages.filter(
    (message) =>
      message.ts !== options.excludeTs &&
      !message.botId &&
      (message.subtype === undefined || message.subtype === 'file_share' || message.subtype === 'thread_broadcast') &&
      (options.botUserId === undefined || message.user !== options.botUserId),
  );
  return {
    text: kept
      .map((message) => message.text.trim())
      .filter(Boolean)
      .join('\n\n'),
    latestTs: kept.at(-1)?.ts,
    files: kept.flatMap((message) => message.files ?? []),
  };
}
