/**
 * The one-time notice a channel gets when its spend passes the warning share (80 %) of a cap, and the one a person
 * gets (`user_daily`, shown only to them) when their own daily spend in the workspace does. The budget store reports
 * each window's crossing once (a marker per window), so this only formats it.
 */
import { DateTime } from 'luxon';
import type { BudgetWarning } from '../../llm/budget-store.ts';
import { formatMicroUsd } from '../../slack-kit/money.ts';

const windowNames: Record<BudgetWarning['window'], string> = {
  channel_daily: "this channel's daily model budget",
  channel_monthly: "this channel's monthly model budget",
  workspace_daily: "the workspace's daily model budget",
  user_daily: 'your daily model budget in this workspace',
};

/** Plain text (mrkdwn) for the warning, naming the reset time and who can raise the cap. */
export function budgetWarningText(
  warning: BudgetWarning,
  options: { timeZone: string; adminUserIds: readonly string[] },
): string {
  const share = warning.capMicroUsd > 0 ? Math.floor((warning.spentMicroUsd / warning.capMicroUsd) * 100) : 100;
  const reset = DateTime.fromMillis(warning.resetsAt, { zone: options.timeZone }).toFormat('ccc d LLL, HH:mm ZZZZ');
  const admins =
    warning.window === 'user_daily'
      ? ' Each person’s daily cap is set by the workspace’s admins in Deskhand’s settings (default: USER_DAILY_CAP_USD).'
      : options.adminUserIds.length > 0
        ? ` ${options.adminUserIds.map((id) => `<@${id}>`).join(', ')} can raise it with \`/budget set\`.`
        : ' No admin is configured (ADMIN_USER_IDS) to raise it.';
  const who = warning.window === 'user_daily' ? 'You have' : 'Deskhand has';
  return `:warning: ${who} used ${share} % of ${windowNames[warning.window]} (${formatMicroUsd(warning.spentMicroUsd)} of ${formatMicroUsd(warning.capMicroUsd)}). It resets ${reset}.${admins}`;
}
