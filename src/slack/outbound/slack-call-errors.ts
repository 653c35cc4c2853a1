/**
 * Translating `@slack/web-api` failures into `DeskhandError`s, so callers see outcome codes, never SDK
 * errors:
 * - a Slack platform error (`{ ok: false, error }`) maps to `not_found`, `not_authorised`, `configuration`,
 *   `conflict` or `internal`, with the Slack error in `details.slackError`;
 * - a rate limit that is not waited out is `upstream_rate_limited` (retryable);
 * - a timeout, network failure or 5xx is `upstream_unavailable`, with `details.outcomeUnknown` set when the
 *   call may have been applied (then it is not retryable: a post could show twice).
 * Every error keeps the SDK error as its `cause`. The retry policy itself lives in slack-api-caller.ts.
 */
import { DeskhandError, type OutcomeCode } from '../../errors.ts';

/** The fields of an `@slack/web-api` error this module and the caller read. */
export interface SlackCallError {
  code?: string;
  retryAfter?: number;
  statusCode?: number;
  data?: { error?: string };
  original?: Error;
}

/** `code` of an SDK error for an HTTP 429 (with `rejectRateLimitedCalls`). */
export const rateLimitedCode = 'slack_webapi_rate_limited_error';
/** `code` of an SDK error for a Slack platform error (`ok: false`). */
export const platformErrorCode = 'slack_webapi_platform_error';

const notFoundErrors = new Set([
  'channel_not_found',
  'message_not_found',
  'thread_not_found',
  'not_found',
  'file_not_found',
  'file_deleted',
]);
const notAuthorisedErrors = new Set(['not_in_channel', 'is_archived', 'restricted_action', 'missing_scope']);
const configurationErrors = new Set(['not_authed', 'invalid_auth', 'token_revoked', 'account_inactive']);

export function platformCode(slackError: string): OutcomeCode {
  if (notFoundErrors.has(slackError)) return 'not_found';
  if (notAuthorisedErrors.has(slackError)) return 'not_authorised';
  if (configurationErrors.has(slackError)) return 'configuration';
  if (slackError === 'expired_trigger_id' || slackError === 'hash_conflict') return 'conflict';
  return 'internal';
}

/** A call still rate limited after the allowed retries (or with a Retry-After too long to wait). */
export function rateLimitedError(
  method: string,
  channel: string | undefined,
  retryAfterMs: number,
  cause: unknown,
): DeskhandError {
  return new DeskhandError('upstream_rate_limited', `${method} stayed rate limited by Slack`, {
    cause,
    retryable: true,
    userMessage: 'Slack is rate limiting me right now. Please try again in a minute.',
    details: { method, channel, retryAfterMs },
  });
}

/** Slack answered and refused the call. */
export function platformError(
  method: string,
  channel: string | undefined,
  slackError: string,
  cause: unknown,
): DeskhandError {
  return new DeskhandError(platformCode(slackError), `${method} failed: ${slackError}`, {
    cause,
    details: { method, channel, slackError },
  });
}

/** Slack did not answer (timeout, network failure, 5xx); `retrySafe` false means the outcome is unknown. */
export function unavailableError(
  method: string,
  channel: string | undefined,
  retrySafe: boolean,
  cause: unknown,
): DeskhandError {
  return new DeskhandError('upstream_unavailable', `${method} failed: Slack did not answer`, {
    cause,
    retryable: retrySafe,
    userMessage: 'Slack did not answer in time. Please check the channel before trying again.',
    details: { method, channel, outcomeUnknown: !retrySafe },
  });
}
