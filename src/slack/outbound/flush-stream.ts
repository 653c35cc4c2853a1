/**
 * The streaming side of a streamed reply: sending queued content with `chat.startStream` / `chat.appendStream`,
 * rolling over to a new message when the streamed one is full, and `chat.stopStream` at the end.
 *
 * Guarantees:
 * - A call carries either `markdown_text` or `chunks`, never both, oldest queued content first; `markdown_text`
 *   is at most `maxCallChars` and never cuts a surrogate pair in two.
 * - Rate limited: the rest waits for the next flush (while finishing, the reply falls back to `chat.update`).
 *   Refused: the reply falls back to `chat.update` (flush-update.ts) with everything written so far.
 * - An unknown outcome is never repeated: at the start the reply is marked lost (the stream may exist); later,
 *   the message is reconciled with `chat.update` (idempotent) once the stream stops.
 * - A streamed message holds at most `maxStreamChars`; beyond that it is stopped with an open code fence closed,
 *   and the reply continues in a posted message that reopens the fence.
 */
import { DeskhandError } from '../../errors.ts';
import type { StreamTask } from '../../ports/messenger.ts';
import { composeReply, taskChunk } from './compose-reply.ts';
import { flushUpdate, switchToUpdate } from './flush-update.ts';
import { openFenceAtEnd, splitMessage } from './split-message.ts';
import { type FinalContent, noteFirstMessage, pendingChars, type StreamReply } from './stream-reply.ts';

type SendOutcome =
  | { kind: 'ok'; result: Record<string, unknown> }
  | { kind: 'later' }
  | { kind: 'uncertain'; error: unknown }
  | { kind: 'refused'; slackError: string; error: unknown };

/**
 * Sends queued content, oldest first. Stops early when Slack rate-limits (the rest waits for the next flush)
 * or when the stream falls back. With `final`, the last text is left in the queue for `chat.stopStream`.
 */
export async function flushStream(reply: StreamReply, final: boolean): Promise<void> {
  // Outside the final flush, one call per item queued now: what arrives meanwhile waits for the next flush.
  let calls = final ? Number.POSITIVE_INFINITY : reply.queue.length;
  for (; calls > 0; calls -= 1) {
    const item = reply.queue[0];
    if (!item || reply.mode !== 'stream') return;
    if (final && reply.streamTs !== undefined && reply.queue.length === 1 && item.kind === 'text') {
      if (item.text.length <= reply.maxCallChars && reply.streamedChars + item.text.length <= reply.maxStreamChars) {
        return;
      }
    }
    let parameters: Record<string, unknown>;
    let sentChars = 0;
    if (item.kind === 'text') {
      const room = reply.maxStreamChars - reply.streamedChars;
      if (reply.streamTs !== undefined && item.text.length > room) {
        await rollOver(reply, final);
        return;
      }
      sentChars = safeLength(item.text, Math.min(reply.maxCallChars, room));
      parameters = { markdown_text: item.text.slice(0, sentChars) };
    } else {
      // Out of the queue while in flight, so updates made meanwhile start a new item instead of vanishing.
      reply.queue.shift();
      parameters = { chunks: [...item.tasks.values()].map(taskChunk) };
    }
    const starting = reply.streamTs === undefined;
    const outcome = starting ? await startStream(reply, parameters) : await appendStream(reply, parameters);
    if (outcome.kind === 'later') {
      if (item.kind === 'tasks') requeueTasks(reply, item.tasks);
      if (final) switchToUpdate(reply, reply.streamTs, 'rate limited while finishing', true);
      return;
    }
    if (outcome.kind === 'refused') {
      switchToUpdate(reply, reply.streamTs, starting ? 'streaming unavailable' : 'stream ended', !starting, {
        slackError: outcome.slackError,
      });
      if (!final) await flushUpdate(reply, undefined);
      return;
    }
    if (outcome.kind === 'uncertain') {
      if (starting) {
        // The stream (with this content) may exist: posting again could show it twice.
        reply.lost = outcome.error;
        return;
      }
      reply.uncertain = true;
    }
    reply.streamedChars += sentChars;
    if (item.kind === 'text') {
      item.text = item.text.slice(sentChars);
      if (item.text === '') reply.queue.shift();
    }
  }
}

/** Ends the stream with the last queued text and the caller's blocks; falls back to `chat.update` if it cannot. */
export async function stopStream(reply: StreamReply, final: FinalContent | undefined): Promise<void> {
  const last = reply.queue[0];
  const markdown = last?.kind === 'text' ? last.text : undefined;
  const outcome = await send(reply, 'chat.stopStream', {
    channel: reply.options.channel,
    ts: reply.streamTs,
    ...(markdown ? { markdown_text: markdown } : {}),
    ...(final?.blocks && final.blocks.length > 0 ? { blocks: final.blocks } : {}),
  });
  if (outcome.kind === 'refused') {
    switchToUpdate(reply, reply.streamTs, 'stream ended before stop', true, { slackError: outcome.slackError });
    return;
  }
  if (outcome.kind === 'later') {
    switchToUpdate(reply, reply.streamTs, 'rate limited while stopping', true);
    return;
  }
  reply.queue = [];
  if (outcome.kind === 'uncertain' || reply.uncertain) {
    reply.logger.info('a stream call had an unknown outcome: rewriting the message with chat.update');
    await reconcile(reply, reply.text, final);
  }
}

/** Puts unsent task updates back at the head of the queue; newer updates of the same task win. */
function requeueTasks(reply: StreamReply, tasks: Map<string, StreamTask>): void {
  const head = reply.queue[0];
  if (head?.kind !== 'tasks') {
    reply.queue.unshift({ kind: 'tasks', tasks });
    return;
  }
  const merged = new Map(tasks);
  for (const [id, task] of head.tasks) merged.set(id, task);
  head.tasks = merged;
}

async function startStream(reply: StreamReply, content: Record<string, unknown>): Promise<SendOutcome> {
  const options = reply.options;
  const outcome = await send(reply, 'chat.startStream', {
    channel: options.channel,
    thread_ts: options.threadTs,
    ...(options.recipientUserId === undefined ? {} : { recipient_user_id: options.recipientUserId }),
    ...(options.recipientTeamId === undefined ? {} : { recipient_team_id: options.recipientTeamId }),
    ...(options.taskDisplayMode === undefined ? {} : { task_display_mode: options.taskDisplayMode }),
    ...content,
  });
  if (outcome.kind === 'ok') {
    const ts = outcome.result.ts;
    if (typeof ts !== 'string') {
      return { kind: 'uncertain', error: new DeskhandError('upstream_invalid_response', 'startStream gave no ts') };
    }
    reply.streamTs = ts;
    await noteFirstMessage(reply, ts);
  }
  return outcome;
}

function appendStream(reply: StreamReply, content: Record<string, unknown>): Promise<SendOutcome> {
  return send(reply, 'chat.appendStream', { channel: reply.options.channel, ts: reply.streamTs, ...content });
}

async function send(reply: StreamReply, method: string, parameters: Record<string, unknown>): Promise<SendOutcome> {
  try {
    return { kind: 'ok', result: await reply.transport.call(method, parameters) };
  } catch (error) {
    if (error instanceof DeskhandError) {
      if (error.code === 'upstream_rate_limited') return { kind: 'later' };
      const slackError = error.details.slackError;
      if (typeof slackError === 'string') return { kind: 'refused', slackError, error };
    }
    return { kind: 'uncertain', error };
  }
}

/** The streamed message is full: stop it (closing an open code fence) and continue in a posted message. */
async function rollOver(reply: StreamReply, final: boolean): Promise<void> {
  const offset = reply.text.length - pendingChars(reply);
  const openFence = openFenceAtEnd(reply.text.slice(0, offset));
  const closing = openFence === undefined ? undefined : `\n${fenceMarkerOf(openFence)}`;
  const outcome = await send(reply, 'chat.stopStream', {
    channel: reply.options.channel,
    ts: reply.streamTs,
    ...(closing === undefined ? {} : { markdown_text: closing }),
  });
  if (outcome.kind !== 'ok' || reply.uncertain) {
    await reconcile(reply, reply.text.slice(0, offset) + (closing ?? ''), undefined);
  }
  reply.logger.info({ streamedChars: reply.streamedChars }, 'streamed message full, continuing in a new message');
  switchToUpdate(reply, undefined, 'streamed message full', false);
  reply.segmentStart = offset;
  reply.segmentPrefix = openFence === undefined ? '' : `${openFence}\n`;
  // While finishing, stop() posts the final content itself.
  if (!final) await flushUpdate(reply, undefined);
}

/** Rewrites the streamed message with its full content (idempotent); logged, not thrown, when refused. */
async function reconcile(reply: StreamReply, body: string, final: FinalContent | undefined): Promise<void> {
  const ts = reply.streamTs;
  if (ts === undefined) return;
  const [part] = splitMessage(composeReply(reply, body, final), reply.limits);
  if (!part) return;
  try {
    await reply.transport.update({ ...part, channel: reply.options.channel, ts });
  } catch (error) {
    reply.logger.warn({ err: error, ts }, 'could not reconcile the streamed message');
  }
}

function fenceMarkerOf(openingLine: string): string {
  return /^[ \t]*(`{3,}|~{3,})/.exec(openingLine)?.[1] ?? '```';
}

/** `limit`, or one less when that would cut a surrogate pair in two. */
function safeLength(text: string, limit: number): number {
  if (text.length <= limit) return text.length;
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}
