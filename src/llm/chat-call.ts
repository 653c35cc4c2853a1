/**
 * `callChat`: one reserved chat call, from the circuit breaker to the settlement.
 *
 * - The breaker is asked first; when it refuses, the reservation is released and nothing reaches the provider.
 * - The provider is called once (`upstream`: the SDK's own retries within the deadline); its outcome is recorded
 *   in the breaker (success, failure, or neutral for errors that say nothing about the provider's health).
 * - A reply is charged the provider-reported usage (our own count only when it reports none, with a warning) and
 *   settled in the background (`Settlement.settleInBackground`); only finished replies (`stop`, `tool_calls`) that
 *   pass the cache target's extra condition are stored in the cache, atomically with the settlement.
 * - On any failure the reservation is released — except a stream that had started, which is charged its input and
 *   the output received so far (awaited), and whose error says `interrupted` and `chargedMicroUsd`.
 */
import type { ChatRequest, ChatResult } from '../ports/language-model.ts';
import type { Reservation } from './budget-store.ts';
import { type ChatReply, chatBody, completionReply, type StreamProgress, streamedReply } from './chat-wire.ts';
import { isUpstreamFailure, mapOpenAIError } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { recordDrift } from './gateway-metrics.ts';
import { acquireBreaker, type CacheTarget, upstream } from './gateway-policy.ts';
import type { PriceTable } from './prices.ts';
import type { CachedChat } from './response-cache.ts';
import { countTokens, type EncodingName } from './tokenizer.ts';

/** A chat call whose reservation is held. */
export interface ChatCall {
  request: ChatRequest;
  model: string;
  /** The call's workspace's price table (what it was reserved with, and is settled with). */
  prices: PriceTable;
  encoding: EncodingName;
  deadline: number;
  reservation: Reservation;
  /** Our count of the input tokens (charged when the provider reports no usage). */
  counted: number;
  cacheTarget: CacheTarget | undefined;
}

export async function callChat(context: GatewayContext, call: ChatCall): Promise<ChatResult> {
  const { request, deadline, reservation } = call;
  try {
    acquireBreaker(context.breaker);
  } catch (error) {
    await context.settlement.releaseQuietly(reservation);
    throw error;
  }

  const body = chatBody(request, call.model);
  const stream: StreamProgress = { started: false, text: '', toolArguments: '' };
  try {
    const reply = await upstream(deadline, request.signal, async (requestOptions) => {
      if (!request.onTextDelta) return completionReply(context.client, body, requestOptions);
      return streamedReply(context.client, body, requestOptions, request, call.model, stream);
    });
    context.breaker.recordSuccess();
    return settleReply(context, call, reply);
  } catch (error) {
    const mapped = mapOpenAIError(error, { deadline, callerSignal: request.signal, model: call.model });
    if (isUpstreamFailure(mapped)) context.breaker.recordFailure();
    else context.breaker.recordNeutral();
    if (stream.started) {
      // The provider has processed the prompt and produced part of a reply: charge at least the input.
      const chargedMicroUsd = await chargeInterrupted(context, call, stream);
      mapped.details.interrupted = true;
      mapped.details.chargedMicroUsd = chargedMicroUsd;
    } else {
      await context.settlement.releaseQuietly(reservation);
    }
    throw mapped;
  }
}

/** Prices a reply, settles it in the background (with its cache entry when it may be cached) and counts it. */
function settleReply(context: GatewayContext, call: ChatCall, reply: ChatReply): ChatResult {
  const { options, metric } = context;
  const { model, encoding, counted, cacheTarget, reservation, request } = call;
  const requestId = reservation.requestId;
  const usage = {
    inputTokens: reply.usage?.prompt_tokens ?? counted,
    cachedInputTokens: reply.usage?.prompt_tokens_details?.cached_tokens ?? 0,
    outputTokens:
      reply.usage?.completion_tokens ??
      countTokens(reply.text, encoding) +
        countTokens(reply.toolCalls.map((toolCall) => toolCall.name + toolCall.argumentsJson).join(''), encoding),
  };
  if (reply.usage) recordDrift(metric, options.logger, { model, reported: usage.inputTokens, counted, requestId });
  else options.logger.warn({ requestId, model }, 'the provider reported no usage; charging our own count');
  const costMicroUsd = call.prices.cost(model, usage);
  const result: ChatResult = {
    text: reply.text,
    toolCalls: reply.toolCalls,
    finishReason: reply.finishReason,
    usage,
    costMicroUsd,
    fromCache: false,
    savedMicroUsd: 0,
    model: reply.model,
    requestId,
  };
  // Only finished replies are cached: never errors, truncated (length) or filtered output, or interrupted streams.
  const cacheable =
    cacheTarget !== undefined &&
    (result.finishReason === 'stop' || result.finishReason === 'tool_calls') &&
    (cacheTarget.accept?.(result) ?? true);
  const entry: CachedChat | undefined = cacheable
    ? {
        text: result.text,
        toolCalls: result.toolCalls,
        finishReason: result.finishReason,
        usage,
        costMicroUsd,
        model: result.model,
        storedAt: Date.now(),
      }
    : undefined;
  context.settlement.settleInBackground(
    reservation,
    costMicroUsd,
    { model, purpose: request.purpose, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens },
    cacheTarget && entry
      ? { key: cacheTarget.key, value: options.cache.encode(entry), ttlSeconds: cacheTarget.ttlSeconds }
      : undefined,
    call.prices,
  );
  metric.tokens.inc({ model, kind: 'input' }, usage.inputTokens - usage.cachedInputTokens);
  metric.tokens.inc({ model, kind: 'cached_input' }, usage.cachedInputTokens);
  metric.tokens.inc({ model, kind: 'output' }, usage.outputTokens);
  metric.cost.inc({ model, purpose: request.purpose }, costMicroUsd);
  return result;
}

/** Charges an interrupted stream its input and the output received so far; returns the charge in µ$. */
async function chargeInterrupted(context: GatewayContext, call: ChatCall, stream: StreamProgress): Promise<number> {
  const { model, encoding, counted, reservation, request } = call;
  const outputTokens = countTokens(stream.text, encoding) + countTokens(stream.toolArguments, encoding);
  const partial = call.prices.cost(model, { inputTokens: counted, outputTokens });
  await context.settlement
    .settle(
      reservation,
      partial,
      { model, purpose: request.purpose, inputTokens: counted, outputTokens },
      undefined,
      call.prices,
    )
    .catch((settleError: unknown) => {
      context.options.logger.error(
        { err: settleError, requestId: reservation.requestId },
        'could not charge an interrupted stream',
      );
    });
  return partial;
}
