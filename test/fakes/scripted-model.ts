/**
 * ScriptedModel — the one in-process `LanguageModelGateway` double for tests (vercel/ai's MockLanguageModel
 * pattern). It serves scripted steps in order, records every call, and throws a clear error when a call was not
 * scripted, so a test states exactly which model calls it expects. (`FakeOpenAIServer` is the HTTP-level fake for
 * tests of the real gateway.)
 *
 * Guarantees:
 * - `chat` and `structured` share one queue: each call takes the next step. A step is a text reply, a structured
 *   value, tool calls or an error; a step that cannot answer the call (tool calls for `structured`) throws.
 * - `structured` validates the value (or the text, parsed as JSON) against the request's schema like the real
 *   gateway, so a scripted reply that breaks the schema fails with `upstream_invalid_response`.
 * - Every call is recorded in `calls` before it is served, failed ones included; `embed` calls in `embedCalls`.
 * - With `responseCache`, deterministic chat calls (temperature 0, no tools, cache not disabled) are served again
 *   from an exact in-memory cache keyed like the gateway's (workspace, channel, cache scope, purpose, prompt
 *   version, model, messages), without taking a step: cache behaviour is observable (`modelCalls()`).
 * - A chat call with `onTextDelta` streams its text in 7-character deltas (`deltaGapMs` apart when set).
 * - `embed` answers only with an `embed` option; `countChatTokens` counts a quarter of the messages' JSON unless
 *   the option replaces it.
 *
 * ```ts
 * const model = new ScriptedModel().enqueue({ text: 'Five days [1].' }, { error: budgetError() });
 * const tickets = new ScriptedModel().enqueue({ value: ticket }, { value: other, repaired: true, fromCache: true });
 * model.calls[0]?.request.messages            // what was asked, in order
 * model.pending()                             // steps not used yet
 * ```
 */
import { createHash } from 'node:crypto';
import { DeskhandError } from '../../src/errors.ts';
import type {
  CallScope,
  ChatRequest,
  ChatResult,
  EmbeddingResult,
  LanguageModelGateway,
  StructuredRequest,
  StructuredResult,
  TokenUsage,
  ToolCall,
} from '../../src/ports/language-model.ts';

/** What a scripted reply may set beyond its content; unset values are derived from the request and the text. */
interface StepResult {
  usage?: Partial<TokenUsage>;
  costMicroUsd?: number;
  /** Served "from the provider's cache": cost 0, what it would have cost counted as saved. */
  fromCache?: boolean;
  model?: string;
}

export type ScriptedStep =
  | ({ text: string; finishReason?: ChatResult['finishReason'] } & StepResult)
  | ({ value: unknown; repaired?: boolean } & StepResult)
  | ({ toolCalls: ToolCall[]; text?: string } & StepResult)
  | { error: Error };

export interface RecordedCall {
  kind: 'chat' | 'structured';
  /** The request as given (`schema` and `schemaName` set for a structured call). */
  request: ChatRequest & Partial<Pick<StructuredRequest<unknown>, 'schema' | 'schemaName'>>;
  scope: CallScope;
  /** True when served from the `responseCache`, without a step. */
  fromCache: boolean;
}

export interface ScriptedModelOptions {
  /** Serve repeated deterministic chat calls from an exact in-memory cache (see the header). */
  responseCache?: boolean;
  /** Milliseconds between streamed deltas (default: all at once). */
  deltaGapMs?: number;
  /** Vectors for `embed`; without it `embed` throws. */
  embed?: (texts: string[]) => Float32Array[];
  countChatTokens?: (request: ChatRequest) => number;
}

const deltaLength = 7;
const defaultModel = 'scripted-model';

export class ScriptedModel implements LanguageModelGateway {
  readonly calls: RecordedCall[] = [];
  readonly embedCalls: { texts: string[]; scope: CallScope }[] = [];
  readonly #steps: ScriptedStep[] = [];
  readonly #cache = new Map<string, ChatResult>();
  readonly #options: ScriptedModelOptions;

  constructor(options: ScriptedModelOptions = {}) {
    this.#options = options;
  }

  /** Adds steps to the end of the script. */
  enqueue(...steps: ScriptedStep[]): this {
    this.#steps.push(...steps);
    return this;
  }

  /** Steps not used yet. */
  pending(): number {
    return this.#steps.length;
  }

  /** Calls that reached the "provider" (not served from the response cache). */
  modelCalls(): RecordedCall[] {
    return this.calls.filter((call) => !call.fromCache);
  }

  async chat(request: ChatRequest, scope: CallScope): Promise<ChatResult> {
    const key = this.#cacheKey(request, scope);
    const cached = key === undefined ? undefined : this.#cache.get(key);
    this.calls.push({ kind: 'chat', request, scope, fromCache: cached !== undefined });
    if (cached) return { ...cached, fromCache: true, costMicroUsd: 0, savedMicroUsd: cached.costMicroUsd };
    const step = this.#next('chat', request);
    if ('error' in step) throw step.error;
    const text = 'value' in step ? JSON.stringify(step.value) : (step.text ?? '');
    if (request.onTextDelta) await this.#stream(text, request.onTextDelta);
    const toolCalls = 'toolCalls' in step ? step.toolCalls : [];
    const finishReason = 'finishReason' in step && step.finishReason ? step.finishReason : undefined;
    const result = this.#result(request, step, text, {
      toolCalls,
      finishReason: finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
    });
    if (key !== undefined) this.#cache.set(key, result);
    return result;
  }

  async structured<T>(request: StructuredRequest<T>, scope: CallScope): Promise<StructuredResult<T>> {
    const recorded = request as unknown as RecordedCall['request'];
    this.calls.push({ kind: 'structured', request: recorded, scope, fromCache: false });
    const step = this.#next('structured', recorded);
    if ('error' in step) throw step.error;
    if ('toolCalls' in step)
      throw new Error(`ScriptedModel: a tool-call step cannot answer structured "${request.purpose}"`);
    const raw = 'value' in step ? step.value : parseJson(step.text);
    const parsed = request.schema.safeParse(raw);
    if (!parsed.success) {
      throw new DeskhandError('upstream_invalid_response', `scripted reply fails the ${request.schemaName} schema`);
    }
    const text = 'value' in step ? JSON.stringify(step.value) : step.text;
    return {
      value: parsed.data,
      repaired: 'repaired' in step ? (step.repaired ?? false) : false,
      result: this.#result(recorded, step, text, { toolCalls: [], finishReason: 'stop' }),
    };
  }

  async embed(texts: string[], scope: CallScope): Promise<EmbeddingResult> {
    this.embedCalls.push({ texts, scope });
    if (!this.#options.embed) throw new Error(`ScriptedModel: unscripted embed call (${texts.length} texts)`);
    return {
      vectors: this.#options.embed(texts),
      inputTokens: texts.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0),
      costMicroUsd: 0,
    };
  }

  countChatTokens(request: ChatRequest): number {
    return this.#options.countChatTokens?.(request) ?? Math.round(JSON.stringify(request.messages).length / 4);
  }

  #next(kind: RecordedCall['kind'], request: ChatRequest): ScriptedStep {
    const step = this.#steps.shift();
    if (!step) {
      throw new Error(
        `ScriptedModel: unscripted ${kind} call (purpose ${request.purpose}, call ${this.calls.length}); enqueue a step for it`,
      );
    }
    return step;
  }

  #result(
    request: ChatRequest,
    step: Exclude<ScriptedStep, { error: Error }>,
    text: string,
    reply: Pick<ChatResult, 'toolCalls' | 'finishReason'>,
  ): ChatResult {
    const cost = step.costMicroUsd ?? 100 + text.length;
    return {
      text,
      ...reply,
      usage: {
        inputTokens: this.countChatTokens(request),
        cachedInputTokens: 0,
        outputTokens: text.length,
        ...step.usage,
      },
      costMicroUsd: step.fromCache ? 0 : cost,
      fromCache: step.fromCache ?? false,
      savedMicroUsd: step.fromCache ? cost : 0,
      model: step.model ?? request.model ?? defaultModel,
      requestId: `scripted-${this.calls.length}`,
    };
  }

  #cacheKey(request: ChatRequest, scope: CallScope): string | undefined {
    if (!this.#options.responseCache) return undefined;
    const cacheable = (request.temperature ?? 0) === 0 && !request.tools && (request.cache?.enabled ?? true);
    if (!cacheable) return undefined;
    const { workspaceId, channelId, cacheScope } = scope;
    const parts = [workspaceId, channelId, cacheScope ?? '', request.purpose, request.promptVersion];
    return createHash('sha256')
      .update(JSON.stringify([...parts, request.model ?? defaultModel, request.messages]))
      .digest('hex');
  }

  async #stream(text: string, onTextDelta: (delta: string) => void): Promise<void> {
    for (let index = 0; index < text.length; index += deltaLength) {
      if (this.#options.deltaGapMs !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, this.#options.deltaGapMs));
      }
      onTextDelta(text.slice(index, index + deltaLength));
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new DeskhandError('upstream_invalid_response', 'scripted reply is not JSON');
  }
}
