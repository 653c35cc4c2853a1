/**
 * What a hand-over ticket says, made without a model: the ticket fields from the question by the rule-based
 * extractor (category and urgency by its cues, or its default; order ids, emails and dates when the question has
 * them), the summary from the question, and the blocks the triage channel shows under the ticket — the question,
 * the answer given, its sources and the thread link.
 *
 * Guarantees: everything from the record is untrusted and escaped for mrkdwn (no mention, broadcast or link can be
 * injected; source links are only http(s) and cannot end Slack's `<url|label>` early); every text is cut to
 * Block Kit's limits and `handOverBlocks` returns at most 6 blocks.
 */

import type { HandOverRecord } from '../../ports/hand-over.ts';
import type { Block } from '../../ports/messenger.ts';
import { context, section } from '../../slack-kit/blocks.ts';
import { escapeMrkdwn, truncate } from '../../slack-kit/mrkdwn.ts';
import { extractByRules } from './rule-based-extractor.ts';
import type { Ticket } from './ticket-schema.ts';

/** What the sinks receive about a hand-over besides the ticket (see `TicketDelivery.handOver`). */
export interface HandOverDetails {
  kind: HandOverRecord['kind'];
  question: string;
  answer: string;
  outcome: string;
  sources: HandOverRecord['sources'];
  askerId: string;
  /** Permalink of the answer or run message (Slack's `chat.getPermalink`), when Slack gave one. */
  threadLink?: string;
}

export function handOverDetails(record: HandOverRecord, threadLink: string | undefined): HandOverDetails {
  return {
    kind: record.kind,
    question: record.question,
    answer: record.answer,
    outcome: record.outcome,
    sources: record.sources,
    askerId: record.askerId,
    ...(threadLink ? { threadLink } : {}),
  };
}

/**
 * The ticket for a hand-over: rules over the question only (the answer is Deskhand's words, not the customer's),
 * the summary the question itself on one line, and a note of what the team should look at.
 */
export function handOverTicket(
  record: HandOverRecord,
  options: { categories: readonly string[]; teamLanguage: string; timeZone: string; now: Date },
): Ticket {
  const question = record.question.replace(/\s+/g, ' ').trim();
  const ticket = extractByRules({
    text: question,
    messageTs: (options.now.getTime() / 1000).toFixed(6),
    timeZone: options.timeZone,
    categories: options.categories,
    teamLanguage: options.teamLanguage,
  });
  const what = record.kind === 'answer' ? 'answer' : 'agent run';
  return {
    ...ticket,
    summary: truncate(question || `A ${what} handed over from Slack`, 300),
    questionsToAsk: [
      record.kind === 'answer'
        ? 'Was the answer Deskhand gave right, and what is missing from the documents?'
        : 'What did the agent run not get done?',
      ...ticket.questionsToAsk,
    ].slice(0, 5),
  };
}

/** Only an http(s) URL, encoded so it cannot close `<url|label>`; anything else is dropped. */
export function safeLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  try {
    const url = new URL(link);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    return url.href.replace(/\|/g, '%7C').replace(/>/g, '%3E').replace(/</g, '%3C');
  } catch {
    return undefined;
  }
}

function quote(text: string, limit: number): string {
  const escaped = truncate(escapeMrkdwn(text), limit);
  return escaped
    .split('\n')
    .map((line) => `>${line}`)
    .join('\n');
}

function sourceLine(source: HandOverRecord['sources'][number]): string {
  const title = escapeMrkdwn(source.title).replace(/\|/g, '¦');
  const link = safeLink(source.link);
  const label = link ? `<${link}|${title}>` : title;
  return `• ${label}${source.location ? ` — ${escapeMrkdwn(source.location)}` : ''}`;
}

/** The blocks under a hand-over ticket: who asked, the question, the answer given, sources, thread link. */
export function handOverBlocks(details: HandOverDetails): Block[] {
  const what = details.kind === 'answer' ? 'an answer' : 'an agent run';
  const blocks: Block[] = [
    context(
      `:raising_hand: Handed over from ${what} · asked by <@${escapeMrkdwn(details.askerId)}> · ${escapeMrkdwn(details.outcome.replace(/_/g, ' '))}`,
    ),
    section(`*Question*\n${quote(details.question, 1_400)}`),
    section(
      `*${details.kind === 'answer' ? 'Answer given' : 'How the run ended'}*\n${quote(details.answer || '(nothing was shown)', 2_800)}`,
    ),
  ];
  if (details.sources.length > 0) {
    const lines = details.sources.map((source) => truncate(sourceLine(source), 400));
    blocks.push(section(`*Sources*\n${lines.join('\n')}`));
  }
  const link = safeLink(details.threadLink);
  blocks.push(
    context(link ? `<${link}|Open the conversation in Slack>` : 'No link to the conversation (Slack gave none).'),
  );
  return blocks;
}

/** The same as plain text, for the webhook's consumers and the message fallback. */
export function handOverText(details: HandOverDetails): string {
  const sources = details.sources.map((source) => `- ${source.title}${source.link ? ` (${source.link})` : ''}`);
  return [
    `Question: ${details.question}`,
    `${details.kind === 'answer' ? 'Answer given' : 'How the run ended'}: ${details.answer}`,
    ...(sources.length > 0 ? ['Sources:', ...sources] : []),
    ...(details.threadLink ? [`Conversation: ${details.threadLink}`] : []),
  ].join('\n');
}
