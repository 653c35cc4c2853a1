/**
 * How a streamed reply's content looks on Slack: its tasks as `task_update` chunks while streaming, and the
 * whole reply as an ordinary message (task list, Markdown body, the caller's blocks, a plain-text fallback).
 *
 * Guarantees: task details and output are cut to 256 characters; task titles, details and output are untrusted
 * (model output), so in the message's task list mentions are escaped and whitespace is collapsed; the task list
 * fits one section block and the fallback `text` the continuation limit, while a reply without blocks keeps its
 * whole text (split-message.ts splits it).
 */
import type { Block, OutgoingMessage, StreamTask } from '../../ports/messenger.ts';
import { escapeMrkdwn } from '../../slack-kit/mrkdwn.ts';
import { truncateText } from './split-message.ts';
import type { FinalContent, StreamReply } from './stream-reply.ts';

const taskEmoji: Record<StreamTask['status'], string> = {
  pending: ':white_circle:',
  in_progress: ':hourglass_flowing_sand:',
  complete: ':white_check_mark:',
  error: ':x:',
};
const taskFieldLimit = 256;

/** The reply as an ordinary message: task list, Markdown body, the caller's blocks, a plain-text fallback. */
export function composeReply(
  reply: Pick<StreamReply, 'tasks' | 'limits'>,
  body: string,
  final: FinalContent | undefined,
): Pick<OutgoingMessage, 'text' | 'blocks'> {
  const blocks: Block[] = [];
  const taskList = [...reply.tasks.values()].map(taskLine).join('\n');
  if (taskList !== '') {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: truncateText(taskList, reply.limits.sectionText) },
    });
  }
  if (body.trim() !== '') blocks.push({ type: 'markdown', text: body });
  if (final?.blocks) blocks.push(...final.blocks);
  const fallback = final?.text.trim() ? final.text : body.trim() || taskList || '…';
  // Without blocks the text is the content: split-message splits it, nothing is cut here.
  if (blocks.length === 0) return { text: fallback };
  return { text: truncateText(fallback, reply.limits.continuationFallback), blocks };
}

export function taskChunk(task: StreamTask): Record<string, unknown> {
  return {
    type: 'task_update',
    id: task.id,
    title: task.title,
    status: task.status,
    ...(task.details === undefined ? {} : { details: truncateText(task.details, taskFieldLimit) }),
    ...(task.output === undefined ? {} : { output: truncateText(task.output, taskFieldLimit) }),
  };
}

/** One mrkdwn line per task; titles and details are untrusted (model output), so mentions are escaped. */
function taskLine(task: StreamTask): string {
  const details = task.details ? ` — ${oneLine(truncateText(task.details, taskFieldLimit))}` : '';
  const output = task.output ? `\n      ↳ ${oneLine(truncateText(task.output, taskFieldLimit))}` : '';
  return `${taskEmoji[task.status]} ${oneLine(task.title)}${details}${output}`;
}

/** Untrusted text on one line of the task list: mentions escaped, whitespace collapsed. */
function oneLine(text: string): string {
  return escapeMrkdwn(text).replace(/\s+/g, ' ');
}
