/**
 * `embed` (the gateway's embedding calls) and `GatewayEmbedder` (the `Embedder` port on top of the gateway).
 *
 * - Every text is counted first; an empty text is `invalid_input` and a text over the model's per-input limit is
 *   `input_too_large`, before anything is reserved. The model's price is resolved first too (`configuration` when
 *   the price table refuses it).
 * - Texts are sent in batches within OpenAI's limits (inputs and tokens per request), in order, one after another,
 *   all under the one deadline; vectors come back in the order of the texts.
 * - Each batch reserves its input cost, is settled in the background to the reported usage (our count only when
 *   none is reported) or released on failure, and goes through the circuit breaker like a chat call.
 * - Vectors are requested as base64 and decoded into aligned `Float32Array`s; `dimensions` is sent only to
 *   `text-embedding-3-*` models (others have a fixed size).
 */
import { randomUUID } from 'node:crypto';
import { DeskhandError, toDeskhandError } from '../errors.ts';
import type { Embedder, Embeddings } from '../ports/embedder.ts';
import type { CallScope, EmbeddingResult, LanguageModelGateway } from '../ports/language-model.ts';
import type { Reservation } from './budget-store.ts';
import { isUpstreamFailure, mapOpenAIError } from './errors.ts';
import type { EmbeddingLimits, GatewayContext } from './gateway-context.ts';
import { type Outcome, recordCall, recordDrift } from './gateway-metrics.ts';
import { acquireBreaker, checkLiveness, upstream } from './gateway-policy.ts';
import type { PriceTable } from './prices.ts';
import { countTokens, encodingForModel } from './tokenizer.ts';

interface Batch {
  start: number;
  end: number;
  tokens: number;
}

export function decodeEmbedding(embedding: unknown): Float32Array {
  if (typeof embedding === 'string') {
    const bytes = Buffer.from(embedding, 'base64');
    // Copy into a fresh, aligned buffer: Buffer pools are not guaranteed to be 4-byte aligned.
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  if (Array.isArray(embedding)) return Float32Array.from(embedding as number[]);
  throw new DeskhandError('upstream_invalid_response', 'An embedding in the reply is neither base64 nor an array');
}

/** Embeds `texts` through the gateway: validation, batching, budgets, breaker, settlement and metrics. */
export async function embed(
  context: GatewayContext,
  texts: string[],
  scope: CallScope,
  options: { purpose?: string; deadline?: number } = {},
): Promise<EmbeddingResult> {
  const started = performance.now();
  const model = context.options.embeddingModel;
  const purpose = options.purpose ?? 'embed';
  let outcome: Outcome = 'ok';
  let prices = context.options.prices;
  try {
    if (texts.length === 0) return { vectors: [], inputTokens: 0, costMicroUsd: 0 };
    // This workspace's prices over the process's table, as for chat calls.
    prices = await context.priceTables.forWorkspace(scope.workspaceId);
    prices.priceOf(model);
    const batches = planBatches(countInputs(texts, model, context), context.limits);
    const deadline = options.deadline ?? Date.now() + context.options.timeoutMs;
    const vectors: Float32Array[] = [];
    let inputTokens = 0;
    let costMicroUsd = 0;
    for (const batch of batches) {
      const done = await embedBatch(
        context,
        texts.slice(batch.start, batch.end),
        batch.tokens,
        model,
        purpose,
        scope,
        deadline,
        prices,
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
    recordCall(context.metric, prices, { operation: 'embed', model, purpose, outcome, started });
  }
}

/** Each text's tokens; throws on an empty text or one over the per-input limit. */
function countInputs(texts: string[], model: string, context: GatewayContext): number[] {
  const encoding = encodingForModel(model, context.options.fallbackEncoding);
  return texts.map((text, index) => {
    if (typeof text !== 'string' || text.length === 0) {
      throw new DeskhandError('invalid_input', `Text ${index} to embed is empty`, { details: { index } });
    }
    const tokens = countTokens(text, encoding);
    if (tokens > context.limits.maxTokensPerInput) {
      throw new DeskhandError(
        'input_too_large',
        `Text ${index} has ${tokens} tokens; the embedding model accepts ${context.limits.maxTokensPerInput}`,
        { details: { index, tokens } },
      );
    }
    return tokens;
  });
}

/** Consecutive runs of texts within the per-request input and token limits. */
function planBatches(counts: number[], limits: EmbeddingLimits): Batch[] {
  const batches: Batch[] = [];
  let current = { start: 0, end: 0, tokens: 0 };
  counts.forEach((tokens, index) => {
    const full =
      current.end - current.start >= limits.maxInputs || current.tokens + tokens > limits.maxTokensPerRequest;
    if (full && current.end > current.start) {
      batches.push(current);
      current = { start: index, end: index, tokens: 0 };
    }
    current.end = index + 1;
    current.tokens += tokens;
  });
  batches.push(current);
  return batches;
}

async function embedBatch(
  context: GatewayContext,
  batch: string[],
  countedTokens: number,
  model: string,
  purpose: string,
  scope: CallScope,
  deadline: number,
  prices: PriceTable,
): Promise<EmbeddingResult> {
  const { options, breaker, metric } = context;
  checkLiveness(deadline, undefined);
  acquireBreaker(breaker);
  const requestId = `${scope.requestId ?? 'embed'}:${randomUUID()}`;
  let reservation: Reservation;
  try {
    reservation = await options.budgets.reserve({
      requestId,
      workspaceId: scope.workspaceId,
      channelId: scope.channelId,
      ...(scope.userId ? { userId: scope.userId } : {}),
      amountMicroUsd: prices.cost(model, { inputTokens: countedTokens, outputTokens: 0 }),
      ttlMs: deadline - Date.now() + 30_000,
    });
  } catch (error) {
    breaker.recordNeutral();
    throw error;
  }
  try {
    const response = await upstream(deadline, undefined, (requestOptions) =>
      context.client.embeddings.create(
        {
          model,
          input: batch,
          encoding_format: 'base64',
          ...(model.startsWith('text-embedding-3') ? { dimensions: options.embeddingDimensions } : {}),
        },
        requestOptions,
      ),
    );
    const data = [...response.data].sort((a, b) => a.index - b.index);
    if (data.length !== batch.length) {
      throw new DeskhandError('upstream_invalid_response', `Expected ${batch.length} embeddings, got ${data.length}`);
    }
    const vectors = data.map((item) => decodeEmbedding(item.embedding));
    breaker.recordSuccess();
    const inputTokens = response.usage?.prompt_tokens ?? countedTokens;
    const costMicroUsd = prices.cost(model, { inputTokens, outputTokens: 0 });
    recordDrift(metric, options.logger, { model, reported: inputTokens, counted: countedTokens, requestId });
    const details = { model, purpose, inputTokens, outputTokens: 0 };
    context.settlement.settleInBackground(reservation, costMicroUsd, details, undefined, prices);
    metric.tokens.inc({ model, kind: 'input' }, inputTokens);
    metric.cost.inc({ model, purpose }, costMicroUsd);
    return { vectors, inputTokens, costMicroUsd };
  } catch (error) {
    const mapped = mapOpenAIError(error, { deadline, model });
    if (isUpstreamFailure(mapped)) breaker.recordFailure();
    else breaker.recordNeutral();
    await context.settlement.releaseQuietly(reservation);
    throw mapped;
  }
}

/**
 * The `Embedder` port on top of the gateway: budgets, batching and token counting apply to every call, and the
 * usage the gateway settled (reported tokens, else its own count) comes back with the vectors.
 */
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

  async embed(texts: string[], scope: CallScope): Promise<Embeddings> {
    const { vectors, inputTokens, costMicroUsd } = await this.gateway.embed(texts, scope, { purpose: this.purpose });
    return { vectors, inputTokens, costMicroUsd };
  }
}
