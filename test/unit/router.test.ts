import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeskhandError } from '../../src/errors.ts';
import { createNoModelGateway } from '../../src/llm/no-model-gateway.ts';
import { countTokens } from '../../src/llm/tokenizer.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry, type Registry } from '../../src/observability/metrics.ts';
import type { CapabilityHandlers, CapabilityRequest, IncomingRequest, Route } from '../../src/ports/capability.ts';
import type { LanguageModelGateway } from '../../src/ports/language-model.ts';
import type { Messenger, OutgoingMessage, ThreadMessage } from '../../src/ports/messenger.ts';
import { routeClassificationRequest } from '../../src/router/classify-route.ts';
import { completeHandlers, createHelpHandler } from '../../src/router/default-handlers.ts';
import { routeForCommand, routeMentionByRules, stripMentions } from '../../src/router/route-rules.ts';
import { Router } from '../../src/router/router.ts';
import { toContextMessages, trimThreadContext } from '../../src/router/thread-context.ts';
import type { ThreadKey, ThreadMemory } from '../../src/router/thread-memory.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';

class RecordingMessenger implements Messenger {
  readonly posts: OutgoingMessage[] = [];
  readonly ephemerals: (OutgoingMessage & { user: string })[] = [];
  threadFetches = 0;
  readonly thread: ThreadMessage[];
  constructor(thread: ThreadMessage[] = []) {
    this.thread = thread;
  }
  async post(message: OutgoingMessage) {
    this.posts.push(message);
    return { channel: message.channel, ts: '1700000100.000100', allTs: ['1700000100.000100'] };
  }
  async update() {}
  async postEphemeral(message: OutgoingMessage & { user: string }) {
    this.ephemerals.push(message);
  }
  async openView() {
    return { viewId: 'V1' };
  }
  async updateView() {}
  async threadMessages() {
    this.threadFetches += 1;
    return this.thread;
  }
  async message() {
    return undefined;
  }
  async permalink() {
    return undefined;
  }
  async drain() {}
}

class MemoryThreads implements ThreadMemory {
  readonly entries = new Map<string, Route>();
  async remember(thread: ThreadKey, route: Route) {
    this.entries.set(`${thread.workspaceId}:${thread.channelId}:${thread.threadTs}`, route);
  }
  async recall(thread: ThreadKey) {
    return this.entries.get(`${thread.workspaceId}:${thread.channelId}:${thread.threadTs}`);
  }
}

function setup(options: {
  replies?: (string | Error)[];
  thread?: ThreadMessage[];
  handlers?: Partial<CapabilityHandlers>;
  /** Replaces the scripted model (e.g. the no-model gateway). */
  gateway?: LanguageModelGateway;
  registry?: Registry;
}) {
  const gateway = new ScriptedModel().enqueue(
    ...(options.replies ?? []).map((reply) => (reply instanceof Error ? { error: reply } : { text: reply })),
  );
  const messenger = new RecordingMessenger(options.thread);
  const threads = new MemoryThreads();
  const seen: CapabilityRequest[] = [];
  const answering = async (request: CapabilityRequest) => {
    seen.push(request);
    return { kind: 'reply' as const, text: `handled as ${request.route}` };
  };
  const router = new Router({
    gateway: options.gateway ?? gateway,
    messenger,
    threads,
    handlers: completeHandlers({ question: answering, ticket: answering, task: answering, ...options.handlers }),
    logger: createSilentLogger(),
    registry: options.registry ?? createMetricsRegistry(),
    classifierModel: 'gpt-4o-mini',
    threadContextTokens: 200,
    encoding: 'o200k_base',
    identity: () => ({ botUserId: 'UBOT', botId: 'BBOT' }),
  });
  return { gateway, messenger, threads, router, seen };
}

const mention = (text: string, extra: Partial<IncomingRequest> = {}): IncomingRequest => ({
  origin: 'mention',
  workspaceId: 'T1',
  channelId: 'C1',
  userId: 'U1',
  text,
  messageTs: '1700000000.000200',
  requestId: 'event:Ev1',
  ...extra,
});

describe('route rules', () => {
  test('explicit commands route by rule', () => {
    assert.equal(routeForCommand('/ask', 'how do refunds work'), 'question');
    assert.equal(routeForCommand('/ticket', 'login broken'), 'ticket');
    assert.equal(routeForCommand('/agent', 'summarise open tickets'), 'task');
    assert.equal(routeForCommand('/budget', ''), 'budget');
    assert.equal(routeForCommand('/docs', 'list'), 'docs');
    assert.equal(routeForCommand('/ask', ' help '), 'help');
    assert.equal(routeForCommand('/unknown', 'x'), undefined);
  });

  test('unambiguous mentions route by keywords, ambiguous ones do not', () => {
    assert.equal(routeMentionByRules('ticket: app crashes on login'), 'ticket');
    assert.equal(routeMentionByRules('How do I reset a customer password?'), 'question');
    assert.equal(routeMentionByRules('please summarise the billing complaints from this week'), 'task');
    assert.equal(routeMentionByRules(''), 'help');
    assert.equal(routeMentionByRules('hi!'), 'help');
    assert.equal(routeMentionByRules('hello, what can you do?'), 'help');
    assert.equal(routeMentionByRules('Hey there! What can you help me with?'), 'help');
    assert.equal(routeMentionByRules('thanks :wave:'), 'help');
    assert.equal(routeMentionByRules('hi, who are you?'), 'help');
    assert.equal(
      routeMentionByRules('hi, how do I reset a password?'),
      'question',
      'a greeting does not hide a question',
    );
    assert.equal(routeMentionByRules('hello, my order #123 never arrived'), undefined);
    assert.equal(routeMentionByRules('hiring: what can you do about it'), undefined);
    assert.equal(routeMentionByRules('can you create a ticket for this?'), undefined, 'question and ticket signals');
    assert.equal(routeMentionByRules('the customer in 4411 says the export is empty'), undefined);
  });

  test('mentions of users are stripped from the text', () => {
    assert.equal(stripMentions('<@UBOT> hello <@W222|anna>  there'), 'hello there');
  });
});

describe('Router', () => {
  test('an explicit command is routed without a model call and answered ephemerally', async () => {
    const { router, gateway, messenger, seen } = setup({});
    const outcome = await router.handle({ ...mention('how do refunds work'), origin: 'command', command: '/ask' });
    assert.deepEqual(outcome, { status: 'done', route: 'question', classified: false });
    assert.equal(gateway.calls.length, 0);
    assert.equal(seen[0]?.route, 'question');
    assert.equal(messenger.ephemerals[0]?.text, 'handled as question');
    assert.equal(messenger.posts.length, 0);
  });

  test('an ambiguous mention costs exactly one constrained classification call', async () => {
    const { router, gateway, messenger } = setup({ replies: ['{"route":"ticket"}'] });
    const outcome = await router.handle(mention('the customer in 4411 says the export is empty'));
    assert.deepEqual(outcome, { status: 'done', route: 'ticket', classified: true });
    assert.equal(gateway.calls.length, 1);
    const call = gateway.calls[0]!;
    assert.equal(call.request.purpose, 'route');
    assert.equal(call.request.temperature, 0);
    assert.ok(call.request.maxOutputTokens <= 32);
    assert.equal(call.request.responseFormat?.type, 'json_schema');
    const schema = call.request.responseFormat?.schema as { type: string; properties: { route: { enum: string[] } } };
    assert.equal(schema.type, 'object');
    assert.deepEqual(schema.properties.route.enum, ['ticket', 'question', 'task', 'help']);
    assert.deepEqual(
      { workspaceId: call.scope.workspaceId, channelId: call.scope.channelId },
      {
        workspaceId: 'T1',
        channelId: 'C1',
      },
    );
    assert.equal(messenger.posts[0]?.threadTs, '1700000000.000200', 'the reply starts a thread on the mention');
  });

  test('an unambiguous mention is routed by rule without a model call', async () => {
    const { router, gateway } = setup({});
    const outcome = await router.handle(mention('How do I reset a customer password?'));
    assert.deepEqual(outcome, { status: 'done', route: 'question', classified: false });
    assert.equal(gateway.calls.length, 0);
  });

  test('a classification that is not a route falls back to help instead of staying silent', async () => {
    const { router, messenger } = setup({ replies: ['{"route":"weather"}'] });
    const outcome = await router.handle(mention('hmm interesting'));
    assert.equal(outcome.status, 'done');
    assert.equal(outcome.status === 'done' && outcome.route, 'help');
    assert.match(messenger.posts[0]?.text ?? '', /\/ask/);
  });

  const classificationFailures: [string, string | Error][] = [
    ['over budget', new DeskhandError('over_budget', 'cap reached', { userMessage: 'This channel is over budget.' })],
    ['upstream down', new DeskhandError('upstream_unavailable', 'connection refused')],
    ['budget unenforceable', new DeskhandError('budget_unenforceable', 'redis down')],
    ['configuration', new DeskhandError('configuration', 'no key')],
    ['an unexpected error', new TypeError('boom')],
    ['a reply that is not JSON', 'route: ticket'],
  ];
  for (const [what, reply] of classificationFailures) {
    test(`a classification that fails (${what}) gets help, never an error reply`, async () => {
      const registry = createMetricsRegistry();
      const { router, messenger, gateway } = setup({ replies: [reply], registry });
      const outcome = await router.handle(mention('hmm interesting'));
      assert.deepEqual(outcome, { status: 'done', route: 'help', classified: false });
      assert.equal(gateway.calls.length, 1);
      assert.match(messenger.posts[0]?.text ?? '', /\/ask <question>/);
      assert.equal(messenger.posts[0]?.threadTs, '1700000000.000200');
      assert.doesNotMatch(JSON.stringify(messenger.posts), /Reason code|over budget/);
      const code =
        reply instanceof DeskhandError ? reply.code : reply instanceof Error ? 'internal' : 'upstream_invalid_response';
      assert.match(
        await registry.metrics(),
        new RegExp(`deskhand_route_classifications_total\\{result="${code}"\\} 1`),
      );
    });
  }

  test('without a model a mention the rules cannot place gets help with no model call; rules still route', async () => {
    const registry = createMetricsRegistry();
    const gateway = createNoModelGateway({ logger: createSilentLogger(), registry });
    const { router, messenger, seen } = setup({
      gateway,
      registry,
      handlers: { help: createHelpHandler({ modelConfigured: false }) },
    });
    assert.deepEqual(await router.handle(mention('the customer in 4411 says the export is empty')), {
      status: 'done',
      route: 'help',
      classified: false,
    });
    assert.match(JSON.stringify(messenger.posts[0]?.blocks), /No language model is configured/);
    assert.deepEqual(await router.handle(mention('ticket: order #48213 never arrived')), {
      status: 'done',
      route: 'ticket',
      classified: false,
    });
    assert.equal(seen[0]?.text, 'order #48213 never arrived');
    const metrics = await registry.metrics();
    assert.match(metrics, /deskhand_route_classifications_total\{result="no_model"\} 1/);
    assert.doesNotMatch(metrics, /deskhand_model_calls_refused_total\{/, 'the router did not even try');
  });

  test('a capability that has not landed answers "not available yet" with its code', async () => {
    const { router, messenger } = setup({});
    const outcome = await router.handle({ ...mention(''), origin: 'command', command: '/docs', text: 'list' });
    assert.deepEqual(outcome, { status: 'failed', route: 'docs', classified: false, code: 'not_available_yet' });
    assert.equal(messenger.ephemerals[0]?.text, 'Document management is not available yet.');
  });

  test('a reply in a thread is remembered, and a follow-up there continues with context and no mention', async () => {
    const thread: ThreadMessage[] = [
      { ts: '1700000000.000200', user: 'U1', text: '<@UBOT> How do refunds work?' },
      { ts: '1700000000.000300', user: 'UBOT', botId: 'BBOT', text: 'Refunds take 5 days.' },
      { ts: '1700000000.000400', user: 'U1', text: 'and for annual plans?' },
    ];
    const { router, gateway, messenger, seen } = setup({ thread });
    await router.handle(mention('How do refunds work?'));
    const followUp = await router.handle({
      ...mention('and for annual plans?'),
      origin: 'thread_follow_up',
      messageTs: '1700000000.000400',
      threadTs: '1700000000.000200',
      requestId: 'event:Ev2',
    });
    assert.deepEqual(followUp, { status: 'done', route: 'question', classified: false });
    assert.equal(gateway.calls.length, 0);
    assert.equal(messenger.threadFetches, 1, 'thread context is fetched once');
    assert.deepEqual(
      seen[1]?.threadContext.map((message) => [message.author, message.text]),
      [
        ['user', '<@UBOT> How do refunds work?'],
        ['deskhand', 'Refunds take 5 days.'],
      ],
    );
    assert.equal(messenger.posts[1]?.threadTs, '1700000000.000200');
  });

  test('an ambiguous mention in a thread Deskhand answered continues its conversation without classifying', async () => {
    const { router, gateway, threads, seen } = setup({ thread: [] });
    await threads.remember({ workspaceId: 'T1', channelId: 'C1', threadTs: '1700000000.000001' }, 'ticket');
    const outcome = await router.handle(
      mention('also the export is empty', { threadTs: '1700000000.000001', messageTs: '1700000000.000009' }),
    );
    assert.deepEqual(outcome, { status: 'done', route: 'ticket', classified: false });
    assert.equal(gateway.calls.length, 0);
    assert.equal(seen[0]?.replyThreadTs, '1700000000.000001');
  });

  test('a follow-up in a thread Deskhand is not part of is ignored without any reply', async () => {
    const { router, messenger, gateway } = setup({});
    const outcome = await router.handle({
      ...mention('just chatting'),
      origin: 'thread_follow_up',
      threadTs: '1700000000.000777',
    });
    assert.deepEqual(outcome, { status: 'ignored' });
    assert.equal(messenger.posts.length + messenger.ephemerals.length, 0);
    assert.equal(gateway.calls.length, 0);
  });

  test('help replies do not make a thread conversational', async () => {
    const { router, threads } = setup({});
    await router.handle(mention('hello'));
    assert.equal(threads.entries.size, 0);
  });

  test('a capability that throws an unexpected error still tells the user (internal) without a stack trace', async () => {
    const { router, messenger } = setup({
      handlers: {
        question: async () => {
          throw new TypeError('cannot read properties of undefined (secret-ish detail)');
        },
      },
    });
    const outcome = await router.handle(mention('How do refunds work?'));
    assert.equal(outcome.status === 'failed' && outcome.code, 'internal');
    assert.doesNotMatch(JSON.stringify(messenger.posts), /secret-ish|TypeError/);
    assert.match(messenger.posts[0]?.text ?? '', /went wrong/);
  });
});

describe('thread context', () => {
  test('keeps the most recent messages that fit the token budget, oldest first', () => {
    const messages = Array.from({ length: 30 }, (_, index) => ({
      ts: `1700000000.${String(index).padStart(6, '0')}`,
      author: 'user' as const,
      text: `message number ${index} with a few more words to count`,
    }));
    const kept = trimThreadContext(messages, 100);
    assert.ok(kept.length > 0 && kept.length < 30);
    assert.equal(kept.at(-1)?.text, messages.at(-1)?.text);
    const total = kept.reduce((sum, message) => sum + countTokens(message.text) + 4, 0);
    assert.ok(total <= 100, `used ${total} tokens`);
    const next = messages[messages.length - kept.length - 1]!;
    assert.ok(total + countTokens(next.text) + 4 > 100, 'the next older message would not have fit');
  });

  test('a single message larger than the budget is cut to the budget', () => {
    const kept = trimThreadContext([{ ts: '1', author: 'user', text: 'word '.repeat(500) }], 50);
    assert.equal(kept.length, 1);
    assert.ok(countTokens(kept[0]!.text) <= 46);
  });

  test('labels Deskhand, other bots and users, and drops the triggering message', () => {
    const labelled = toContextMessages(
      [
        { ts: '1', user: 'U1', text: 'question' },
        { ts: '2', user: 'UBOT', botId: 'BBOT', text: 'answer' },
        { ts: '3', botId: 'BOTHER', text: 'other bot' },
        { ts: '4', user: 'U1', text: 'trigger' },
      ],
      { botUserId: 'UBOT', botId: 'BBOT' },
      '4',
    );
    assert.deepEqual(
      labelled.map((message) => message.author),
      ['user', 'deskhand', 'other_bot'],
    );
  });

  test('the classification request is a strict JSON schema object with the route enum', () => {
    const request = routeClassificationRequest('text', 'gpt-4o-mini');
    assert.equal(request.responseFormat?.strict, true);
    assert.equal((request.responseFormat!.schema as { type: string }).type, 'object');
  });
});
