/**
 * `OpenAIGateway`: the only implementation of `LanguageModelGateway`. Every chat and embedding call in Deskhand
 * passes through it, in this order:
 *
 * 1. validate the request and resolve model, encoding and price (an unknown model follows the price table's policy:
 *    a configuration error, a configured price, or $0 marked `pricing="unpriced"` in metrics, logs and the ledger);
 * 2. in one Lua script, serve a deterministic call from the scoped response cache (a hit costs 0 and is counted as
 *    savings) or reserve its worst case (exact input tokens + `maxOutputTokens` of output) — refused calls never
 *    reach the provider, and a budget store that cannot answer refuses too (fail closed);
 * 3. fail fast while the circuit breaker is open (releasing the reservation);
 * 4. call the provider once through the `openai` SDK with a per-call `timeout` and `maxRetries` that fit the
 *    deadline (the SDK's retry loop is the only one; `createGuardedFetch` stops it retrying `insufficient_quota` or a
 *    `retry-after` beyond the deadline);
 * 5. settle to the reported usage (idempotent per request id), count its tokens and store a cacheable reply in the
 *    same script, append to the ledger, report 80 % warnings; on any failure release the reservation — except an
 *    interrupted stream, which is charged its input and the output received so far.
 */
import { randomUUID } from 'node:crypto';
import type OpenAI from 'openai';
import type { Logger } from 'pino';
import { DeskhandError, toDeskhandError } from '../errors.ts';
import { counter, gauge, histogram, type Registry } from '../observability/metrics.ts';
import type { Embedder } from '../ports/embedder.ts';
import type {
  CallScope,
  ChatRequest,
  ChatResult,
  EmbeddingResult,
  LanguageModelGateway,
  StructuredRequest,
  StructuredResult,
  ToolCall,
} from '../ports/language-model.ts';
import type { BudgetStore, BudgetWarning, CacheStore, Reservation } from './budget-store.ts';
import { countChatRequestTokens } from './chat-token-count.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { createGuardedFetch, isUpstreamFailure, mapOpenAIError, upstreamCallContext } from './errors.ts';
import type { Ledger } from './ledger.ts';
import type { PriceTable } from './prices.ts';
import { type CachedChat, isCacheable, type ResponseCache } from './response-cache.ts';
import { toStrictJsonSchema } from './structured-schema.ts';
import { countTokens, type EncodingName, encodingForModel } from './tokenizer.ts';
import { toWireMessages, toWireResponseFormat, toWireToolChoice, toWireTools } from './wire-request.ts';

export interface EmbeddingLimits {
  maxInputs: number;
  maxTokensPerRequest: number;
  maxTokensPerInput: number;
}

/** OpenAI's documented per-request limits for embeddings. */
export const embeddingLimits: Readonly<EmbeddingLimits> = {
  maxInputs: 2048,
  maxTokensPerRequest: 300_000,
  maxTokensPerInput: 8191,
};

export interface OpenAIGatewayOptions {
  /** Built in `src/main.ts` with `baseURL` and `apiKey`; the gateway derives a guarded copy of it. */
  client: OpenAI;
  budgets: BudgetStore;
  cache: ResponseCache;
  prices: PriceTable;
  metrics: Registry;
  logger: Logger;
  chatModel: string;
  embeddingModel: string;
  embeddingDimensions: number;
  /** Deadline of a call that does not bring its own. */
  timeoutMs: number;
  ledger?: Ledger;
  fallbackEncoding?: EncodingName | undefined;
  breaker?: CircuitBreaker;
  /** Called once per window when a channel or workspace passes 80 % of a cap (errors are logged, not thrown). */
  onBudgetWarning?: (warning: BudgetWarning) => void | Promise<void>;
  /** The `fetch` the guarded fetch wraps (default: global fetch). */
  fetch?: typeof fetch;
  embeddingLimits?: Partial<EmbeddingLimits>;
}

interface InternalOptions {
  /** Extra condition for storing a reply in the cache (structured outputs: it must validate). */
  acceptForCache?: (result: ChatResult) => boolean;
}

type Outcome = 'ok' | 'cache_hit' | DeskhandError['code'];

function finishReasonOf(reason: string | null | undefined): ChatResult['finishReason'] {
  switch (reason) {
    case 'stop':
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return reason;
    case 'function_call':
      return 'tool_calls';
    default:
      return 'unknown';
  }
}

function decodeEmbedding(embedding: unknown): Float32Array {
  if (typeof embedding === 'string') {
    const bytes = Buffer.from(embedding, 'base64');
    // Copy into a fresh, aligned buffer: Buffer pools are not guaranteed to be 4-byte aligned.
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  if (Array.isArray(embedding)) return Float32Array.from(embedding as number[]);
  throw new DeskhandError('upstream_invalid_response', 'An embedding in the reply is neither base64 nor an array');
}

export class OpenAIGateway implements LanguageModelGateway {
  private readonly client: OpenAI;
  private readonly options: OpenAIGatewayOptions;
  private readonly breaker: CircuitBreaker;
  private readonly limits: EmbeddingLimits;
  private readonly metric;
  private readonly pendingLedger = new Set<Promise<void>>();
  private readonly pendingSettlements = new Set<Promise<void>>();

  constructor(options: OpenAIGatewayOptions) {
    this.options = options;
    this.client = options.client.withOptions({ fetch: createGuardedFetch(options.fetch ?? globalThis.fetch) });
    this.limits = { ...embeddingLimits, ...options.embeddingLimits };
    const registry = options.metrics;
    const circuitOpen = gauge(registry, 'deskhand_llm_circuit_open', '1 while the provider circuit breaker is open');
    this.breaker =
      options.breaker ?? new CircuitBreaker({ onStateChange: (state) => circuitOpen.set(state === 'closed' ? 0 : 1) });
    this.metric = {
      calls: counter(registry, 'deskhand_llm_calls_total', 'Model calls by outcome and pricing', [
        'operation',
        'model',
        'purpose',
        'outcome',
        'pricing',
      ]),
      duration: histogram(registry, 'deskhand_llm_call_duration_seconds', 'Model call latency', [
        'operation',
        'outcome',
      ]),
      tokens: counter(registry, 'deskhand_llm_tokens_total', 'Tokens billed by the provider', ['model', 'kind']),
      cost: counter(registry, 'deskhand_llm_cost_micro_usd_total', 'Spend in micro-dollars', ['model', 'purpose']),
      cache: counter(registry, 'deskhand_llm_cache_requests_total', 'Response cache lookups', ['channel', 'result']),
      savings: counter(registry, 'deskhand_llm_cache_savings_micro_usd_total', 'Spend avoided by cache hits', [
        'channel',
      ]),
      drift: histogram(
        registry,
        'deskhand_llm_token_count_drift_tokens',
        'Provider-reported prompt tokens minus our count',
        ['model'],
        [-100, -20, -5, -1, 0, 1, 5, 20, 100],
      ),
      lastDrift: gauge(registry, 'deskhand_llm_token_count_drift_last', 'Last drift of our prompt token count', [
        'model',
      ]),
    };
  }

  /**
   * Resolves once every settlement started so far has been answered by Redis (its cache entry stored, its warning
   * posted) and every ledger entry is on disk. Call before shutdown, and in tests before reading spend from another
   * connection.
   */
  async flush(): Promise<void> {
    await this.whenSettled();
    await Promise.all([...this.pendingLedger]);
  }

  /** Resolves once Redis has answered every settlement started so far (spend, cache entry, warnings); not the ledger. */
  async whenSettled(): Promise<void> {
    while (this.pendingSettlements.size > 0) await Promise.all([...this.pendingSettlements]);
  }

  /** Current breaker state (for health checks and tests). */
  get circuitState() {
    return this.breaker.current;
  }

  countChatTokens(request: ChatRequest): number {
    const model = request.model ?? this.options.chatModel;
    return countChatRequestTokens(request, encodingForModel(model, this.options.fallbackEncoding));
  }

  chat(request: ChatRequest, scope: CallScope): Promise<ChatResult> {
    return this.complete(request, scope, {});
  }

  async structured<T>(request: StructuredRequest<T>, scope: CallScope): Promise<StructuredResult<T>> {
    const { schema, schemaName, ...rest } = request;
    const strict = toStrictJsonSchema(schema);
    const chatRequest: ChatRequest = {
      ...rest,
      temperature: rest.temperature ?? 0,
      responseFormat: { type: 'json_schema', name: schemaName, schema: strict.schema, strict: true },
    };
    const validate = (text: string): { ok: true; value: T } | { ok: false; errors: string } => {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (error) {
        return { ok: false, errors: `the reply is not valid JSON (${(error as Error).message})` };
      }
      const parsed = schema.safeParse(strict.restoreOptional(raw));
      if (parsed.success) return { ok: true, value: parsed.data };
      return {
        ok: false,
        errors: parsed.error.issues
          .slice(0, 10)
          .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
          .join('; '),
      };
    };
    const first = await this.complete(chatRequest, scope, { acceptForCache: (result) => validate(result.text).ok });
    const firstCheck = validate(first.text);
    if (firstCheck.ok) return { value: firstCheck.value, result: first, repaired: false };
    this.options.logger.warn(
      { purpose: request.purpose, schemaName, errors: firstCheck.errors, requestId: first.requestId },
      'structured reply failed validation; making one repair call',
    );
    const repairRequest: ChatRequest = {
      ...chatRequest,
      messages: [
        ...chatRequest.messages,
        { role: 'assistant', content: first.text },
        {
          role: 'user',
          content: `Your reply did not match the required JSON schema "${schemaName}": ${firstCheck.errors}. Reply again with only the corrected JSON.`,
        },
      ],
      cache: { enabled: false },
    };
    const second = await this.complete(repairRequest, scope, {});
    const combined: ChatResult = {
      ...second,
      costMicroUsd: first.costMicroUsd + second.costMicroUsd,
      usage: {
        inputTokens: first.usage.inputTokens + second.usage.inputTokens,
        cachedInputTokens: first.usage.cachedInputTokens + second.usage.cachedInputTokens,
        outputTokens: first.usage.outputTokens + second.usage.outputTokens,
      },
    };
    const secondCheck = validate(second.text);
    if (secondCheck.ok) return { value: secondCheck.value, result: combined, repaired: true };
    throw new DeskhandError(
      'upstream_invalid_response',
      `The model's reply did not match "${schemaName}" after one repair`,
      {
        details: { schemaName, errors: secondCheck.errors, requestId: second.requestId },
      },
    );
  }

  async embed(
    texts: string[],
    scope: CallScope,
    options: { purpose?: string; deadline?: number } = {},
  ): Promise<EmbeddingResult> {
    const started = performance.now();
    const model = this.options.embeddingModel;
    const purpose = options.purpose ?? 'embed';
    let outcome: Outcome = 'ok';
    try {
      if (texts.length === 0) return { vectors: [], inputTokens: 0, costMicroUsd: 0 };
      this.options.prices.priceOf(model);
      const encoding = encodingForModel(model, this.options.fallbackEncoding);
      const counts = texts.map((text, index) => {
        if (typeof text !== 'string' || text.length === 0) {
          throw new DeskhandError('invalid_input', `Text ${index} to embed is empty`, { details: { index } });
        }
        const tokens = countTokens(text, encoding);
        if (tokens > this.limits.maxTokensPerInput) {
          throw new DeskhandError(
            'input_too_large',
            `Text ${index} has ${tokens} tokens; the embedding model accepts ${this.limits.maxTokensPerInput}`,
            { details: { index, tokens } },
          );
        }
        return tokens;
      });
      const batches: Array<{ start: number; end: number; tokens: number }> = [];
      let current = { start: 0, end: 0, tokens: 0 };
      counts.forEach((tokens, index) => {
        const full =
          current.end - current.start >= this.limits.maxInputs ||
          current.tokens + tokens > this.limits.maxTokensPerRequest;
        if (full && current.end > current.start) {
          batches.push(current);
          current = { start: index, end: index, tokens: 0 };
        }
        current.end = index + 1;
        current.tokens += tokens;
      });
      batches.push(current);
      const deadline = options.deadline ?? Date.now() + this.options.timeoutMs;
      const vectors: Float32Array[] = [];
      let inputTokens = 0;
      let costMicroUsd = 0;
      for (const batch of batches) {
        const done = await this.embedBatch(
          texts.slice(batch.start, batch.end),
          batch.tokens,
          model,
          purpose,
          scope,
          deadline,
        );
        vectors.push(...done.vectors);
        inputTokens += done.inputTokens;
        costMicroUsd += done.costMicroUsd;
      }
      return { vectors, inputTokens, costMicroUsd };
    } catch (error) {
      const mapped = toDeskhandError(error);
      outcome = mapped.code;
      throw mapped;
    } finally {
      this.metric.calls.inc({ operation: 'embed', model, purpose, outcome, pricing: this.options.prices.label(model) });
      this.metric.duration.observe({ operation: 'embed', outcome }, (performance.now() - started) / 1000);
    }
  }

  private async embedBatch(
    batch: string[],
    countedTokens: number,
    model: string,
    purpose: string,
    scope: CallScope,
    deadline: number,
  ): Promise<EmbeddingResult> {
    this.checkLiveness(deadline, undefined);
    this.acquireBreaker();
    const requestId = `${scope.requestId ?? 'embed'}:${randomUUID()}`;
    let reservation: Reservation;
    try {
      reservation = await this.options.budgets.reserve({
        requestId,
        workspaceId: scope.workspaceId,
        channelId: scope.channelId,
        amountMicroUsd: this.options.prices.cost(model, { inputTokens: countedTokens, outputTokens: 0 }),
        ttlMs: deadline - Date.now() + 30_000,
      });
    } catch (error) {
      this.breaker.recordNeutral();
      throw error;
    }
    try {
      const response = await this.upstream(deadline, undefined, (requestOptions) =>
        this.client.embeddings.create(
          {
            model,
            input: batch,
            encoding_format: 'base64',
            ...(model.startsWith('text-embedding-3') ? { dimensions: this.options.embeddingDimensions } : {}),
          },
          requestOptions,
        ),
      );
      const data = [...response.data].sort((a, b) => a.index - b.index);
      if (data.length !== batch.length) {
        throw new DeskhandError('upstream_invalid_response', `Expected ${batch.length} embeddings, got ${data.length}`);
      }
      const vectors = data.map((item) => decodeEmbedding(item.embedding));
      this.breaker.recordSuccess();
      const inputTokens = response.usage?.prompt_tokens ?? countedTokens;
      const costMicroUsd = this.options.prices.cost(model, { inputTokens, outputTokens: 0 });
      this.recordDrift(model, inputTokens, countedTokens, requestId);
      this.settleInBackground(reservation, costMicroUsd, { model, purpose, inputTokens, outputTokens: 0 });
      this.metric.tokens.inc({ model, kind: 'input' }, inputTokens);
      this.metric.cost.inc({ model, purpose }, costMicroUsd);
      return { vectors, inputTokens, costMicroUsd };
    } catch (error) {
      const mapped = mapOpenAIError(error, { deadline, model });
      if (isUpstreamFailure(mapped)) this.breaker.recordFailure();
      else this.breaker.recordNeutral();
      await this.releaseQuietly(reservation);
      throw mapped;
    }
  }

  private async complete(request: ChatRequest, scope: CallScope, internal: InternalOptions): Promise<ChatResult> {
    const started = performance.now();
    const model = request.model ?? this.options.chatModel;
    let outcome: Outcome = 'ok';
    try {
      this.validateChat(request);
      const deadline = request.deadline ?? Date.now() + this.options.timeoutMs;
      this.checkLiveness(deadline, request.signal);
      this.options.prices.priceOf(model);
      const encoding = encodingForModel(model, this.options.fallbackEncoding);

      const cacheKey = isCacheable(request) ? this.options.cache.keyFor(request, model, scope) : undefined;
      const counted = countChatRequestTokens(request, encoding);
      const reserveInput = {
        requestId: `${scope.requestId ?? 'call'}:${randomUUID()}`,
        workspaceId: scope.workspaceId,
        channelId: scope.channelId,
        amountMicroUsd: this.options.prices.cost(model, {
          inputTokens: counted,
          outputTokens: request.maxOutputTokens,
        }),
        ttlMs: deadline - Date.now() + 30_000,
      };
      // One script: serve from the cache (counting the savings) or reserve the worst case.
      let reserved = await this.options.budgets.reserveOrServeCached({
        ...reserveInput,
        ...(cacheKey ? { cacheKey } : {}),
      });
      if ('kind' in reserved) {
        const hit = this.options.cache.decode(reserved.value);
        if (hit) {
          outcome = 'cache_hit';
          this.metric.cache.inc({ channel: scope.channelId, result: 'hit' });
          this.metric.savings.inc({ channel: scope.channelId }, reserved.savedMicroUsd);
          request.onTextDelta?.(hit.text);
          return {
            text: hit.text,
            toolCalls: hit.toolCalls,
            finishReason: hit.finishReason,
            usage: hit.usage,
            costMicroUsd: 0,
            fromCache: true,
            savedMicroUsd: reserved.savedMicroUsd,
            model: hit.model,
            requestId: `${scope.requestId ?? 'call'}:cache`,
          };
        }
        this.options.logger.warn({ cacheKey }, 'corrupt response-cache entry; deleting it');
        if (cacheKey) await this.options.cache.delete(cacheKey).catch(() => {});
        reserved = await this.options.budgets.reserve(reserveInput);
      }
      if (cacheKey) this.metric.cache.inc({ channel: scope.channelId, result: 'miss' });
      const cacheTarget = cacheKey
        ? {
            key: cacheKey,
            ttlSeconds: this.options.cache.ttlFor(request.cache?.timeSensitive ?? false),
            ...(internal.acceptForCache ? { accept: internal.acceptForCache } : {}),
          }
        : undefined;
      const result = await this.callChat(request, model, encoding, deadline, reserved, counted, cacheTarget);
      return result;
    } catch (error) {
      const mapped = toDeskhandError(error);
      outcome = mapped.code;
      const level = mapped.code === 'over_budget' || mapped.code === 'cancelled' ? 'info' : 'warn';
      this.options.logger[level](
        {
          err: mapped,
          code: mapped.code,
          details: mapped.details,
          purpose: request.purpose,
          model,
          pricing: this.options.prices.label(model),
          workspaceId: scope.workspaceId,
          channelId: scope.channelId,
          requestId: scope.requestId,
        },
        'model call failed',
      );
      throw mapped;
    } finally {
      const pricing = this.options.prices.label(model);
      this.metric.calls.inc({ operation: 'chat', model, purpose: request.purpose, outcome, pricing });
      this.metric.duration.observe({ operation: 'chat', outcome }, (performance.now() - started) / 1000);
    }
  }

  private async callChat(
    request: ChatRequest,
    model: string,
    encoding: EncodingName,
    deadline: number,
    reservation: Reservation,
    counted: number,
    cacheTarget: { key: string; ttlSeconds: number; accept?: (result: ChatResult) => boolean } | undefined,
  ): Promise<ChatResult> {
    const requestId = reservation.requestId;
    try {
      this.acquireBreaker();
    } catch (error) {
      await this.releaseQuietly(reservation);
      throw error;
    }

    const body: OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming = {
      model,
      messages: toWireMessages(request.messages),
      max_completion_tokens: request.maxOutputTokens,
      temperature: request.temperature ?? 0,
      ...(request.tools && request.tools.length > 0 ? { tools: toWireTools(request.tools) } : {}),
      ...(request.toolChoice ? { tool_choice: toWireToolChoice(request.toolChoice) } : {}),
      ...(request.responseFormat ? { response_format: toWireResponseFormat(request.responseFormat) } : {}),
    };
    const stream = { started: false, text: '', toolArguments: '' };
    try {
      const reply = await this.upstream(deadline, request.signal, async (requestOptions) => {
        if (!request.onTextDelta) {
          const completion = await this.client.chat.completions.create(body, requestOptions);
          const choice = completion.choices[0];
          if (!choice) throw new DeskhandError('upstream_invalid_response', 'The reply has no choices');
          return {
            text: choice.message.content ?? '',
            toolCalls: (choice.message.tool_calls ?? []).flatMap((call): ToolCall[] =>
              call.type === 'function'
                ? [{ id: call.id, name: call.function.name, argumentsJson: call.function.arguments }]
                : [],
            ),
            finishReason: finishReasonOf(choice.finish_reason),
            usage: completion.usage,
            model: completion.model,
          };
        }
        const chunks = await this.client.chat.completions.create(
          { ...body, stream: true, stream_options: { include_usage: true } },
          requestOptions,
        );
        stream.started = true;
        const calls = new Map<number, { id: string; name: string; argumentsJson: string }>();
        let finish: string | null | undefined;
        let usage: OpenAI.CompletionUsage | undefined;
        let responseModel = model;
        for await (const chunk of chunks) {
          responseModel = chunk.model || responseModel;
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices[0];
          if (!choice) continue;
          if (choice.delta.content) {
            stream.text += choice.delta.content;
            request.onTextDelta?.(choice.delta.content);
          }
          for (const delta of choice.delta.tool_calls ?? []) {
            const call = calls.get(delta.index) ?? { id: '', name: '', argumentsJson: '' };
            if (delta.id) call.id = delta.id;
            if (delta.function?.name) call.name += delta.function.name;
            if (delta.function?.arguments) {
              call.argumentsJson += delta.function.arguments;
              stream.toolArguments += delta.function.arguments;
            }
            calls.set(delta.index, call);
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
        if (!finish) {
          throw new DeskhandError('upstream_unavailable', 'The stream ended before the reply was finished', {
            retryable: true,
            details: { interrupted: true },
          });
        }
        return {
          text: stream.text,
          toolCalls: [...calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call),
          finishReason: finishReasonOf(finish),
          usage,
          model: responseModel,
        };
      });
      this.breaker.recordSuccess();
      const usage = {
        inputTokens: reply.usage?.prompt_tokens ?? counted,
        cachedInputTokens: reply.usage?.prompt_tokens_details?.cached_tokens ?? 0,
        outputTokens:
          reply.usage?.completion_tokens ??
          countTokens(reply.text, encoding) +
            countTokens(reply.toolCalls.map((call) => call.name + call.argumentsJson).join(''), encoding),
      };
      if (reply.usage) this.recordDrift(model, usage.inputTokens, counted, requestId);
      else this.options.logger.warn({ requestId, model }, 'the provider reported no usage; charging our own count');
      const costMicroUsd = this.options.prices.cost(model, usage);
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
      this.settleInBackground(
        reservation,
        costMicroUsd,
        { model, purpose: request.purpose, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens },
        cacheTarget && entry
          ? { key: cacheTarget.key, value: this.options.cache.encode(entry), ttlSeconds: cacheTarget.ttlSeconds }
          : undefined,
      );
      this.metric.tokens.inc({ model, kind: 'input' }, usage.inputTokens - usage.cachedInputTokens);
      this.metric.tokens.inc({ model, kind: 'cached_input' }, usage.cachedInputTokens);
      this.metric.tokens.inc({ model, kind: 'output' }, usage.outputTokens);
      this.metric.cost.inc({ model, purpose: request.purpose }, costMicroUsd);
      return result;
    } catch (error) {
      const mapped = mapOpenAIError(error, { deadline, callerSignal: request.signal, model });
      if (isUpstreamFailure(mapped)) this.breaker.recordFailure();
      else this.breaker.recordNeutral();
      if (stream.started) {
        // The provider has processed the prompt and produced part of a reply: charge at least the input.
        const outputTokens = countTokens(stream.text, encoding) + countTokens(stream.toolArguments, encoding);
        const partial = this.options.prices.cost(model, { inputTokens: counted, outputTokens });
        await this.settle(reservation, partial, {
          model,
          purpose: request.purpose,
          inputTokens: counted,
          outputTokens,
        }).catch((settleError: unknown) => {
          this.options.logger.error({ err: settleError, requestId }, 'could not charge an interrupted stream');
        });
        mapped.details.interrupted = true;
        mapped.details.chargedMicroUsd = partial;
      } else {
        await this.releaseQuietly(reservation);
      }
      throw mapped;
    }
  }

  /** Runs one SDK call with a timeout and retry count that fit the deadline, and the deadline in context. */
  private upstream<T>(
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

  /**
   * Settles a successful call without making the caller wait for Redis's reply. The settle script is written to the
   * budget store's connection before this returns (`BudgetStore.settle` sends it synchronously), and Redis runs the
   * commands of one connection in order, so any later reservation or cache lookup from this process sees the
   * settled spend and the stored entry: no phantom refusal, no missed cache hit. Until the reply arrives the
   * reservation still holds the worst case, so other processes can only see more spend, never less. A crash before
   * the reply is the same window as before (the reservation expires; the ledger misses that one entry).
   */
  private settleInBackground(
    reservation: Reservation,
    costMicroUsd: number,
    details: { model: string; purpose: string; inputTokens: number; outputTokens: number },
    cacheStore?: CacheStore,
  ): void {
    const settling = this.settle(reservation, costMicroUsd, details, cacheStore)
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, requestId: reservation.requestId }, 'settlement failed');
      })
      .finally(() => this.pendingSettlements.delete(settling));
    this.pendingSettlements.add(settling);
  }

  private async settle(
    reservation: Reservation,
    costMicroUsd: number,
    details: { model: string; purpose: string; inputTokens: number; outputTokens: number },
    cacheStore?: CacheStore,
  ): Promise<void> {
    let settled: Awaited<ReturnType<BudgetStore['settle']>>;
    const unpriced = this.options.prices.unpricedReason(details.model);
    try {
      settled = await this.options.budgets.settle(reservation, costMicroUsd, cacheStore, { ...details, unpriced });
    } catch (error) {
      // The call already happened: keep the ledger right so a rebuild restores the spend; the reservation expires.
      this.options.logger.error(
        { err: error, requestId: reservation.requestId, costMicroUsd },
        'could not settle a model call in the budget store',
      );
      settled = { charged: true, warnings: [] };
    }
    if (settled.charged && this.options.ledger) {
      // The ledger is the backup of Redis's counters, not the enforcement: its fsync (group-committed) runs off the
      // reply path. `flush()` (and `Ledger.close()`) wait for it; a crash loses at most the last group commit.
      const appended = this.options.ledger
        .append({
          at: new Date().toISOString(),
          requestId: reservation.requestId,
          workspaceId: reservation.workspaceId,
          channelId: reservation.channelId,
          day: reservation.windows.day,
          month: reservation.windows.month,
          costMicroUsd,
          ...details,
          ...(unpriced ? { unpriced } : {}),
        })
        .catch((error: unknown) => {
          this.options.logger.error({ err: error, requestId: reservation.requestId }, 'could not append to the ledger');
        })
        .finally(() => this.pendingLedger.delete(appended));
      this.pendingLedger.add(appended);
    }
    for (const warning of settled.warnings) {
      try {
        await this.options.onBudgetWarning?.(warning);
      } catch (error) {
        this.options.logger.warn({ err: error, warning }, 'budget warning callback failed');
      }
    }
  }

  private async releaseQuietly(reservation: Reservation): Promise<void> {
    await this.options.budgets.release(reservation).catch((error: unknown) => {
      this.options.logger.warn(
        { err: error, requestId: reservation.requestId },
        'could not release a reservation; it expires on its own',
      );
    });
  }

  private recordDrift(model: string, reported: number, counted: number, requestId: string): void {
    const drift = reported - counted;
    this.metric.drift.observe({ model }, drift);
    this.metric.lastDrift.set({ model }, drift);
    if (drift !== 0) {
      const level = Math.abs(drift) > Math.max(5, counted * 0.05) ? 'warn' : 'debug';
      this.options.logger[level]({ model, reported, counted, drift, requestId }, 'prompt token count drift');
    }
  }

  private acquireBreaker(): void {
    if (this.breaker.tryAcquire()) return;
    const seconds = Math.max(1, Math.ceil((this.breaker.retryAt - Date.now()) / 1000));
    throw new DeskhandError('upstream_unavailable', 'The provider circuit breaker is open; failing fast', {
      retryable: true,
      details: { circuit: this.breaker.current, retryInSeconds: seconds },
      userMessage: `The language model has been failing, so I am pausing calls to it. Please try again in about ${seconds} s.`,
    });
  }

  private checkLiveness(deadline: number, signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw new DeskhandError('cancelled', 'The call was cancelled before it started');
    if (Date.now() >= deadline)
      throw new DeskhandError('deadline_exceeded', 'The deadline passed before the call started');
  }

  private validateChat(request: ChatRequest): void {
    const problems: string[] = [];
    if (!request.purpose) problems.push('purpose is required');
    if (!Array.isArray(request.messages) || request.messages.length === 0) problems.push('messages must not be empty');
    if (!Number.isSafeInteger(request.maxOutputTokens) || request.maxOutputTokens < 1) {
      problems.push('maxOutputTokens must be a positive integer');
    }
    const temperature = request.temperature ?? 0;
    if (!(temperature >= 0 && temperature <= 2)) problems.push('temperature must be between 0 and 2');
    if (problems.length > 0) {
      throw new DeskhandError('invalid_input', `Invalid chat request: ${problems.join('; ')}`, {
        details: { problems },
      });
    }
  }
}

/** The `Embedder` port on top of the gateway: budgets, batching and token counting apply to every call. */
export class GatewayEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  private readonly gateway: LanguageModelGateway;
  private readonly purpose: string;

  constructor(gateway: LanguageModelGateway, model: string, dimensions: number, purpose = 'embed') {
    this.gateway = gateway;
    this.model = model;
    this.dimensions = dimensions;
    this.purpose = purpose;
  }

  async embed(texts: string[], scope: CallScope): Promise<Float32Array[]> {
    const result = await this.gateway.embed(texts, scope, { purpose: this.purpose });
    return result.vectors;
  }
}
