/**
 * Block Kit for answers: the status while working, the answer while it streams (for the `chat.update`
 * fallback), and the final message with its sources block and footer (cost, cache, feedback buttons).
 *
 * Every builder stays within Slack's limits (docs/platform-facts.md): ≤ 50 blocks, section text ≤ 3,000
 * characters, cumulative block text well under the ~13,200 characters where `msg_blocks_too_long` starts, and a
 * plain-text fallback on every message. All text that did not come from us is escaped for mrkdwn.
 */
import type { Block } from '../../ports/messenger.ts';
import { answerActionIds, answerFeedbackBlockId } from '../../slack-kit/answer-ids.ts';
import { context, section } from '../../slack-kit/blocks.ts';
import { handOverActions, handOverButton } from '../../slack-kit/hand-over-ids.ts';
import { formatMicroUsd } from '../../slack-kit/money.ts';
import { escapeMrkdwn, escapeMrkdwnKeepingMentions } from '../../slack-kit/mrkdwn.ts';
import type { AnswerOutcome } from './answer-outcome.ts';
import type { ClosestDocument } from './answer-source.ts';
import type { AnswerUsage } from './answer-usage.ts';
import { type CitedSource, formatSourceLine, formatSourcePlain, linkTarget } from './citations.ts';

export interface AnswerMessage {
  /** Plain-text fallback (notifications, screen readers); mrkdwn-escaped. */
  text: string;
  blocks: Block[];
}

/** Section text limit, with a little room for the continuation marker. */
const sectionLimit = 2900;
/** Cumulative characters we allow across all blocks (Slack fails at about 13,200). */
const messageTextBudget = 11_000;
/** The answer itself may use this much of the budget; sources and footer get the rest. */
const answerTextBudget = 8000;
const maxSourceLines = 10;
const fallbackTextLimit = 3000;

/** Says an answer was made without a model (none is configured), above the quoted passages. */
export const withoutModelNote =
  'Answered without a language model: these are the passages of your documents that match your question, quoted with their sources.';

/** Splits mrkdwn into section-sized pieces at paragraph, then line, then word boundaries. */
export function splitForSections(text: string, limit: number = sectionLimit): string[] {
  const pieces: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    const window = rest.slice(0, limit);
    let cut = window.lastIndexOf('\n\n');
    if (cut < limit / 2) cut = window.lastIndexOf('\n');
    if (cut < limit / 2) cut = window.lastIndexOf(' ');
    if (cut < limit / 2) cut = limit;
    // Never cut an escape such as `&amp;` in half.
    const ampersand = window.lastIndexOf('&', cut);
    if (ampersand > cut - 6 && !window.slice(ampersand, cut).includes(';')) cut = ampersand;
    pieces.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest) pieces.push(rest);
  return pieces;
}

/** Cuts mrkdwn to `limit` characters at a boundary, marking the cut. */
function limitText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const cut = text.lastIndexOf(' ', limit - 40);
  return `${text.slice(0, cut > limit / 2 ? cut : limit - 40).trimEnd()} … _(shortened to fit in Slack)_`;
}

function footerText(
  usage: AnswerUsage,
  options: { fromCache?: boolean; model?: string; noModelAnswer?: boolean },
): string {
  const parts = [`Cost of this answer: ${formatMicroUsd(usage.costMicroUsd)}`];
  if (options.fromCache) parts.push(`answered from cache (saved ${formatMicroUsd(usage.savedMicroUsd)})`);
  // The question may still have cost a query embedding or a rewrite; what is certain is that no model wrote this.
  if (options.noModelAnswer) parts.push('no model-written answer');
  if (options.model) parts.push(escapeMrkdwn(options.model));
  return parts.join(' · ');
}

/**
 * What the final message may carry besides the answer: `handOverId` adds the "Get a human" button (to the
 * feedback row, or in a row of its own), given only when its hand-over record was stored.
 */
export interface AnswerMessageOptions {
  handOverId?: string;
}

function feedbackBlock(answerId: string, options: AnswerMessageOptions = {}): Block {
  return {
    type: 'actions',
    block_id: answerFeedbackBlockId,
    elements: [
      {
        type: 'button',
        action_id: answerActionIds.helpful,
        text: { type: 'plain_text', text: '👍 Helpful', emoji: true },
        value: answerId,
      },
      {
        type: 'button',
        action_id: answerActionIds.notHelpful,
        text: { type: 'plain_text', text: '👎 Not helpful', emoji: true },
        value: answerId,
      },
      ...(options.handOverId ? [handOverButton(options.handOverId)] : []),
    ],
  };
}

/** The "Get a human" row for a message without feedback buttons; nothing without a hand-over. */
function handOverBlocks(options: AnswerMessageOptions): Block[] {
  return options.handOverId ? [handOverActions(options.handOverId)] : [];
}

function sourcesBlocks(cited: readonly CitedSource[]): Block[] {
  if (cited.length === 0) return [];
  const lines = cited.slice(0, maxSourceLines).map((source) => limitText(formatSourceLine(source), 400));
  if (cited.length > maxSourceLines) lines.push(`_…and ${cited.length - maxSourceLines} more_`);
  return splitForSections(`*Sources*\n${lines.join('\n')}`).map((text) => section(text));
}

function questionContext(question: string): Block {
  return context(`*Question:* ${limitText(escapeMrkdwn(question.replace(/\s+/g, ' ')), 500)}`);
}

/** Shown while Deskhand works on a question (the message the answer later replaces). */
export function buildStatusMessage(stage: 'rewriting' | 'searching' | 'writing', question: string): AnswerMessage {
  const words = {
    rewriting: 'Reading the thread…',
    searching: 'Searching the documents this channel can see…',
    writing: 'Writing the answer…',
  } as const;
  return {
    text: words[stage],
    blocks: [questionContext(question), context(`:hourglass_flowing_sand: ${words[stage]}`)],
  };
}

/** The answer so far, for surfaces without native streaming (one message updated with `chat.update`). */
export function buildStreamingMessage(question: string, markdownSoFar: string): AnswerMessage {
  const mrkdwn = limitText(escapeMrkdwn(markdownSoFar), answerTextBudget);
  return {
    text: limitText(mrkdwn, fallbackTextLimit),
    blocks: [
      questionContext(question),
      ...splitForSections(mrkdwn || '…').map((text) => section(text)),
      context(':writing_hand: Still writing…'),
    ],
  };
}

/**
 * The final message for any outcome. Answers and extractive answers carry the sources block and the
 * feedback buttons; every outcome carries a footer that states the cost (and "no model call" when none was
 * made), so nothing ends silently.
 */
export function buildAnswerMessage(outcome: AnswerOutcome, options: AnswerMessageOptions = {}): AnswerMessage {
  const blocks: Block[] = [questionContext(outcome.question)];
  if (outcome.rewritten && outcome.standaloneQuestion !== outcome.question) {
    blocks.push(context(`_Understood as:_ ${limitText(escapeMrkdwn(outcome.standaloneQuestion), 500)}`));
  }
  let fallback: string;
  switch (outcome.kind) {
    case 'answered': {
      const body = limitText(outcome.mrkdwn, answerTextBudget);
      blocks.push(...splitForSections(body).map((text) => section(text)));
      if (outcome.truncated) blocks.push(context('_The answer hit its length limit and may be incomplete._'));
      if (!outcome.grounded) blocks.push(context('_This answer cites no source; treat it with care._'));
      blocks.push(...sourcesBlocks(outcome.cited));
      blocks.push(context(footerText(outcome.usage, { fromCache: outcome.fromCache, model: outcome.model })));
      blocks.push(feedbackBlock(outcome.answerId, options));
      fallback = [body, ...outcome.cited.map(formatSourcePlain)].join('\n');
      break;
    }
    case 'no_sources': {
      blocks.push(section(`:mag: ${escapeMrkdwn(outcome.userMessage)}`));
      blocks.push(...closestBlocks(outcome.closest));
      blocks.push(context(footerText(outcome.usage, { noModelAnswer: true })));
      blocks.push(...handOverBlocks(options));
      fallback = [outcome.userMessage, ...outcome.closest.map((document) => `• ${document.title}`)]
        .map(escapeMrkdwn)
        .join('\n');
      break;
    }
    case 'over_budget':
    case 'upstream_unavailable': {
      // A budget refusal is Deskhand's own text and names the admins who can raise the cap: their mentions stay.
      const reason =
        outcome.kind === 'over_budget'
          ? escapeMrkdwnKeepingMentions(outcome.userMessage)
          : escapeMrkdwn(outcome.userMessage);
      if (outcome.extractive) {
        blocks.push(
          section(`:warning: ${reason}\nHere are the most relevant passages instead (quoted, not summarised):`),
        );
        blocks.push(...splitForSections(limitText(outcome.extractive.mrkdwn, answerTextBudget)).map((t) => section(t)));
        blocks.push(...sourcesBlocks(outcome.extractive.cited));
        blocks.push(context(footerText(outcome.usage, { noModelAnswer: true })));
        blocks.push(feedbackBlock(outcome.answerId, options));
        fallback = [reason, outcome.extractive.mrkdwn, ...outcome.extractive.cited.map(formatSourcePlain)].join('\n');
      } else {
        blocks.push(section(`:warning: ${reason}\nI also found no passage that answers this.`));
        blocks.push(context(footerText(outcome.usage, { noModelAnswer: true })));
        blocks.push(...handOverBlocks(options));
        fallback = reason;
      }
      break;
    }
    case 'without_model': {
      blocks.push(context(`:information_source: ${withoutModelNote}`));
      blocks.push(...splitForSections(limitText(outcome.extractive.mrkdwn, answerTextBudget)).map((t) => section(t)));
      blocks.push(...sourcesBlocks(outcome.extractive.cited));
      blocks.push(context(footerText(outcome.usage, { noModelAnswer: true })));
      blocks.push(feedbackBlock(outcome.answerId, options));
      fallback = [withoutModelNote, outcome.extractive.mrkdwn, ...outcome.extractive.cited.map(formatSourcePlain)].join(
        '\n',
      );
      break;
    }
    case 'invalid_question':
    case 'failed': {
      blocks.push(section(`:warning: ${escapeMrkdwn(outcome.userMessage)}`));
      blocks.push(...handOverBlocks(options));
      fallback = escapeMrkdwn(outcome.userMessage);
      break;
    }
  }
  return { text: limitText(fallback, fallbackTextLimit), blocks: fitBlocks(blocks) };
}

function closestBlocks(closest: readonly ClosestDocument[]): Block[] {
  if (closest.length === 0) return [];
  const lines = closest.slice(0, maxSourceLines).map((document) => {
    const title = escapeMrkdwn(document.title || 'Untitled document').replace(/\|/g, '¦');
    const target = linkTarget(document.source);
    return `• ${target ? `<${target}|${title}>` : title}`;
  });
  return splitForSections(`*Closest documents*\n${lines.join('\n')}`).map((text) => section(text));
}

/** Keeps the message under the block-count and cumulative-text limits, preserving the last (footer) blocks. */
function fitBlocks(blocks: Block[]): Block[] {
  const length = (block: Block) => JSON.stringify(block).length;
  let total = blocks.reduce((sum, block) => sum + length(block), 0);
  const result = [...blocks];
  // Drop middle blocks (long answers or source lists) until both limits hold; the first (question) and the
  // last two (footer, buttons) always stay.
  while ((result.length > 50 || total > messageTextBudget + 4000) && result.length > 3) {
    const [removed] = result.splice(result.length - 3, 1);
    if (removed) total -= length(removed);
  }
  return result;
}

/**
 * How a streamed reply ends: what is still to append (`markdown`) and the blocks under it. When the streamed
 * text is a prefix of the final answer, only the rest is appended and the blocks are the sources, notes, footer
 * and feedback buttons (the answer is not repeated). When nothing was streamed (no sources, budget, failure) or
 * the stream diverged from the final text, the blocks are the whole final message.
 */
export function buildStreamEnding(
  outcome: AnswerOutcome,
  streamedMarkdown: string,
  options: AnswerMessageOptions = {},
): { markdown?: string; blocks: Block[]; text: string } {
  const whole = buildAnswerMessage(outcome, options);
  if (outcome.kind !== 'answered' || !outcome.markdown.startsWith(streamedMarkdown)) {
    return { blocks: whole.blocks, text: whole.text };
  }
  const blocks: Block[] = [];
  if (outcome.rewritten && outcome.standaloneQuestion !== outcome.question) {
    blocks.push(context(`_Understood as:_ ${limitText(escapeMrkdwn(outcome.standaloneQuestion), 500)}`));
  }
  if (outcome.truncated) blocks.push(context('_The answer hit its length limit and may be incomplete._'));
  if (!outcome.grounded) blocks.push(context('_This answer cites no source; treat it with care._'));
  blocks.push(...sourcesBlocks(outcome.cited));
  blocks.push(context(footerText(outcome.usage, { fromCache: outcome.fromCache, model: outcome.model })));
  blocks.push(feedbackBlock(outcome.answerId, options));
  const rest = outcome.markdown.slice(streamedMarkdown.length);
  return { ...(rest ? { markdown: rest } : {}), blocks: fitBlocks(blocks), text: whole.text };
}
