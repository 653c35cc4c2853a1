/**
 * The fallback of a streamed reply: one posted message, edited through the messenger's coalesced `update()` path
 * with everything written so far (from `segmentStart`, reopening a code fence the previous message closed).
 *
 * Guarantees:
 * - `switchToUpdate` happens at most once per reply; it logs and reports (`onFallback`) every reason except a
 *   reply that finished before its first flush.
 * - A post whose outcome is unknown or refused is never repeated (a second copy could appear): the reply is
 *   marked lost. A failed edit leaves the content due, so the next flush (or stop) sends the latest again.
 * - If Slack refuses to edit the former streamed message, the reply is posted anew instead.
 * - At stop, content too long for one message continues in further thread replies (split-message.ts).
 */
import { DeskhandError } from '../../errors.ts';
import type { OutgoingMessage } from '../../ports/messenger.ts';
import { composeReply } from './compose-reply.ts';
import { splitMessage } from './split-message.ts';
import { type FinalContent, noteFirstMessage, type StreamReply, throwIfLost } from './stream-reply.ts';

export function switchToUpdate(
  reply: StreamReply,
  ts: string | undefined,
  reason: string,
  streamMessage: boolean,
  details: Record<string, unknown> = {},
): void {
  if (reply.mode === 'update') return;
  reply.mode = 'update';
  reply.queue = [];
  reply.updateTs = ts;
  reply.updatingStreamMessage = streamMessage && ts !== undefined;
  reply.dirty = true;
  if (reason !== 'finished before the first flush') {
    reply.logger.warn({ reason, ts, ...details }, 'message stream falls back to chat.update');
    reply.transport.onFallback?.(reason);
  }
}

/** Update mode: posts the message (first time) or edits it with everything so far. */
export async function flushUpdate(reply: StreamReply, final: FinalContent | undefined): Promise<void> {
  reply.dirty = false;
  const parts = splitMessage(composeReply(reply, segmentBody(reply), final), reply.limits);
  const [part] = parts;
  if (!part) return;
  await deliver(reply, part);
}

/** Update mode, at stop: the final content, split into further thread replies when it is too long. */
export async function finishUpdate(reply: StreamReply, final: FinalContent | undefined): Promise<void> {
  const parts = splitMessage(composeReply(reply, segmentBody(reply), final), reply.limits);
  const [first, ...rest] = parts;
  if (!first) return;
  await deliver(reply, first);
  throwIfLost(reply);
  for (const part of rest) {
    await reply.transport.post({ ...part, channel: reply.options.channel, threadTs: reply.options.threadTs });
  }
}

async function deliver(reply: StreamReply, part: Pick<OutgoingMessage, 'text' | 'blocks'>): Promise<void> {
  const message = { ...part, channel: reply.options.channel, threadTs: reply.options.threadTs };
  const ts = reply.updateTs;
  if (ts !== undefined) {
    if (reply.resuming) await stopStaleStream(reply, ts);
    try {
      await reply.transport.update({ ...message, ts });
      return;
    } catch (error) {
      const refused = error instanceof DeskhandError && typeof error.details.slackError === 'string';
      if (!(refused && reply.updatingStreamMessage)) {
        // Not delivered this time; the next flush (or stop) sends the latest content again.
        reply.dirty = true;
        if (reply.state !== 'open') throw error;
        reply.logger.warn({ err: error, ts }, 'stream fallback update failed');
        return;
      }
      reply.logger.warn({ err: error, ts }, 'Slack refused to edit the streamed message: posting the reply anew');
      reply.updateTs = undefined;
      reply.updatingStreamMessage = false;
      // The earlier run's message cannot be continued: the new one is the reply's first message.
      if (reply.firstTs === ts && reply.options.resumeTs === ts) reply.firstTs = undefined;
    }
  }
  try {
    const posted = await reply.transport.post(message);
    reply.updateTs = posted.ts;
    await noteFirstMessage(reply, posted.ts);
  } catch (error) {
    // Unknown or refused: never post again (a second copy could appear).
    reply.lost = error;
  }
}

/**
 * An interrupted run may have left its stream open: stopped first, so that the edit replaces it (Slack answers
 * `message_not_in_streaming_state` for a stopped, expired or ordinary message — expected, not logged as a failure).
 */
async function stopStaleStream(reply: StreamReply, ts: string): Promise<void> {
  reply.resuming = false;
  try {
    await reply.transport.call('chat.stopStream', { channel: reply.options.channel, ts });
    reply.logger.info({ ts }, 'stopped the stream an interrupted run left open');
  } catch (error) {
    const slackError = error instanceof DeskhandError ? error.details.slackError : undefined;
    if (slackError !== 'message_not_in_streaming_state') {
      reply.logger.warn({ err: error, ts }, 'could not stop the stream an interrupted run left');
    }
  }
}

function segmentBody(reply: StreamReply): string {
  const body = reply.text.slice(reply.segmentStart);
  return body.trim() === '' ? '' : reply.segmentPrefix + body;
}
