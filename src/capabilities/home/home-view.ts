/**
 * The App Home tab as a Block Kit `home` view, built from `HomeData` (pure: no I/O, same data → same view).
 *
 * Everyone sees what Deskhand can do, with examples, and their own recent tickets and agent runs. An admin also
 * sees spend per channel today and this month against the caps (bars drawn in text), the top questions that found
 * no sources, pending approvals with their Approve/Reject buttons, documents by scope with "Forget", the
 * helpful/not-helpful tally, and the Settings button. A non-admin's view holds none of the admin blocks.
 *
 * Guarantees (https://docs.slack.dev/reference/block-kit/blocks, `views.publish`): at most 100 blocks (each list is
 * bounded and ends with "…and N more"; `fitBlocks` is the last guard), every text within its limit (`section`,
 * `context`, `button` truncate), and every text that came from a person or a model escaped (`escapeMrkdwn`), so a
 * ticket summary or a question can never mention anyone, broadcast or fake a link. Block ids are unique.
 */
import type { Block } from '../../ports/messenger.ts';
import { agentActionIds } from '../../slack-kit/agent-ids.ts';
import { button, context, section } from '../../slack-kit/blocks.ts';
import { helpMessage } from '../../slack-kit/help-message.ts';
import { homeActionIds } from '../../slack-kit/home-ids.ts';
import { formatMicroUsd } from '../../slack-kit/money.ts';
import { escapeMrkdwn, truncate } from '../../slack-kit/mrkdwn.ts';
import type { ChannelSpend, HomeData, HomeRun, HomeTicket, Listed, Loaded } from './home-data.ts';
import { spendBar } from './spend-bar.ts';

/** How many items each section shows before "…and N more". */
export const homeListLimits = {
  tickets: 8,
  runs: 8,
  spend: 10,
  unanswered: 10,
  approvals: 5,
  documents: 12,
} as const;

/** Slack's limit on a home view's blocks. */
export const homeBlockLimit = 100;
/** Longest untrusted text (summary, goal, question, title) shown on one line. */
const itemChars = 150;

export interface HomeView extends Record<string, unknown> {
  type: 'home';
  blocks: Block[];
}

/** The Home for `data.userId`: the admin sections only when `data.admin` is present. */
export function buildHomeView(data: HomeData): HomeView {
  const blocks: Block[] = [{ type: 'header', text: { type: 'plain_text', text: 'Deskhand', emoji: true } }];
  if (data.notice) blocks.push(section(`:information_source: ${data.notice}`, 'home_notice'));
  blocks.push(...helpMessage({ modelConfigured: data.modelConfigured, ticketReaction: data.ticketReaction }).blocks);
  blocks.push({ type: 'divider' });
  blocks.push(listSection('Your recent tickets', data.tickets, ticketLine, 'You have no tickets yet.', 'home_tickets'));
  blocks.push(
    listSection('Your agent runs', data.runs, runLine, 'You have not started an agent run yet.', 'home_runs'),
  );
  if (data.admin) blocks.push(...adminBlocks(data.admin));
  return { type: 'home', blocks: fitBlocks(blocks) };
}

function adminBlocks(admin: NonNullable<HomeData['admin']>): Block[] {
  const blocks: Block[] = [
    { type: 'divider' },
    { type: 'header', text: { type: 'plain_text', text: 'Admin', emoji: true } },
    {
      type: 'actions',
      block_id: 'home_settings',
      elements: [button({ actionId: homeActionIds.settingsOpen, text: 'Settings', value: 'open' })],
    },
  ];
  blocks.push(
    listSection('Spend per channel (today · this month)', admin.spend, spendLine, 'No spend yet.', 'home_spend'),
  );
  blocks.push(
    listSection(
      'Top questions that found no sources',
      admin.unanswered,
      (item) => `• ${item.count}× “${truncate(escapeMrkdwn(item.question), itemChars)}”`,
      'Every question found sources.',
      'home_unanswered',
    ),
  );
  blocks.push(...approvalBlocks(admin.approvals));
  blocks.push(...documentBlocks(admin.documents));
  blocks.push(context(feedbackLine(admin.feedback)));
  return blocks;
}

/** A titled list in one section (bounded: at most the reader's limit of lines, each cut to `itemChars`). */
function listSection<T>(
  title: string,
  loaded: Loaded<Listed<T>>,
  line: (item: T) => string,
  empty: string,
  blockId: string,
): Block {
  if (!loaded.ok) return section(`*${title}*\n_Could not be loaded just now; it will be back next time._`, blockId);
  const { items, total } = loaded.value;
  if (items.length === 0) return section(`*${title}*\n${empty}`, blockId);
  const lines = items.map(line);
  if (total > items.length) lines.push(`_…and ${total - items.length} more_`);
  return section(`*${title}*\n${lines.join('\n')}`, blockId);
}

function ticketLine(ticket: HomeTicket): string {
  const status = { draft: ':memo: draft', filed: ':white_check_mark: filed', discarded: ':wastebasket: discarded' };
  return `• \`${escapeMrkdwn(ticket.id)}\` ${truncate(escapeMrkdwn(ticket.summary), itemChars)} — ${status[ticket.status]} in ${channel(ticket.channelId)}, ${date(ticket.createdAt)}`;
}

function runLine(run: HomeRun): string {
  const status =
    run.status === 'ended' ? `ended (${escapeMrkdwn(run.outcome ?? 'finished').replaceAll('_', ' ')})` : run.status;
  return `• ${truncate(escapeMrkdwn(run.goal), itemChars)} — ${status.replaceAll('_', ' ')}, ${formatMicroUsd(run.spentMicroUsd)}, ${channel(run.channelId)}, ${date(run.createdAt)}`;
}

function spendLine(spend: ChannelSpend): string {
  const today = `\`${spendBar(spend.dailySpentMicroUsd, spend.dailyCapMicroUsd)}\` ${formatMicroUsd(spend.dailySpentMicroUsd)} of ${formatMicroUsd(spend.dailyCapMicroUsd)}`;
  const month = `\`${spendBar(spend.monthlySpentMicroUsd, spend.monthlyCapMicroUsd)}\` ${formatMicroUsd(spend.monthlySpentMicroUsd)} of ${formatMicroUsd(spend.monthlyCapMicroUsd)}`;
  return `${channel(spend.channelId)}\n    today ${today}\n    month ${month}`;
}

function approvalBlocks(loaded: NonNullable<HomeData['admin']>['approvals']): Block[] {
  const title = '*Pending approvals*';
  if (!loaded.ok) return [section(`${title}\n_Could not be loaded just now._`, 'home_approvals')];
  const { items, total } = loaded.value;
  if (items.length === 0) return [section(`${title}\nNothing is waiting for approval.`, 'home_approvals')];
  const blocks: Block[] = [section(title, 'home_approvals')];
  items.forEach((approval, index) => {
    blocks.push(
      section(
        `:raised_hand: ${truncate(escapeMrkdwn(approval.summary), 300)}\n\`${truncate(escapeMrkdwn(approval.tool), 60)}\` requested by ${user(approval.requesterId)} in ${channel(approval.channelId)} · expires ${date(approval.expiresAt)}`,
        `home_approval_${index}`,
      ),
      {
        type: 'actions',
        block_id: `home_approval_actions_${index}`,
        elements: [
          button({ actionId: agentActionIds.approve, text: 'Approve', value: approval.buttonValue, style: 'primary' }),
          button({ actionId: agentActionIds.reject, text: 'Reject', value: approval.buttonValue, style: 'danger' }),
        ],
      },
    );
  });
  if (total > items.length) blocks.push(context(`…and ${total - items.length} more waiting`));
  return blocks;
}

function documentBlocks(loaded: NonNullable<HomeData['admin']>['documents']): Block[] {
  const title = '*Documents*';
  if (!loaded.ok) return [section(`${title}\n_Could not be loaded just now._`, 'home_documents')];
  const { items, total } = loaded.value;
  if (items.length === 0) return [section(`${title}\nNo documents added in Slack yet.`, 'home_documents')];
  const blocks: Block[] = [section(title, 'home_documents')];
  const byScope = new Map<string, typeof items>();
  for (const document of items) byScope.set(document.scope, [...(byScope.get(document.scope) ?? []), document]);
  let index = 0;
  for (const [scope, documents] of byScope) {
    blocks.push(
      context(scope === 'workspace' ? '*All channels*' : `*Only in* ${channel(scope.slice('channel:'.length))}`),
    );
    for (const document of documents) {
      const name = truncate(escapeMrkdwn(document.title), itemChars);
      blocks.push({
        ...section(
          `${name}\n${document.chunkCount} chunks · added ${escapeMrkdwn(document.ingestedAt.slice(0, 10))}`,
          `home_document_${index}`,
        ),
        accessory: {
          ...button({
            actionId: homeActionIds.forgetDocument,
            text: 'Forget',
            value: document.documentId,
            style: 'danger',
          }),
          confirm: {
            title: { type: 'plain_text', text: 'Forget this document?' },
            text: {
              type: 'plain_text',
              text: `Deskhand will no longer answer from “${name}”.`,
            },
            confirm: { type: 'plain_text', text: 'Forget' },
            deny: { type: 'plain_text', text: 'Keep' },
            style: 'danger',
          },
        },
      });
      index += 1;
    }
  }
  if (total > items.length) blocks.push(context(`…and ${total - items.length} more documents`));
  return blocks;
}

function feedbackLine(loaded: NonNullable<HomeData['admin']>['feedback']): string {
  if (!loaded.ok) return 'Answer feedback could not be loaded just now.';
  const { helpful, notHelpful } = loaded.value;
  const votes = helpful + notHelpful;
  if (votes === 0) return 'Answer feedback: no votes yet.';
  return `Answer feedback: :thumbsup: ${helpful} helpful · :thumbsdown: ${notHelpful} not helpful (${Math.round((helpful / votes) * 100)}% helpful)`;
}

/** At most `homeBlockLimit` blocks: what does not fit is replaced by one line saying so. */
export function fitBlocks(blocks: Block[]): Block[] {
  if (blocks.length <= homeBlockLimit) return blocks;
  const kept = blocks.slice(0, homeBlockLimit - 1);
  return [...kept, context(`…${blocks.length - kept.length} more blocks are not shown (Slack shows at most 100).`)];
}

const channelIdPattern = /^[CGD][A-Z0-9]{2,20}$/;
const userIdPattern = /^[UW][A-Z0-9]{2,20}$/;

function channel(channelId: string): string {
  return channelIdPattern.test(channelId) ? `<#${channelId}>` : `\`${truncate(escapeMrkdwn(channelId), 40)}\``;
}

function user(userId: string): string {
  return userIdPattern.test(userId) ? `<@${userId}>` : 'someone';
}

function date(epochMs: number): string {
  const seconds = Math.floor(epochMs / 1000);
  return `<!date^${seconds}^{date_short_pretty}|${new Date(seconds * 1000).toISOString().slice(0, 10)}>`;
}
