/**
 * `OpenAIGateway`: the only implementation of `LanguageModelGateway`. Every chat and embedding call in Deskhand
 * passes through it, in this order:
 *
 * 1. validate the request and resolve model, encoding and price (an unknown model follows the price table's policy:
 *    a configuration error, a configured price, or $0 marked `pricing="unpriced"` in metrics, logs and the ledger);
 * 2. in one Lua script, serve a deterministic call from the scoped response cache (a hit costs 0 and is counted as
 *    savings) or reserve its worst case (exact input tokens + `maxOutputTokens` of output) — refused calls never
 *    reach the provider, and a budget store that cannot answer refuses too (fail closed) — after being asked again
 *    with backoff for a few seconds (`budget-outage-retry.ts`), so that a brief Redis outage only delays the call;
 * 3. fail fast while the circuit breaker is open (releasing the reservation);
 * 4. call the provider once through the `openai` SDK with a per-call `timeout` and `maxRetries` that fit the
 *    deadline (the SDK's retry loop is the only one; `createGuardedFetch` stops it retrying `insufficient_quota` or a
 *    `retry-after` beyond the deadline);
 * 5. settle to the reported usage (idempotent per request id), count its tokens and store a cacheable reply in the
 *    same script, append to the ledger, report 80 % warnings; on any failure release the reservation — except an
 *    interrupted stream, which is charged its input and the output received so far.
 *
 * Before step 1, every request is redacted (`redact-model-calls.ts`): the policy's personal data and, always, card
 * numbers and secrets are replaced with placeholders in everything sent to the provider — chat messages, tool-call
 * arguments, structured requests and embedding inputs — so token counts, budgets and the response-cache key are all
 * computed on the redacted request. Replies, streamed chunks and structured values come back restored.
 *
 * This file keeps the facade and the chat call flow (steps 1–2 and the cache hit); the parts live beside it:
 * `gateway-policy.ts` (validation, deadline, breaker, reservation size, cache key), `chat-call.ts` and `chat-wire.ts`
 * (steps 3–5 for chat, plain and streamed), `structured-output.ts` (json_schema + one repair call), `embeddings.ts`,
 * `settlement.ts` (settling without awaiting Redis's reply; `flush()`), `gateway-metrics.ts`.
 */
import { toDeskhandError } from '../errors.ts';
import type {
  CallScope,
  ChatRequest,
  ChatResult,
  EmbeddingResult,
  LanguageModelGateway,
  StructuredRequest,
  StructuredResult,
} from '../ports/language-model.ts';
import { retryBudgetOutage } from './budget-outage-retry.ts';
import { callChat } from './chat-call.ts';
import { countChatRequestTokens } from './chat-token-count.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { embed } from './embeddings.ts';
import { createGuardedFetch } from './errors.ts';
import { embeddingLimits, type GatewayContext, type OpenAIGatewayOptions } from './gateway-context.ts';
import { createGatewayMetrics, type Outcome, recordCall } from './gateway-metrics.ts';
import { type InternalOptions, planChatCall } from './gateway-policy.ts';
import {
  redactChatRequest,
  redactEmbeddingInputs,
  restoreChatResult,
  restoreStructuredValue,
  restoringTextDeltas,
} from './redact-model-calls.ts';
import { policyFrom, type RedactionPolicy } from './redaction-policy.ts';
import type { RedactionVault } from './redaction-vault.ts';
import type { CachedChat } from './response-cache.ts';
import { Settlement } from './settlement.ts';
import { structuredOutput } from './structured-output.ts';
import { encodingForModel } from './tokenizer.ts';
import { WorkspacePriceTables } from './workspace-prices.ts';

export { GatewayEmbedder } from './embeddings.ts';
export { type EmbeddingLimits, embeddingLimits, type OpenAIGatewayOptions } from './gateway-context.ts';

export class OpenAIGateway implements LanguageModelGateway {
  private readonly options: OpenAIGatewayOptions;
  private readonly context: GatewayContext;
  private readonly redaction: RedactionPolicy;

  constructor(options: OpenAIGatewayOptions) {
    this.options = options;
    this.redaction = policyFrom(options.redact);
    const client = options.client.withOptions({ fetch: createGuardedFetch(options.fetch ?? globalThis.fetch) });
    const limits = { ...embeddingLimits, ...options.embeddingLimits };
    const metric = createGatewayMetrics(options.metrics);
    const breaker =
      options.breaker ??
      new CircuitBreaker({ onStateChange: (state) => metric.circuitOpen.set(state === 'closed' ? 0 : 1) });
    const settlement = new Settlement({
      budgets: options.budgets,
      prices: options.prices,
      logger: options.logger,
      ledger: options.ledger,
      onBudgetWarning: options.onBudgetWarning,
    });
    const priceTables = new WorkspacePriceTables(options.prices, options.workspacePrices);
    this.context = { options, client, breaker, limits, metric, settlement, priceTables };
  }

  /**
   * Resolves once every settlement started so far has been answered by Redis (its cache entry stored, its warning
   * posted) and every ledger entry is on disk. Call before shutdown, and in tests before reading spend from another
   * connection.
   */
  flush(): Promise<void> {
    return this.context.settlement.flush();
  }

  /** Resolves once Redis has answered every settlement started so far (spend, cache entry, warnings); not the ledger. */
  whenSettled(): Promise<void> {
    return this.context.settlement.whenSettled();
  }

  /** Current breaker state (for health checks and tests). */
  get circuitState() {
    return this.context.breaker.current;
  }

  /** Counts the request as it is sent: redacted. */
  countChatTokens(request: ChatRequest): number {
    const model = request.model ?? this.options.chatModel;
    const { request: redacted } = redactChatRequest(request, this.redaction);
    return countChatRequestTokens(redacted, encodingForModel(model, this.options.fallbackEncoding));
  }

  async chat(request: ChatRequest, scope: CallScope): Promise<ChatResult> {
    const { request: redacted, vault } = redactChatRequest(request, this.redaction);
    this.countRedactions('chat', request.purpose, vault.counts, scope);
    const stream = request.onTextDelta ? restoringTextDeltas(request.onTextDelta, vault) : undefined;
    try {
      const result = await this.complete(
        stream ? { ...redacted, onTextDelta: stream.onTextDelta } : redacted,
        scope,
        {},
      );
      stream?.end();
      return restoreChatResult(result, vault);
    } catch (error) {
      stream?.end();
      throw error;
    }
  }

  async structured<T>(request: StructuredRequest<T>, scope: CallScope): Promise<StructuredResult<T>> {
    const { request: redacted, vault } = redactChatRequest(request, this.redaction);
    this.countRedactions('chat', request.purpose, vault.counts, scope);
    const reply = await structuredOutput(
      (chatRequest, callScope, internal) => this.complete(chatRequest, callScope, internal),
      this.options.logger,
      redacted,
      scope,
    );
    const restored = restoreStructuredValue(reply.value, vault, request.schema);
    if (!restored.restored) {
      this.options.logger.warn(
        { purpose: request.purpose, schemaName: request.schemaName, requestId: reply.result.requestId },
        'a restored structured reply no longer fits its schema; keeping its placeholders',
      );
    }
    return { ...reply, value: restored.value, result: restoreChatResult(reply.result, vault) };
  }

  embed(
    texts: string[],
    scope: CallScope,
    options: { purpose?: string; deadline?: number } = {},
  ): Promise<EmbeddingResult> {
    const redacted = redactEmbeddingInputs(texts, this.redaction);
    this.countRedactions('embed', options.purpose ?? 'embed', redacted.counts, scope);
    return embed(this.context, redacted.texts, scope, options);
  }

  /** Counts what was masked, by kind (never the values), and logs the counts at debug level. */
  private countRedactions(
    operation: 'chat' | 'embed',
    purpose: string,
    counts: RedactionVault['counts'],
    scope: CallScope,
  ): void {
    let total = 0;
    for (const [kind, count] of Object.entries(counts)) {
      if (count === 0) continue;
      total += count;
      this.context.metric.redactions.inc({ operation, kind }, count);
    }
    if (total > 0) {
      this.options.logger.debug(
        { operation, purpose, redactions: counts, workspaceId: scope.workspaceId, channelId: scope.channelId },
        'masked personal data before the model call',
      );
    }
  }

  /** One chat call: plan it, serve it from the cache or reserve it, call the provider; counted and timed once. */
  private async complete(request: ChatRequest, scope: CallScope, internal: InternalOptions): Promise<ChatResult> {
    const started = performance.now();
    const { options, metric } = this.context;
    const model =
      request.model ?? (options.chatModelOf ? await options.chatModelOf(scope.workspaceId) : options.chatModel);
    let outcome: Outcome = 'ok';
    let prices = options.prices;
    try {
      // This workspace's prices over the process's table: its reservation and settlement use them.
      prices = await this.context.priceTables.forWorkspace(scope.workspaceId);
      const plan = planChatCall(this.context, request, scope, model, prices);
      const { deadline, encoding, cacheKey, counted, reserveInput } = plan;
      // A budget store that cannot be reached is waited for a few seconds before the call is refused.
      const outageRetry = {
        deadline,
        ...(request.signal ? { signal: request.signal } : {}),
        onRetry: ({ attempt, delayMs, error }: { attempt: number; delayMs: number; error: Error }) =>
          options.logger.warn(
            { err: error, code: 'budget_unenforceable', attempt, delayMs, requestId: scope.requestId },
            'budget store unavailable; checking the budget again',
          ),
      };
      // One script: serve from the cache (counting the savings) or reserve the worst case.
      let reserved = await retryBudgetOutage(
        () => options.budgets.reserveOrServeCached({ ...reserveInput, ...(cacheKey ? { cacheKey } : {}) }),
        outageRetry,
      );
      if ('kind' in reserved) {
        const hit = options.cache.decode(reserved.value);
        if (hit) {
          outcome = 'cache_hit';
          metric.cache.inc({ channel: scope.channelId, result: 'hit' });
          metric.savings.inc({ channel: scope.channelId }, reserved.savedMicroUsd);
          request.onTextDelta?.(hit.text);
          return cachedResult(hit, reserved.savedMicroUsd, scope);
        }
        options.logger.warn({ cacheKey }, 'corrupt response-cache entry; deleting it');
        if (cacheKey) await options.cache.delete(cacheKey).catch(() => {});
        reserved = await retryBudgetOutage(() => options.budgets.reserve(reserveInput), outageRetry);
      }
      if (cacheKey) metric.cache.inc({ channel: scope.channelId, result: 'miss' });
      const cacheTarget = cacheKey
        ? {
            key: cacheKey,
            ttlSeconds: options.cache.ttlFor(request.cache?.timeSensitive ?? false),
            ...(internal.acceptForCache ? { accept: internal.acceptForCache } : {}),
          }
        : undefined;
      const call = { request, model, prices, encoding, deadline, reservation: reserved, counted, cacheTarget };
      const result = await callChat(this.context, call);
      return result;
    } catch (error) {
      const mapped = toDeskhandError(error);
      outcome = mapped.code;
      const level = mapped.code === 'over_budget' || mapped.code === 'cancelled' ? 'info' : 'warn';
      options.logger[level](
        {
          err: mapped,
          code: mapped.code,
          details: mapped.details,
          purpose: request.purpose,
          model,
          pricing: prices.label(model),
          workspaceId: scope.workspaceId,
          channelId: scope.channelId,
          requestId: scope.requestId,
        },
        'model call failed',
      );
      throw mapped;
    } finally {
      recordCall(metric, prices, { operation: 'chat', model, purpose: request.purpose, outcome, started });
    }
  }
}

/** A cache hit as the caller's result: it cost nothing this time, and says what it saved. */
function cachedResult(hit: CachedChat, savedMicroUsd: number, scope: CallScope): ChatResult {
  return {
    text: hit.text,
    toolCalls: hit.toolCalls,
    finishReason: hit.finishReason,
    usage: hit.usage,
    costMicroUsd: 0,
    fromCache: true,
    savedMicroUsd,
    model: hit.model,
    requestId: `${scope.requestId ?? 'call'}:cache`,
  };
}
