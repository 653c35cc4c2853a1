/**
 * `weeklyReportMessage`: the weekly report as a Block Kit message (what `/budget report` shows an admin,
 * ephemerally) and `weeklyReportBlocks`, the same blocks for a surface that adds its own (the App Home).
 *
 * Guarantees: at most 12 blocks, each list at most `reportListLimit` lines ending with "…and N more" when there were
 * more, every untrusted text (questions, document titles, categories, reasons) escaped before it is cut (a line at
 * most 150 characters, a section at most 3,000), so the message stays within Slack's limits (50 blocks, 3,000 per
 * section, ~13,200 characters of block text) whatever was recorded. A part that could not be read says so; an empty
 * week says what will appear once there is activity.
 * https://api.slack.com/reference/block-kit/blocks
 */
import type { WorkspaceDaysSpend } from '../../llm/budget-week.ts';
import type { Block } from '../../ports/messenger.ts';
import { context, section } from '../../slack-kit/blocks.ts';
import { formatMicroUsd } from '../../slack-kit/money.ts';
import { escapeMrkdwn, truncate } from '../../slack-kit/mrkdwn.ts';
import type { ActivityTotals, Counted } from './activity-store.ts';
import type { WeeklyReport } from './weekly-report.ts';

/** Longest line of a list (after escaping). */
const lineChars = 150;
const unavailable = '_Could not be read just now; try again shortly._';

/** The report as a message: a plain-text fallback and its blocks. */
export function weeklyReportMessage(report: WeeklyReport): { text: string; blocks: Block[] } {
  const blocks = weeklyReportBlocks(report);
  const text = `Weekly report, ${report.from} to ${report.to}: ${summaryLine(report)}`;
  return { text, blocks };
}

/** The report's blocks (at most 12). */
export function weeklyReportBlocks(report: WeeklyReport): Block[] {
  const title = `*Weekly report* — ${report.from} to ${report.to} (${escapeMrkdwn(report.timeZone)})`;
  const activity = report.activity.ok ? report.activity.value : undefined;
  const blocks: Block[] = [section(title, 'report_title')];
  blocks.push(section(activity ? answersText(activity) : `*Answers*\n${unavailable}`, 'report_answers'));
  blocks.push(
    section(report.spend.ok ? spendText(report.spend.value) : `*Model spend*\n${unavailable}`, 'report_spend'),
  );
  if (!activity) {
    blocks.push(context('Questions, documents, tickets and feedback could not be read just now.'));
    return blocks;
  }
  blocks.push(section(feedbackText(activity), 'report_feedback'));
  blocks.push(
    section(
      listText(
        'Top questions that found no sources',
        activity.unanswered,
        activity.distinct.unanswered,
        (item) => `${item.count}× ${escapeMrkdwn(item.member)}`,
        'None this week: every question found a source.',
      ),
      'report_unanswered',
    ),
  );
  blocks.push(
    section(
      listText(
        'Documents cited most',
        activity.cited,
        activity.distinct.cited,
        (item) => `${item.count}× *${truncate(escapeMrkdwn(item.title), lineChars - 20)}*`,
        'No answer cited a document this week.',
      ),
      'report_cited',
    ),
  );
  blocks.push(section(ticketsText(activity), 'report_tickets'));
  blocks.push(
    context(
      'Counted per day in the budget time zone; a week is today and the six days before it. Only admins see this.',
    ),
  );
  return blocks;
}

function summaryLine(report: WeeklyReport): string {
  const parts: string[] = [];
  if (report.activity.ok) {
    const { counters } = report.activity.value;
    parts.push(`${counters.answers} questions, ${counters.answered_cached} answered from the cache`);
    parts.push(`${counters.tickets_drafted} tickets drafted, ${counters.tickets_filed} filed`);
    parts.push(`${counters.helpful} helpful, ${counters.not_helpful} not helpful`);
  }
  if (report.spend.ok) {
    parts.push(
      `${formatMicroUsd(report.spend.value.spentMicroUsd)} spent, ${formatMicroUsd(report.spend.value.savedMicroUsd)} saved by the cache`,
    );
  }
  return parts.length > 0 ? `${parts.join('; ')}.` : 'the figures could not be read just now.';
}

function answersText({ counters }: ActivityTotals): string {
  if (counters.answers === 0) return '*Answers*\nNo questions this week.';
  const lines = [
    `• *${counters.answers}* questions: *${counters.answered}* answered by the model (${counters.answered_cached} from the cache)`,
    `• ${counters.passages} answered with quoted passages only, ${counters.no_sources} found no sources, ${counters.not_answered} not answered`,
  ];
  return `*Answers*\n${lines.join('\n')}`;
}

function spendText(spend: WorkspaceDaysSpend): string {
  const lines = [
    `• Spent *${formatMicroUsd(spend.spentMicroUsd)}*; the response cache served *${spend.cacheHits}* model call${spend.cacheHits === 1 ? '' : 's'} and saved *${formatMicroUsd(spend.savedMicroUsd)}*`,
  ];
  if (spend.topChannels.length > 0) {
    const channels = spend.topChannels.map(
      (item) => `${channel(item.channelId)} ${formatMicroUsd(item.spentMicroUsd)}`,
    );
    const more =
      spend.channelCount > spend.topChannels.length
        ? ` …and ${spend.channelCount - spend.topChannels.length} more`
        : '';
    lines.push(`• Top channels: ${channels.join(', ')}${more}`);
  }
  return `*Model spend*\n${lines.join('\n')}`;
}

function feedbackText({ counters, reasons, distinct }: ActivityTotals): string {
  const votes = counters.helpful + counters.not_helpful;
  const tally =
    votes === 0
      ? 'No votes this week.'
      : `:thumbsup: ${counters.helpful} helpful · :thumbsdown: ${counters.not_helpful} not helpful (${Math.round((counters.helpful / votes) * 100)}% helpful)`;
  const lines = [tally];
  if (reasons.length > 0) {
    const more = distinct.reasons > reasons.length ? ` …and ${distinct.reasons - reasons.length} more` : '';
    lines.push(`Reasons for :thumbsdown:: ${reasons.map((reason) => `${escapeReason(reason)}`).join(', ')}${more}`);
  }
  return `*Feedback*\n${lines.join('\n')}`;
}

function escapeReason(reason: Counted): string {
  return `${truncate(escapeMrkdwn(reason.member.replace(/_/g, ' ')), 40)} ${reason.count}`;
}

function ticketsText({ counters, drafted, filed, distinct }: ActivityTotals): string {
  if (counters.tickets_drafted === 0 && counters.tickets_filed === 0) return '*Tickets*\nNo tickets this week.';
  const byCategory = (items: Counted[], total: number) => {
    if (items.length === 0) return '';
    const more = total > items.length ? `, …and ${total - items.length} more` : '';
    return ` (${items.map((item) => `${truncate(escapeMrkdwn(item.member), 40)} ${item.count}`).join(', ')}${more})`;
  };
  return [
    '*Tickets*',
    `• Drafted: *${counters.tickets_drafted}*${byCategory(drafted, distinct.drafted)}`,
    `• Filed: *${counters.tickets_filed}*${byCategory(filed, distinct.filed)}`,
  ].join('\n');
}

/** A titled list: at most the items given, each line cut after escaping, "…and N more" when there were more. */
function listText<T extends Counted>(
  title: string,
  items: readonly T[],
  total: number,
  line: (item: T) => string,
  empty: string,
): string {
  if (items.length === 0) return `*${title}*\n${empty}`;
  const lines = items.map((item) => `• ${truncate(line(item), lineChars)}`);
  if (total > items.length) lines.push(`_…and ${total - items.length} more_`);
  return `*${title}*\n${lines.join('\n')}`;
}

const channelIdPattern = /^[CGD][A-Z0-9]{2,20}$/;

function channel(channelId: string): string {
  return channelIdPattern.test(channelId) ? `<#${channelId}>` : `\`${truncate(escapeMrkdwn(channelId), 40)}\``;
}
