/**
 * One error type for the whole app: a stable code (logged, counted and mapped to a user message), the
 * original cause, and whether retrying can help. Adapters translate SDK errors into this exactly once.
 */

/** The outcome taxonomy: every mention, command and click ends in a result or one of these reasons. */
export const outcomeCodes = [
  'over_budget',
  'budget_unenforceable',
  'no_sources',
  'not_authorised',
  /** The workspace's admins did not let Deskhand work in this channel (src/router/channel-policy.ts). */
  'channel_not_allowed',
  'upstream_unavailable',
  'upstream_rate_limited',
  'upstream_quota_exhausted',
  'upstream_invalid_response',
  'deadline_exceeded',
  'invalid_input',
  'input_too_large',
  'unsupported_input',
  'not_available_yet',
  'not_found',
  'conflict',
  'cancelled',
  'configuration',
  'internal',
] as const;

export type OutcomeCode = (typeof outcomeCodes)[number];

export interface DeskhandErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  /** A short sentence safe to show in Slack. Defaults to the generic message for the code. */
  userMessage?: string;
  /** Structured, secret-free details for logs. */
  details?: Record<string, unknown>;
}

export class DeskhandError extends Error {
  readonly code: OutcomeCode;
  readonly retryable: boolean;
  readonly userMessage: string;
  readonly details: Record<string, unknown>;

  constructor(code: OutcomeCode, message: string, options: DeskhandErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeskhandError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.userMessage = options.userMessage ?? defaultUserMessages[code];
    this.details = options.details ?? {};
  }
}

/** Generic wording per code; callers pass a more specific `userMessage` whenever they know more. */
export const defaultUserMessages: Record<OutcomeCode, string> = {
  over_budget: 'This channel has reached its model budget.',
  budget_unenforceable: 'I cannot check the budget right now, so I am not calling the model. Please try again shortly.',
  no_sources: 'I found no documents that answer this.',
  not_authorised: 'You are not authorised to do that.',
  channel_not_allowed: "Deskhand is not switched on in this channel. This workspace's admins can allow it.",
  upstream_unavailable: 'The language model is unavailable right now. Please try again in a few minutes.',
  upstream_rate_limited: 'The language model is rate limiting us. Please try again in a minute.',
  upstream_quota_exhausted: 'The model provider account is out of quota. An admin has to top it up.',
  upstream_invalid_response: 'The model returned something I could not use.',
  deadline_exceeded: 'That took too long, so I stopped.',
  invalid_input: 'I could not understand that input.',
  input_too_large: 'That input is too large for me to process.',
  unsupported_input: 'I cannot process that kind of input.',
  not_available_yet: 'That is not available yet.',
  not_found: 'I could not find that.',
  conflict: 'Someone else already handled that.',
  cancelled: 'Stopped.',
  configuration: 'Deskhand is misconfigured. An admin needs to check its settings.',
  internal: 'Something went wrong on my side. The team has the details in the logs.',
};

export function isDeskhandError(value: unknown): value is DeskhandError {
  return value instanceof DeskhandError;
}

/** Wraps anything thrown into a DeskhandError, keeping coded errors as they are. */
export function toDeskhandError(value: unknown, fallback: OutcomeCode = 'internal'): DeskhandError {
  if (value instanceof DeskhandError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new DeskhandError(fallback, message, { cause: value });
}
