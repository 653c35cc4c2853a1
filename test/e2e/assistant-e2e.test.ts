/**
 * Slack's assistant view end to end over signed Slack requests (issue 15, item 4): the real app (receiver,
 * listeners, durable work, router) with the assistant's work-side handlers (`createAssistantThreadHandler`,
 * `createAssistantRoutePreparer`, as src/composition/build-assistant.ts wires them) and the answers capability
 * (`createQuestionHandler`), the real gateway against the fake OpenAI server, the real SlackMessenger against the
 * fake Slack Web API (which validates the assistant.threads calls and the streams), and an embedded index holding
 * documents shared in two channels. Payloads are bolt-python's recorded assistant fixtures with fresh ids.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { createQuestionHandler } from '../../src/capabilities/answers/answer-handlers.ts';
import type { Retriever } from '../../src/capabilities/answers/answer-source.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { createRetriever } from '../../src/capabilities/answers/retrieval-adapter.ts';
import {
  createAssistantRoutePreparer,
  createAssistantThreadHandler,
} from '../../src/capabilities/assistant/assistant-handlers.ts';
import { AssistantThreadStore } from '../../src/capabilities/assistant/assistant-thread-store.ts';
import { ingestText } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { GatewayEmbedder } from '../../src/llm/gateway.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { assistantSuggestedPrompts } from '../../src/slack-kit/assistant-text.ts';
import { loadPayloadFixture, newEventId, newMessageTs, type SlackRequest } from '../fakes/slack-driver.ts';
import { createHarness, type Harness } from '../integration/gateway-harness.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const team = 'T111';
const dm = 'D111';
const viewedChannel = 'C1AAA';
const otherChannel = 'C2BBB';
const user = 'W222';

let app: AppHarness;
let gatewayHarness: Harness;
let index: EmbeddedVectorIndex;
let retrieve: Retriever;
let store: AssistantThreadStore;

before(async () => {
  const logger = createSilentLogger();
  let question: ReturnType<typeof createQuestionHandler> | undefined;
  let assistant: ReturnType<typeof createAssistantThreadHandler> | undefined;
  let prepare: ReturnType<typeof createAssistantRoutePreparer> | undefined;
  app = await startAppHarness({
    capabilities: { question: (request, reply) => (question as NonNullable<typeof question>)(request, reply) },
    interactions: {
      actions: {},
      views: {},
      assistantThread: (request) => (assistant as typeof assistant & {})(request),
    },
    prepareRoute: (request) => (prepare as NonNullable<typeof prepare>)(request),
    messengerPacing: { postIntervalMs: 20, updatesPerMinute: 6_000, updateBurst: 100, messageUpdateIntervalMs: 100 },
  });
  gatewayHarness = await createHarness({ fake: app.openai });
  index = new EmbeddedVectorIndex({ sync: false });
  await index.ensureReady();
  const embedder = new GatewayEmbedder(gatewayHarness.gateway, 'text-embedding-3-small', 64);
  const ingestScope = { workspaceId: team, channelId: 'C0INGEST' };
  for (const [scope, source, title, text] of [
    [
      `channel:${viewedChannel}`,
      'https://wiki.example.com/refunds',
      'Refund policy',
      '# Refund policy\n\nRefunds are paid within 5 business days of the return arriving at our warehouse.',
    ],
    [
      `channel:${otherChannel}`,
      'https://wiki.example.com/partner-refunds',
      'Partner refund policy',
      '# Partner refund policy\n\nRefunds to partners are paid within 30 business days of the return arriving.',
    ],
  ] as const) {
    await ingestText(
      { workspaceId: team, scope, source, title, text, format: 'markdown' },
      { index, embedder, callScope: ingestScope },
    );
  }
  retrieve = createRetriever({ index, embedder }, { mode: 'hybrid', contextTokens: 1500 });
  const feedback = new FeedbackStore(app.redis, { keyPrefix: app.keyPrefix });
  question = createQuestionHandler({ answer: { gateway: gatewayHarness.gateway, retrieve }, feedback });
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: app.slack.token, apiUrl: app.configuration.slack.apiUrl, timeoutMs: 5_000 }),
    logger,
  });
  store = new AssistantThreadStore(app.redis, { keyPrefix: app.keyPrefix });
  assistant = createAssistantThreadHandler({ store, messenger, logger });
  prepare = createAssistantRoutePreparer({ store, messenger, logger });
});

after(async () => {
  await index?.close();
  await gatewayHarness?.cleanup();
  await app?.close();
});

beforeEach(() => {
  app.slack.reset();
  app.slack.setChannelMembers(viewedChannel, ['W111', user]);
  app.slack.setChannelMembers(otherChannel, [user]);
});

async function settled(): Promise<void> {
  await sleep(20);
  assert.equal(await app.app.jobs.drain(15_000), true, 'background work did not finish');
}

type Context = { channel_id?: string; team_id?: string; enterprise_id?: string };

/** bolt-python's recorded assistant thread event, with a fresh event id and the given thread and context. */
function threadEvent(type: 'started' | 'context_changed', threadTs: string, context: Context): SlackRequest {
  const payload = loadPayloadFixture(
    type === 'started'
      ? 'event_callback__assistant_thread_started__test_events_assistant_thread_started_event_body.json'
      : 'event_callback__assistant_thread_context_changed__test_events_assistant_thread_context_changed_event_body.json',
  );
  const event = payload.event as Record<string, unknown>;
  event.assistant_thread = { user_id: user, context, channel_id: dm, thread_ts: threadTs };
  event.event_ts = newMessageTs();
  return {
    kind: 'event',
    payload: { ...payload, event_id: newEventId(), event_time: Math.floor(Date.now() / 1000) },
  };
}

/** bolt-python's recorded user message in an assistant thread (message.im), with fresh ids and the given text. */
function threadMessage(threadTs: string, text: string): SlackRequest {
  const payload = loadPayloadFixture(
    'event_callback__message__in_thread__test_events_assistant_user_message_event_body.json',
  );
  const ts = newMessageTs();
  app.slack.addMessage({ channel: dm, ts, threadTs, user, text });
  const event = payload.event as Record<string, unknown>;
  Object.assign(event, { ts, event_ts: ts, thread_ts: threadTs, text, user, channel: dm, channel_type: 'im' });
  return {
    kind: 'event',
    payload: { ...payload, event_id: newEventId(), event_time: Math.floor(Date.now() / 1000) },
  };
}

/** Starts an assistant thread (its root seeded in the fake) with the given context. */
async function startThread(context: Context): Promise<string> {
  const threadTs = newMessageTs();
  // The root Slack creates (docs.slack.dev/reference/events/message/assistant_app_thread): the title, by the user.
  app.slack.addMessage({
    channel: dm,
    ts: threadTs,
    text: 'Chats from 2026-12-05',
    user,
    subtype: 'assistant_app_thread',
  });
  assert.equal((await app.driver.send(threadEvent('started', threadTs, context))).status, 200);
  await settled();
  return threadTs;
}

async function send(request: SlackRequest): Promise<void> {
  assert.equal((await app.driver.send(request)).status, 200);
  await settled();
}

/** The text and blocks of Deskhand's replies in the thread. */
function repliesIn(threadTs: string): string {
  return app.slack
    .thread(dm, threadTs)
    .filter((message) => message.botId === app.slack.botId && message.ts !== threadTs)
    .map((message) => `${message.text}\n${JSON.stringify(message.blocks ?? [])}`)
    .join('\n');
}

const chatCalls = () => app.openai.chatCalls() as { messages: { role: string; content: string }[] }[];
const refundQuestion = 'ask: How many business days until refunds are paid?';

describe('assistant view end to end', () => {
  test('a started thread gets the suggested prompts and its context is stored', async () => {
    const threadTs = await startThread({ channel_id: otherChannel, team_id: team, enterprise_id: 'E111' });
    assert.equal(app.slack.suggestedPrompts.length, 1);
    const set = app.slack.suggestedPrompts[0];
    assert.equal(set?.channelId, dm);
    assert.equal(set?.threadTs, threadTs);
    assert.deepEqual(set?.prompts, [...assistantSuggestedPrompts]);
    assert.deepEqual(await store.get(team, dm, threadTs), {
      userId: user,
      context: { channelId: otherChannel, teamId: team, enterpriseId: 'E111' },
    });
    app.slack.expectNoViolations();
  });

  test("a question after the context changed to C1 streams an answer citing C1's document, not C2's", async () => {
    const threadTs = await startThread({ channel_id: otherChannel, team_id: team });
    await send(threadEvent('context_changed', threadTs, { channel_id: viewedChannel, team_id: team }));
    const context = await retrieve({
      question: 'How many business days until refunds are paid?',
      access: { workspaceId: team, channelId: viewedChannel },
      callScope: { workspaceId: team, channelId: viewedChannel },
    });
    const number = context.passages.findIndex((passage) => passage.text.includes('5 business days')) + 1;
    assert.ok(number > 0);
    app.openai.enqueueChat({ content: `Refunds are paid within 5 business days [${number}].` });
    const chatsBefore = chatCalls().length;

    await send(threadMessage(threadTs, refundQuestion));

    assert.equal(chatCalls().length - chatsBefore, 1, 'one answer call, no classification (the prefix routes it)');
    const prompt = JSON.stringify(chatCalls().at(-1)?.messages);
    assert.match(prompt, /5 business days/);
    assert.doesNotMatch(prompt, /30 business days|Partner refund/);
    const started = app.slack.callsTo('chat.startStream');
    assert.equal(started.length, 1, 'the answer is streamed');
    assert.equal(started[0]?.params.channel, dm);
    assert.equal(started[0]?.params.thread_ts, threadTs);
    const replies = repliesIn(threadTs);
    assert.match(replies, /Refunds are paid within 5 business days \[1\]/);
    assert.match(replies, /wiki\.example\.com\/refunds\|Refund policy/);
    assert.doesNotMatch(replies, /Partner refund policy/);
    assert.ok(
      app.slack.statuses.some((status) => status.threadTs === threadTs && status.status === 'is thinking…'),
      'the status is set',
    );
    assert.deepEqual(app.slack.threadTitles, [
      { channelId: dm, threadTs, title: 'ask: How many business days until refunds are paid?' },
    ]);
    app.slack.expectNoViolations();
  });

  test('only the first question names the thread, and a title is escaped and bounded', async () => {
    const threadTs = await startThread({ channel_id: viewedChannel, team_id: team });
    app.openai.enqueueChat({ content: 'No idea.' });
    app.openai.enqueueChat({ content: 'Still no idea.' });
    await send(threadMessage(threadTs, `ask: <!channel> & refunds ${'x'.repeat(200)}?`));
    await send(threadMessage(threadTs, 'ask: and the second one?'));
    assert.equal(app.slack.threadTitles.length, 1);
    const title = app.slack.threadTitles[0]?.title ?? '';
    assert.ok(title.length <= 60, title);
    assert.ok(title.startsWith('ask: &lt;!channel&gt; &amp; refunds'), title);
    app.slack.expectNoViolations();
  });

  test('without a viewed channel no documents are read and the user is told why', async () => {
    const threadTs = await startThread({});
    const chatsBefore = chatCalls().length;
    const embeddingsBefore = app.openai.embeddingCalls().length;
    await send(threadMessage(threadTs, refundQuestion));
    assert.equal(chatCalls().length, chatsBefore, 'no model call');
    assert.equal(app.openai.embeddingCalls().length, embeddingsBefore, 'no retrieval');
    const replies = repliesIn(threadTs);
    assert.match(replies, /can't tell which channel/);
    assert.doesNotMatch(replies, /business days/);
    app.slack.expectNoViolations();
  });

  test("a viewed channel the user is not in, or another workspace's, reads no documents", async () => {
    app.slack.setChannelMembers(viewedChannel, ['W111']);
    const notMember = await startThread({ channel_id: viewedChannel, team_id: team });
    const foreign = await startThread({ channel_id: viewedChannel, team_id: 'T999' });
    const chatsBefore = chatCalls().length;
    await send(threadMessage(notMember, refundQuestion));
    await send(threadMessage(foreign, refundQuestion));
    assert.equal(chatCalls().length, chatsBefore, 'no model call');
    assert.match(repliesIn(notMember), /member/);
    assert.match(repliesIn(foreign), /can't tell which of this workspace's channels/);
    assert.doesNotMatch(repliesIn(notMember) + repliesIn(foreign), /business days/);
    app.slack.expectNoViolations();
  });

  test('a DM thread that is not an assistant thread keeps the follow-up behaviour (not remembered: ignored)', async () => {
    const threadTs = newMessageTs();
    app.slack.addMessage({ channel: dm, ts: threadTs, text: 'an old DM', user });
    await send(threadMessage(threadTs, refundQuestion));
    assert.equal(repliesIn(threadTs), '');
    assert.equal(app.slack.statuses.length, 0);
    assert.equal(app.slack.threadTitles.length, 0);
  });
});
