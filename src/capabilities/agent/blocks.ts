/** Small Block Kit helpers that keep text inside Slack's limits (section text ≤ 3,000 characters). */
import type { Block } from '../../ports/messenger.ts';
import { truncate } from './tool-registry.ts';

export const sectionTextLimit = 3000;

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function section(markdown: string): Block {
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(markdown, sectionTextLimit) } };
}

export function context(markdown: string): Block {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: truncate(markdown, sectionTextLimit) }] };
}

export function button(input: {
  actionId: string;
  text: string;
  value: string;
  style?: 'primary' | 'danger';
}): Record<string, unknown> {
  return {
    type: 'button',
    action_id: input.actionId,
    text: { type: 'plain_text', text: truncate(input.text, 75), emoji: true },
    value: input.value,
    ...(input.style ? { style: input.style } : {}),
  };
}

export function formatUsd(microUsd: number): string {
  return `$${(microUsd / 1_000_000).toFixed(microUsd < 10_000 ? 4 : 2)}`;
}
