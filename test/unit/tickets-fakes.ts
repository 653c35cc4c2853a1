/**
 * Test doubles for the ticket tests: a scripted gateway (serves replies or errors in order, records calls,
 * throws when unscripted) and a recording Messenger.
 */
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
import type { Messenger, OutgoingMessage, PostedMessage, ThreadMessage } from '../../src/ports/messenger.ts';

export type ScriptedStructured = { value: unknown; repaired?: boolean; fromCache?: boolean } | { error: DeskhandError };

export class FakeLanguageModelGateway implements LanguageModelGateway {
  readonly calls: { request: StructuredRequest<unknown>; scope: CallScope }[] = [];
  readonly #script: ScriptedStructured[] = [];

  enqueue(...entries: ScriptedStructured[]): this {
    this.#script.push(...entries);
    return this;
  }

  async chat(_request: ChatRequest, _scope: CallScope): Promise<ChatResult> {
    throw new Error('FakeLanguageModelGateway.chat is not scripted');
  }

  async structured<T>(request: StructuredRequest<T>, scope: CallScope): Promise<StructuredResult<T>> {
    this.calls.push({ request: request as StructuredRequest<unknown>, scope });
    const next = this.#script.shift();
    if (!next) throw new Error('FakeLanguageModelGateway: unscripted structured call');
    if ('error' in next) throw next.error;
    // Validate like the real gateway does, so a scripted reply that breaks the schema fails the test.
    const parsed = request.schema.safeParse(next.value);
    if (!parsed.success) throw new DeskhandError('upstream_invalid_response', 'scripted value fails the schema');
    return {
      value: parsed.data,
      repaired: next.repaired ?? false,
      result: {
        text: JSON.stringify(next.value),
        toolCalls: [],
        finishReason: 'stop',
        usage: { inputTokens: 100, cachedInputTokens: 0, outputTokens: 50 },
        costMicroUsd: next.fromCache ? 0 : 42,
        fromCache: next.fromCache ?? false,
        savedMicroUsd: 0,
        model: 'gpt-4o-mini',
        requestId: 'fake',
      },
    };
  }

  async embed(): Promise<EmbeddingResult> {
    throw new Error('not used');
  }

  countChatTokens(): number {
    return 0;
  }
}

export class RecordingMessenger implements Messenger {
  readonly posts: OutgoingMessage[] = [];
  readonly updates: (OutgoingMessage & { ts: string })[] = [];
  readonly ephemerals: (OutgoingMessage & { user: string })[] = [];
  readonly views: { triggerId: string; view: Record<string, unknown> }[] = [];
  failPosts = 0;
  #counter = 0;

  async post(message: OutgoingMessage): Promise<PostedMessage> {
    if (this.failPosts > 0) {
      this.failPosts -= 1;
      throw new DeskhandError('upstream_unavailable', 'Slack is down (scripted)');
    }
    this.posts.push(message);
    this.#counter += 1;
    const ts = `1764000000.${String(this.#counter).padStart(6, '0')}`;
    return { channel: message.channel, ts, allTs: [ts] };
  }
  async update(message: OutgoingMessage & { ts: string }): Promise<void> {
    this.updates.push(message);
  }
  async postEphemeral(message: OutgoingMessage & { user: string }): Promise<void> {
    this.ephemerals.push(message);
  }
  async openView(triggerId: string, view: Record<string, unknown>): Promise<{ viewId: string }> {
    this.views.push({ triggerId, view });
    return { viewId: `V${this.views.length}` };
  }
  async updateView(): Promise<void> {}
  async threadMessages(): Promise<ThreadMessage[]> {
    return [];
  }
  async message(): Promise<ThreadMessage | undefined> {
    return undefined;
  }
  async permalink(channel: string, ts: string): Promise<string | undefined> {
    return `https://example.slack.com/archives/${channel}/p${ts.replace('.', '')}`;
  }
  async drain(): Promise<void> {}
}

/** Slack ts for an ISO instant. */
export function tsOf(iso: string): string {
  return (Date.parse(iso) / 1000).toFixed(6);
}
