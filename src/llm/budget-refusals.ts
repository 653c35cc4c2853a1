/**
 * `refusalMessage` and `overBudgetError`: what a person is told when a model call is refused by a budget.
 *
 * - The message names the scope (this channel, this workspace, or the person's own day in this workspace), the period, what was used of which cap (as
 *   dollars, `formatMicroUsd`), when the window resets in the configured time zone, and who can raise the cap
 *   (the configured admins, or that none are configured). A person's own cap (`USER_DAILY_CAP_USD`) is only set in
 *   configuration, so their refusal says that instead; a cap of $0 says they may not use model calls at all.
 * - The error is `over_budget` with the window, cap, spent, reserved and requested amounts and the reset time in
 *   its details, for logs and callers; the message goes in its `userMessage`.
 */
import { DateTime } from 'luxon';
import { DeskhandError } from '../errors.ts';
import { formatMicroUsd } from '../slack-kit/money.ts';
import type { BudgetWindow } from './budget-keys.ts';
import type { ReserveInput } from './budget-types.ts';

/** Whom a refusal speaks for: the time zone of reset times and the admins who can raise a cap. */
export interface RefusalAudience {
  timeZone: string;
  adminUserIds: readonly string[];
}

/** A window that would pass its cap, as the reserve script reported it. */
export interface Refusal {
  window: BudgetWindow;
  capMicroUsd: number;
  spentMicroUsd: number;
  reservedMicroUsd: number;
  resetsAt: number;
}

export function refusalMessage(
  audience: RefusalAudience,
  window: BudgetWindow,
  capMicroUsd: number,
  spentMicroUsd: number,
  resetsAt: number,
): string {
  const reset = DateTime.fromMillis(resetsAt, { zone: audience.timeZone }).toFormat('ccc d LLL, HH:mm ZZZZ');
  if (window === 'user_daily') return userRefusalMessage(capMicroUsd, spentMicroUsd, reset);
  const scope = window === 'workspace_daily' ? 'This workspace' : 'This channel';
  const period = window === 'channel_monthly' ? 'monthly' : 'daily';
  const admins =
    audience.adminUserIds.length > 0
      ? ` ${audience.adminUserIds.map((id) => `<@${id}>`).join(', ')} can raise it with \`/budget set\`.`
      : ' No admins are configured (ADMIN_USER_IDS), so the cap can only change in configuration.';
  return `${scope} has used ${formatMicroUsd(spentMicroUsd)} of its ${period} model budget of ${formatMicroUsd(capMicroUsd)}. It resets ${reset}.${admins}`;
}

/** A person's own daily window: their spend, their cap, when it resets, and that only configuration changes it. */
function userRefusalMessage(capMicroUsd: number, spentMicroUsd: number, reset: string): string {
  const where =
    'Each person’s daily cap is set by the workspace’s admins in Deskhand’s settings (default: USER_DAILY_CAP_USD).';
  if (capMicroUsd === 0)
    return `You may not use model calls in this workspace: your daily model budget is $0.00. ${where}`;
  return `You have used ${formatMicroUsd(spentMicroUsd)} of your daily model budget of ${formatMicroUsd(capMicroUsd)} in this workspace. It resets ${reset}. ${where}`;
}

/** The `over_budget` error of a refused reservation. */
export function overBudgetError(refusal: Refusal, input: ReserveInput, audience: RefusalAudience): DeskhandError {
  const { window, capMicroUsd, spentMicroUsd, reservedMicroUsd, resetsAt } = refusal;
  return new DeskhandError('over_budget', `Budget ${window} would be exceeded`, {
    details: {
      window,
      capMicroUsd,
      spentMicroUsd,
      reservedMicroUsd,
      requestedMicroUsd: input.amountMicroUsd,
      resetsAt,
      workspaceId: input.workspaceId,
      channelId: input.channelId,
      ...(window === 'user_daily' && input.userId !== undefined ? { userId: input.userId } : {}),
    },
    userMessage: refusalMessage(audience, window, capMicroUsd, spentMicroUsd, resetsAt),
  });
}
