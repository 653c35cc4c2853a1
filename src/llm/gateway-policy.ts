/**
 * `planChatCall` and the gateway's other rules about whether and how a call may start, applied before any budget
 * is touched or the provider is called:
 *
 * - a chat request is validated (purpose, messages, `maxOutputTokens`, temperature, a given `inputTokens`)
 *   → `invalid_input`;
 * - a call already cancelled or past its deadline never starts → `cancelled` / `deadline_exceeded`;
 * - the model's price is resolved first, so a model the price table refuses is a `configuration` error before
 *   anything is reserved; its encoding falls back to `fallbackEncoding` for models tiktoken does not know;
 * - a call is reserved at its worst case: exact input tokens + `maxOutputTokens` of output, for at least its
 *   remaining deadline + 30 s; the input tokens are counted here unless the in-process caller already counted
 *   them (`request.inputTokens`, then trusted as given); only deterministic requests get a cache key
 *   (`isCacheable`);
 * - while the circuit breaker is open, calls fail fast with `upstream_unavailable` and a retry hint;
 * - each SDK call gets the deadline's remaining time as `timeout` and only as many SDK retries as can finish
 *   (2 from 4 s left, 1 from 1.5 s, else 0).
 */
import { randomUUID } from 'node:crypto';
import { DeskhandError } from '../errors.ts';
import type { CallScope, ChatRequest, ChatResult } from '../ports/language-model.ts';
import type { ReserveInput } from './budget-store.ts';
import { countChatRequestTokens } from './chat-token-count.ts';
import type { CircuitBreaker } from './circuit-breaker.ts';
import { upstreamCallContext } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import type { PriceTable } from './prices.ts';
import { isCacheable } from './response-cache.ts';
import { type EncodingName, encodingForModel } from './tokenizer.ts';

export interface InternalOptions {
  /** Extra condition for storing a reply in the cache (structured outputs: it must validate). */
  acceptForCache?: (result: ChatResult) => boolean;
}

/** Where and for how long a reply is cached, and the extra condition it must meet. */
export interface CacheTarget {
  key: string;
  ttlSeconds: number;
  accept?: (result: ChatResult) => boolean;
}

/** A validated chat call, ready to reserve. */
export interface ChatPlan {
  deadline: number;
  encoding: EncodingName;
  cacheKey: string | undefined;
  /** Our exact count of the request's input tokens (the caller's, when it gave one). */
  counted: number;
  reserveInput: ReserveInput;
}

/** Validates a chat call and works out its deadline, encoding, cache key, input tokens and worst-case reservation. */
export function planChatCall(
  context: GatewayContext,
  request: ChatRequest,
  scope: CallScope,
  model: string,
  prices: PriceTable = context.options.prices,
): ChatPlan {
  const { options } = context;
  validateChat(request);
  const deadline = request.deadline ?? Date.now() + options.timeoutMs;
  checkLiveness(deadline, request.signal);
  prices.priceOf(model);
  const encoding = encodingForModel(model, options.fallbackEncoding);

  const cacheKey = isCacheable(request) ? options.cache.keyFor(request, model, scope) : undefined;
  const counted = request.inputTokens ?? countChatRequestTokens(request, encoding);
  const reserveInput = {
    requestId: `${scope.requestId ?? 'call'}:${randomUUID()}`,
    workspaceId: scope.workspaceId,
    channelId: scope.channelId,
    // Who the call is for: their daily window is reserved too while a per-user cap is configured.
    ...(scope.userId ? { userId: scope.userId } : {}),
    amountMicroUsd: prices.cost(model, {
      inputTokens: counted,
      outputTokens: request.maxOutputTokens,
    }),
    ttlMs: deadline - Date.now() + 30_000,
  };
  return { deadline, encoding, cacheKey, counted, reserveInput };
}

/** Throws `invalid_input` listing every problem of a chat request. */
export function validateChat(request: ChatRequest): void {
  const problems: string[] = [];
  if (!request.purpose) problems.push('purpose is required');
  if (!Array.isArray(request.messages) || request.messages.length === 0) problems.push('messages must not be empty');
  if (!Number.isSafeInteger(request.maxOutputTokens) || request.maxOutputTokens < 1) {
    problems.push('maxOutputTokens must be a positive integer');
  }
  const temperature = request.temperature ?? 0;
  if (!(temperature >= 0 && temperature <= 2)) problems.push('temperature must be between 0 and 2');
  if (request.inputTokens !== undefined && !(Number.isSafeInteger(request.inputTokens) && request.inputTokens >= 0)) {
    problems.push('inputTokens must be a non-negative integer');
  }
  if (problems.length > 0) {
    throw new DeskhandError('invalid_input', `Invalid chat request: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
}

/** Throws when the call was cancelled or its deadline passed before it started. */
export function checkLiveness(deadline: number, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DeskhandError('cancelled', 'The call was cancelled before it started');
  if (Date.now() >= deadline)
    throw new DeskhandError('deadline_exceeded', 'The deadline passed before the call started');
}

/** Takes a slot from the circuit breaker, or throws `upstream_unavailable` (retryable) while it is open. */
export function acquireBreaker(breaker: CircuitBreaker): void {
  if (breaker.tryAcquire()) return;
  const seconds = Math.max(1, Math.ceil((breaker.retryAt - Date.now()) / 1000));
  throw new DeskhandError('upstream_unavailable', 'The provider circuit breaker is open; failing fast', {
    retryable: true,
    details: { circuit: breaker.current, retryInSeconds: seconds },
    userMessage: `The language model has been failing, so I am pausing calls to it. Please try again in about ${seconds} s.`,
  });
}

/** Runs one SDK call with a timeout and retry count that fit the deadline, and the deadline in context. */
export function upstream<T>(
  deadline: number,
  callerSignal: AbortSignal | undefined,
  call: (options: { timeout: number; maxRetries: number; signal: AbortSignal }) => Promise<T>,
): Promise<T> {
  const remaining = Math.max(1, deadline - Date.now());
  const deadlineSignal = AbortSignal.timeout(remaining);
  const signal = callerSignal ? AbortSignal.any([callerSignal, deadlineSignal]) : deadlineSignal;
  // The SDK's worst case is bounded by the signal; retries are only worth it when a second attempt can finish.
  const maxRetries = remaining >= 4_000 ? 2 : remaining >= 1_500 ? 1 : 0;
  return upstreamCallContext.run({ deadline }, () => call({ timeout: remaining, maxRetries, signal }));
}
