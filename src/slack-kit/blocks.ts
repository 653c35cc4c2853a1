/**
 * Block Kit builders every surface shares: a mrkdwn section, a context line, a button.
 *
 * Guarantees: every text is cut to Slack's limits (`truncate`: section and context text ≤ 3,000 characters,
 * button text ≤ 75, a context block ≤ 10 elements), so a builder never produces a block Slack refuses for its
 * length. Text is used as given: escaping untrusted text (`escapeMrkdwn`) is the caller's job.
 * https://api.slack.com/reference/block-kit/blocks
 */
import type { Block } from '../ports/messenger.ts';
import { truncate } from './mrkdwn.ts';

/** Longest section (and context element) text Slack accepts. */
export const sectionTextLimit = 3000;
/** Most elements a context block may hold. */
export const contextElementLimit = 10;
/** Longest button text Slack accepts. */
export const buttonTextLimit = 75;

/** A mrkdwn section, with an optional `block_id`. */
export function section(markdown: string, blockId?: string): Block {
  return {
    type: 'section',
    text: { type: 'mrkdwn', text: truncate(markdown, sectionTextLimit) },
    ...(blockId ? { block_id: blockId } : {}),
  };
}

/** A context block: one mrkdwn element per line given (the first ten). */
export function context(lines: string | readonly string[]): Block {
  const texts = typeof lines === 'string' ? [lines] : lines.slice(0, contextElementLimit);
  return {
    type: 'context',
    elements: texts.map((text) => ({ type: 'mrkdwn', text: truncate(text, sectionTextLimit) })),
  };
}

/** A button element (for an `actions` block or a section accessory). */
export function button(input: {
  actionId: string;
  text: string;
  value: string;
  style?: 'primary' | 'danger';
}): Record<string, unknown> {
  return {
    type: 'button',
    action_id: input.actionId,
    text: { type: 'plain_text', text: truncate(input.text, buttonTextLimit), emoji: true },
    value: input.value,
    ...(input.style ? { style: input.style } : {}),
  };
}
