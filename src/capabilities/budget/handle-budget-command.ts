/**
 * `/budget`: anyone sees the channel's and the workspace's model spend, what is left, cache savings and when each
 * window resets, and — when a per-user cap is configured — their own spend today in the workspace ("You today"); admins (`ADMIN_USER_IDS`) change the channel's cap with `/budget set <usd> [daily|monthly]`.
 * `/budget report` shows the workspace's admins the weekly report (built by the injected `weeklyReport`, see
 * src/capabilities/report/); anyone else is told who can see it, and the refusal is logged.
 * The Slack listener calls `handleBudgetCommand` after acking and posts the returned message (ephemeral).
 */
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import { isDeskhandError } from '../../errors.ts';
import type { BudgetStatus, BudgetWindow } from '../../llm/budget-store.ts';
import type { Block } from '../../ports/messenger.ts';
import { formatMicroUsd } from '../../slack-kit/money.ts';

/** What the command needs from the budget store (`BudgetStore` satisfies it). */
export interface BudgetAdministration {
  readonly timeZone: string;
  /** With `userId`, also that person's day when a per-user cap is configured. */
  status(workspaceId: string, channelId: string, userId?: string): Promise<BudgetStatus>;
  setChannelCap(
    workspaceId: string,
    channelId: string,
    window: 'daily' | 'monthly',
    capMicroUsd: number | null,
  ): Promise<void>;
}

export interface BudgetCommandInput {
  text: string;
  userId: string;
  workspaceId: string;
  channelId: string;
}

export interface BudgetCommandDependencies {
  budgets: BudgetAdministration;
  /** The admins when `adminsOf` is not given. */
  adminUserIds: readonly string[];
  /** The admins of a workspace (its settings); read once per command, server-side. */
  adminsOf?: (workspaceId: string) => Promise<readonly string[]>;
  /** The weekly report of a workspace (`/budget report`); called only for its admins. Absent: not offered. */
  weeklyReport?: (workspaceId: string) => Promise<BudgetCommandReply>;
  logger?: Logger;
}

export interface BudgetCommandReply {
  text: string;
  blocks?: Block[];
}

/** Highest cap an admin can set from Slack; anything above is almost certainly a typo. */
export const maxCapUsd = 100_000;

const usage = [
  '*Usage*',
  '• `/budget` — this channel’s and the workspace’s model spend (and your own today, when each person has a cap), what is left, cache savings and reset times',
  '• `/budget set <usd> [daily|monthly]` — set this channel’s cap (admins only), e.g. `/budget set 10` or `/budget set 120 monthly`',
  '• `/budget report` — the last 7 days: answers, cache hits and savings, spend, questions without sources, documents cited, tickets, feedback (admins only)',
].join('\n');

const labels: Record<BudgetWindow, string> = {
  channel_daily: 'Channel, today',
  channel_monthly: 'Channel, this month',
  workspace_daily: 'Workspace, today',
  user_daily: 'You today',
};

const section = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text } });

/** Parses a dollar amount such as `5`, `$12.50` or `0.75`; undefined when it is not one. */
export function parseUsd(raw: string): number | undefined {
  const match = /^\$?(\d{1,9}(?:\.\d{1,6})?)$/.exec(raw.trim());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Handles one `/budget` invocation. Never throws: every failure becomes a message for the user (and a log line). */
export async function handleBudgetCommand(
  input: BudgetCommandInput,
  dependencies: BudgetCommandDependencies,
): Promise<BudgetCommandReply> {
  const words = input.text.trim().split(/\s+/).filter(Boolean);
  const verb = words[0]?.toLowerCase();
  try {
    if (verb === 'help') return { text: usage, blocks: [section(usage)] };
    const admins = dependencies.adminsOf ? await dependencies.adminsOf(input.workspaceId) : dependencies.adminUserIds;
    const withAdmins = { ...dependencies, adminUserIds: admins };
    if (verb === undefined || verb === 'show' || verb === 'status') return await showStatus(input, withAdmins);
    if (verb === 'set') return await setCap(input, words.slice(1), withAdmins);
    if (verb === 'report') return await showReport(input, words.slice(1), withAdmins);
    const text = `I do not know \`/budget ${input.text.trim()}\`.\n${usage}`;
    return { text, blocks: [section(text)] };
  } catch (error) {
    dependencies.logger?.warn(
      { err: error, workspaceId: input.workspaceId, channelId: input.channelId, userId: input.userId },
      '/budget failed',
    );
    const text = isDeskhandError(error)
      ? error.code === 'budget_unenforceable' || error.code === 'upstream_unavailable'
        ? 'I cannot read the budget right now (the budget store is unavailable). Please try again shortly.'
        : error.userMessage
      : 'Something went wrong while reading the budget. The team has the details in the logs.';
    return { text, blocks: [section(text)] };
  }
}

async function showStatus(
  input: BudgetCommandInput,
  dependencies: BudgetCommandDependencies,
): Promise<BudgetCommandReply> {
  const status = await dependencies.budgets.status(input.workspaceId, input.channelId, input.userId);
  const lines = status.windows.map((window) => {
    const reset = DateTime.fromMillis(window.resetsAt, { zone: status.timeZone }).toFormat('ccc d LLL, HH:mm ZZZZ');
    const inFlight = window.reservedMicroUsd > 0 ? ` (${formatMicroUsd(window.reservedMicroUsd)} in flight)` : '';
    if (window.window === 'user_daily') {
      return `• *${labels.user_daily}*: ${formatMicroUsd(window.spentMicroUsd)} of ${formatMicroUsd(window.capMicroUsd)} spent${inFlight}, ${formatMicroUsd(window.remainingMicroUsd)} left (your own cap in this workspace). Resets ${reset}.`;
    }
    const source = window.window === 'workspace_daily' ? '' : window.overridden ? ' (set by an admin)' : ' (default)';
    return `• *${labels[window.window]}*: ${formatMicroUsd(window.spentMicroUsd)} of ${formatMicroUsd(window.capMicroUsd)}${source} spent${inFlight}, ${formatMicroUsd(window.remainingMicroUsd)} left, cache saved ${formatMicroUsd(window.savedMicroUsd)}. Resets ${reset}.`;
  });
  const header = `*Model budget for <#${input.channelId}>*`;
  const footer = dependencies.adminUserIds.includes(input.userId)
    ? 'You can change this channel’s cap with `/budget set <usd> [daily|monthly]`.'
    : dependencies.adminUserIds.length > 0
      ? `Admins who can change the caps: ${dependencies.adminUserIds.map((id) => `<@${id}>`).join(', ')}.`
      : 'No admins are configured (ADMIN_USER_IDS), so caps only change in configuration.';
  const text = [header, ...lines, footer].join('\n');
  return {
    text,
    blocks: [section([header, ...lines].join('\n')), { type: 'context', elements: [{ type: 'mrkdwn', text: footer }] }],
  };
}

async function setCap(
  input: BudgetCommandInput,
  args: string[],
  dependencies: BudgetCommandDependencies,
): Promise<BudgetCommandReply> {
  const reply = (text: string): BudgetCommandReply => ({ text, blocks: [section(text)] });
  if (!dependencies.adminUserIds.includes(input.userId)) {
    dependencies.logger?.info(
      { userId: input.userId, workspaceId: input.workspaceId, channelId: input.channelId },
      '/budget set refused: not an admin',
    );
    const admins = dependencies.adminUserIds.map((id) => `<@${id}>`).join(', ');
    return reply(
      admins
        ? `Only admins can change budgets. Ask ${admins}.`
        : 'Only admins can change budgets, and none are configured (ADMIN_USER_IDS).',
    );
  }
  const [amountText, windowText, ...rest] = args;
  if (amountText === undefined)
    return reply(`Tell me the new cap in dollars, e.g. \`/budget set 10 daily\`.\n${usage}`);
  const amount = parseUsd(amountText);
  if (amount === undefined) {
    return reply(`\`${amountText}\` is not a dollar amount. Use a number such as \`10\` or \`12.50\`.`);
  }
  if (amount > maxCapUsd) return reply(`$${amount} is above the largest cap I accept from Slack ($${maxCapUsd}).`);
  const window = (windowText ?? 'daily').toLowerCase();
  if (window !== 'daily' && window !== 'monthly') {
    return reply(`\`${windowText}\` is not a budget window. Use \`daily\` or \`monthly\`.`);
  }
  if (rest.length > 0) return reply(`I did not expect \`${rest.join(' ')}\` after the window.\n${usage}`);
  const micro = Math.round(amount * 1_000_000);
  await dependencies.budgets.setChannelCap(input.workspaceId, input.channelId, window, micro);
  dependencies.logger?.info(
    { userId: input.userId, workspaceId: input.workspaceId, channelId: input.channelId, window, capMicroUsd: micro },
    'channel budget cap changed',
  );
  const note = amount === 0 ? ' Model calls in this channel are now refused until the cap is raised.' : '';
  return reply(`The ${window} model budget for <#${input.channelId}> is now ${formatMicroUsd(micro)}.${note}`);
}

/** `/budget report`: the weekly report for the workspace's admins (checked here, server-side), a refusal for others. */
async function showReport(
  input: BudgetCommandInput,
  args: string[],
  dependencies: BudgetCommandDependencies,
): Promise<BudgetCommandReply> {
  const reply = (text: string): BudgetCommandReply => ({ text, blocks: [section(text)] });
  if (!dependencies.weeklyReport) return reply('The weekly report is not available in this deployment.');
  if (!dependencies.adminUserIds.includes(input.userId)) {
    dependencies.logger?.info(
      { userId: input.userId, workspaceId: input.workspaceId, channelId: input.channelId, code: 'forbidden' },
      '/budget report refused: not an admin',
    );
    const admins = dependencies.adminUserIds.map((id) => `<@${id}>`).join(', ');
    return reply(
      admins
        ? `Only this workspace’s admins can see the weekly report: ${admins}.`
        : 'Only admins can see the weekly report, and none are configured (ADMIN_USER_IDS or the workspace settings).',
    );
  }
  if (args.length > 0)
    return reply(`\`/budget report\` takes no options (it always covers the last 7 days).\n${usage}`);
  return await dependencies.weeklyReport(input.workspaceId);
}
