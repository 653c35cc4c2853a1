/**
 * The one place where `openai` SDK errors become `DeskhandError`s, plus the `fetch` guard that keeps the SDK's own
 * retry loop from retrying what must not be retried. There is no second retry loop anywhere in the gateway.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import OpenAI from 'openai';
import { DeskhandError, isDeskhandError } from '../errors.ts';

/** Per-call context visible to the guarded fetch (the SDK calls fetch inside the gateway's async context). */
export interface UpstreamCallContext {
  deadline: number;
}

export const upstreamCallContext = new AsyncLocalStorage<UpstreamCallContext>();

/**
 * A `fetch` for the `openai` client that marks responses the SDK must not retry, via the SDK's own
 * `x-should-retry: false` header:
 * - every 4xx except 408, 409 and 429 (a request the provider rejected will not improve; 408 request timeout and
 *   409 conflict are transient, and the SDK retries them as it does 429 and 5xx);
 * - `429 insufficient_quota` (the account is out of credit: retrying only burns the deadline);
 * - a `429` whose `retry-after(-ms)` would not leave time for another attempt before the call's deadline.
 * Everything else passes through unchanged, and the SDK keeps its backoff and `retry-after` handling.
 */
export function createGuardedFetch(base: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input, init) => {
    const response = await base(input, init);
    if (response.status >= 400 && response.status < 500 && !sdkRetriedStatuses.has(response.status)) {
      return withoutRetry(response);
    }
    if (response.status !== 429) return response;
    let code: string | undefined;
    try {
      const body = (await response.clone().json()) as { error?: { code?: unknown; type?: unknown } };
      code = String(body.error?.code ?? body.error?.type ?? '');
    } catch {
      code = undefined;
    }
    const context = upstreamCallContext.getStore();
    const waitMs = retryAfterMs(response.headers);
    const tooLate = context !== undefined && waitMs !== undefined && Date.now() + waitMs >= context.deadline - 50;
    if (code !== 'insufficient_quota' && !tooLate) return response;
    return withoutRetry(response);
  };
}

/** The 4xx statuses the SDK retries and we leave to it: request timeout, conflict, rate limit (handled below). */
const sdkRetriedStatuses = new Set([408, 409, 429]);

function withoutRetry(response: Response): Response {
  const headers = new Headers(response.headers);
  headers.set('x-should-retry', 'false');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** The wait a 429 asks for, from `retry-after-ms` or `retry-after` (seconds or an HTTP date). */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms)) return ms;
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** Whether an error counts as the provider failing (for the circuit breaker). */
export function isUpstreamFailure(error: DeskhandError): boolean {
  return (
    error.code === 'upstream_unavailable' || (error.code === 'deadline_exceeded' && error.details.timedOut === true)
  );
}

/**
 * Maps anything the SDK (or a stream) threw to a `DeskhandError`, exactly once: an error that is already a
 * `DeskhandError` is returned as is.
 */
export function mapOpenAIError(
  error: unknown,
  context: { deadline: number; callerSignal?: AbortSignal | undefined; model: string },
): DeskhandError {
  if (isDeskhandError(error)) return error;
  const details: Record<string, unknown> = { model: context.model };
  const transport = mapTransportError(error, context.callerSignal, details);
  if (transport) return transport;
  if (error instanceof OpenAI.APIError) return mapApiError(error, details);
  if (error instanceof SyntaxError || (error instanceof OpenAI.OpenAIError && /JSON/i.test(error.message))) {
    return new DeskhandError('upstream_invalid_response', 'The provider returned a body that is not valid JSON', {
      cause: error,
      details,
    });
  }
  if (error instanceof Error && /terminated|socket|ECONNRESET|premature close/i.test(error.message)) {
    return new DeskhandError('upstream_unavailable', `The connection to the provider broke: ${error.message}`, {
      cause: error,
      retryable: true,
      details,
    });
  }
  return new DeskhandError('internal', error instanceof Error ? error.message : String(error), {
    cause: error,
    details,
  });
}

/** Aborts (the caller's: `cancelled`; otherwise the deadline's), timeouts and unreachable providers; else undefined. */
function mapTransportError(
  error: unknown,
  callerSignal: AbortSignal | undefined,
  details: Record<string, unknown>,
): DeskhandError | undefined {
  if (error instanceof OpenAI.APIUserAbortError || (error instanceof Error && error.name === 'AbortError')) {
    if (callerSignal?.aborted) return new DeskhandError('cancelled', 'The call was cancelled', { cause: error });
    return new DeskhandError('deadline_exceeded', 'The model call did not finish before its deadline', {
      cause: error,
      details: { ...details, timedOut: true },
    });
  }
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new DeskhandError('deadline_exceeded', 'The model call timed out', {
      cause: error,
      details: { ...details, timedOut: true },
    });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new DeskhandError('upstream_unavailable', `Could not reach the model provider: ${error.message}`, {
      cause: error,
      retryable: true,
      details,
    });
  }
  return undefined;
}

/** An HTTP error response, by status and provider code; `details` gains the status, code and request id. */
function mapApiError(error: InstanceType<typeof OpenAI.APIError>, details: Record<string, unknown>): DeskhandError {
  details.status = error.status;
  details.providerCode = error.code;
  details.providerRequestId = error.requestID;
  const status = error.status ?? 0;
  if (status === 429) return mapRateLimitError(error, details);
  if (status >= 500 || status === 408 || status === 409) {
    return new DeskhandError('upstream_unavailable', `The provider failed with HTTP ${status}`, {
      cause: error,
      retryable: true,
      details,
    });
  }
  if (status === 401 || status === 403 || status === 404) {
    return new DeskhandError(
      'configuration',
      `The provider refused the request with HTTP ${status}: ${error.message}`,
      {
        cause: error,
        details,
        userMessage: 'The model provider rejected Deskhand’s credentials or model name. An admin needs to check them.',
      },
    );
  }
  if (error.code === 'context_length_exceeded') {
    return new DeskhandError('input_too_large', 'The request exceeds the model’s context window', {
      cause: error,
      details,
    });
  }
  return new DeskhandError('internal', `The provider rejected the request with HTTP ${status}: ${error.message}`, {
    cause: error,
    details,
  });
}

/** A 429: an account out of quota (not retryable), or rate limiting (retryable, with the wait it asks for). */
function mapRateLimitError(
  error: InstanceType<typeof OpenAI.APIError>,
  details: Record<string, unknown>,
): DeskhandError {
  if (error.code === 'insufficient_quota' || error.type === 'insufficient_quota') {
    return new DeskhandError(
      'upstream_quota_exhausted',
      'The provider account has no quota left (insufficient_quota)',
      {
        cause: error,
        retryable: false,
        details,
      },
    );
  }
  const wait = retryAfterMs(error.headers);
  return new DeskhandError('upstream_rate_limited', 'The provider is rate limiting us', {
    cause: error,
    retryable: true,
    details: { ...details, retryAfterMs: wait },
    ...(wait !== undefined
      ? { userMessage: `The language model is rate limiting us. Please try again in ${Math.ceil(wait / 1000)} s.` }
      : {}),
  });
}
