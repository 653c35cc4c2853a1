/**
 * Test doubles for the answers tests: a scripted `LanguageModelGateway` that serves replies in order, records
 * every call and throws when a call was not scripted (vercel/ai's MockLanguageModel pattern), with an exact
 * in-memory response cache keyed the way the real gateway keys (tenant, channel, cacheScope, purpose, prompt
 * version, model, messages) so cache behaviour is observable; and passage builders.
 */
import { createHash } from 'node:crypto';
import type { AnswerSource } from '../../src/capabilities/answers/answer-source.ts';
import { DeskhandError } from '../../src/errors.ts';
import type {
  CallScope,
  ChatRequest,
  ChatResult,
  EmbeddingResult,
  LanguageModelGateway,
  StructuredRequest,
  StructuredResult,
} from '../../src/ports/language-model.ts';

export type ScriptedReply = { text: string; finishReason?: ChatResult['finishReason'] } | { error: DeskhandError };

export interface RecordedChat {
  request: ChatRequest;
  scope: CallScope;
  fromCache: boolean;
}

export class FakeGateway implements LanguageModelGateway {
  readonly calls: RecordedChat[] = [];
  readonly #script: ScriptedReply[] = [];
  readonly #cache = new Map<string, ChatResult>();

  enqueue(...replies: ScriptedReply[]): this {
    this.#script.push(...replies);
    return this;
  }

  pending(): number {
    return this.#script.length;
  }

  /** Calls that reached the "provider" (not served from the cache). */
  modelCalls(): RecordedChat[] {
    return this.calls.filter((call) => !call.fromCache);
  }

  async chat(request: ChatRequest, scope: CallScope): Promise<ChatResult> {
    const cacheable = (request.temperature ?? 0) === 0 && !request.tools && (request.cache?.enabled ?? true);
    const key = createHash('sha256')
      .update(
        JSON.stringify([
          scope.workspaceId,
          scope.channelId,
          scope.cacheScope ?? '',
          request.purpose,
          request.promptVersion,
          request.model ?? 'fake-model',
          request.messages,
        ]),
      )
      .digest('hex');
    const cached = cacheable ? this.#cache.get(key) : undefined;
    if (cached) {
      this.calls.push({ request, scope, fromCache: true });
      return { ...cached, fromCache: true, costMicroUsd: 0, savedMicroUsd: cached.costMicroUsd };
    }
    this.calls.push({ request, scope, fromCache: false });
    const reply = this.#script.shift();
    if (!reply) throw new Error(`FakeGateway: unscripted chat call (purpose ${request.purpose})`);
    if ('error' in reply) throw reply.error;
    if (request.onTextDelta) {
      for (let index = 0; index < reply.text.length; index += 7)
        request.onTextDelta(reply.text.slice(index, index + 7));
    }
    const inputTokens = JSON.stringify(request.messages).length / 4;
    const result: ChatResult = {
      text: reply.text,
      toolCalls: [],
      finishReason: reply.finishReason ?? 'stop',
      usage: { inputTokens: Math.round(inputTokens), cachedInputTokens: 0, outputTokens: reply.text.length },
      costMicroUsd: 100 + reply.text.length,
      fromCache: false,
      savedMicroUsd: 0,
      model: request.model ?? 'fake-model',
      requestId: `request-${this.calls.length}`,
    };
    if (cacheable) this.#cache.set(key, result);
    return result;
  }

  async structured<T>(_request: StructuredRequest<T>, _scope: CallScope): Promise<StructuredResult<T>> {
    throw new Error('FakeGateway: structured() is not used by the answers capability');
  }

  async embed(_texts: string[], _scope: CallScope): Promise<EmbeddingResult> {
    throw new Error('FakeGateway: embed() is not used by the answers capability');
  }

  countChatTokens(request: ChatRequest): number {
    return Math.round(JSON.stringify(request.messages).length / 4);
  }
}

export function passage(overrides: Partial<AnswerSource> & Pick<AnswerSource, 'documentId' | 'text'>): AnswerSource {
  return {
    title: `Title of ${overrides.documentId}`,
    sectionPath: [],
    source: `https://docs.example.com/${overrides.documentId}`,
    chunkIndexes: [0],
    tokenCount: Math.ceil(overrides.text.length / 4),
    score: 1,
    ...overrides,
  };
}

export const budgetError = () =>
  new DeskhandError('over_budget', 'channel daily cap reached', {
    userMessage: 'This channel has used its $5.00 daily model budget; it resets at midnight UTC.',
  });
