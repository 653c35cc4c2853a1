/**
 * "Get a human" end to end over signed Slack requests (issue 16 item 3, done-when: the hand-over files exactly
 * once under concurrent clicks). The real app (receiver, Bolt, durable work, router, actions listener) with the
 * answers capability answering without a model from a real sparse index (documents ingested without embeddings),
 * the hand-over store on the real Redis, and the tickets capability's click handler built by
 * `createTicketWorkflow` (as build-tickets.ts does) with a triage channel: the fake Slack records every post.
 * An agent run that a reviewer declined gets the button too (its summary is rendered by the agent's progress
 * reporter from a stored hand-over).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { renderProgress } from '../../src/capabilities/agent/progress.ts';
import { offerRunHandOver } from '../../src/capabilities/agent/run-hand-over.ts';
import { newRunState } from '../../src/capabilities/agent/run-state.ts';
import { createQuestionHandler } from '../../src/capabilities/answers/answer-handlers.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { createRetriever } from '../../src/capabilities/answers/retrieval-adapter.ts';
import { ingestText } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { HandOverStore } from '../../src/capabilities/tickets/hand-over-store.ts';
import type { TicketWorkflow } from '../../src/capabilities/tickets/ticket-workflow.ts';
import { createTicketWorkflow } from '../../src/composition/create-ticket-workflow.ts';
import { createNoModelGateway } from '../../src/llm/no-model-gateway.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { CapabilityHandler } from '../../src/ports/capability.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { handOverActionId } from '../../src/slack-kit/hand-over-ids.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const team = 'T111';
const channel = 'C111';
const triage = 'C0TRIAGE';
const asker = 'W222';

let app: AppHarness;
let index: EmbeddedVectorIndex;
let question: CapabilityHandler;
let workflow: TicketWorkflow;
let handOvers: HandOverStore;

before(async () => {
  app = await startAppHarness({
    environment: { TICKET_TRIAGE_CHANNEL_ID: triage },
    capabilities: { question: (request, reply) => question(request, reply) },
    interactions: { actions: { [handOverActionId]: (click) => workflow.handleHandOver(click) }, views: {} },
    messengerPacing: { postIntervalMs: 5, updatesPerMinute: 6_000, updateBurst: 100, messageUpdateIntervalMs: 50 },
  });
  const logger = createSilentLogger();
  const gateway = createNoModelGateway({ logger, registry: createMetricsRegistry() });
  index = new EmbeddedVectorIndex({ sync: false });
  await index.ensureReady();
  await ingestText(
    {
      workspaceId: team,
      scope: `channel:${channel}`,
      source: 'https://wiki.example.com/refunds',
      title: 'Refund policy',
      text: '# Refund policy\n\n## Timing\n\nRefunds are paid within 5 business days of the return arriving at our warehouse.',
      format: 'markdown',
    },
    { index, callScope: { workspaceId: team, channelId: 'C0INGEST' } },
  );
  handOvers = new HandOverStore(app.redis, { keyPrefix: app.keyPrefix });
  question = createQuestionHandler({
    answer: {
      gateway,
      retrieve: createRetriever({ index }, { mode: 'sparse', contextTokens: 1500 }),
      withoutModel: true,
    },
    feedback: new FeedbackStore(app.redis, { keyPrefix: app.keyPrefix }),
    handOvers,
  });
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: app.slack.token, apiUrl: app.slack.url, timeoutMs: 5_000 }),
    logger,
    postIntervalMs: 5,
  });
  workflow = createTicketWorkflow(app.configuration, { gateway, modelConfigured: false, redis: app.redis, messenger });
});

after(async () => {
  await index?.close();
  await app?.close();
});

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function handOverValueIn(blocks: unknown): string | undefined {
  for (const block of (blocks as { elements?: { action_id?: string; value?: string }[] }[] | undefined) ?? []) {
    for (const element of block.elements ?? []) if (element.action_id === handOverActionId) return element.value;
  }
  return undefined;
}

const clickers = Array.from({ length: 10 }, (_, index) => `U0CLICK${index}`);

test('an answer’s "Get a human" clicked by 10 people at once files exactly one ticket in triage; the 9 others are told who', async () => {
  const asked = await app.driver.send(
    slackPayloads.slashCommand({ command: '/ask', text: 'How long do refunds take?', channel, user: asker }),
  );
  assert.equal(asked.status, 200);
  const answer = await until('the answer with its button', () =>
    app.slack.messages(channel).find((message) => handOverValueIn(message.blocks)),
  );
  const value = handOverValueIn(answer.blocks) ?? '';
  assert.match(JSON.stringify(answer.blocks), /Refund policy/);

  const responses = await Promise.all(
    clickers.map((user) =>
      app.driver.send(
        slackPayloads.blockActions({ actionId: handOverActionId, value, user, channel, messageTs: answer.ts }),
      ),
    ),
  );
  for (const response of responses) assert.equal(response.status, 200);
  const replies = await until('a reply to every clicker', () => {
    const got = clickers.map((user) => app.slack.ephemeralMessages.find((message) => message.user === user));
    return got.every(Boolean) ? got : undefined;
  });
  await sleep(300);

  const filed = app.slack.messages(triage);
  assert.equal(filed.length, 1, 'exactly one ticket in the triage channel');
  const card = JSON.stringify(filed[0]?.blocks);
  assert.match(card, /How long do refunds take\?/, 'the question');
  assert.match(card, /Refunds are paid within 5 business days/, 'the answer given');
  assert.match(card, /<https:\/\/wiki\.example\.com\/refunds\|Refund policy>/, 'its source');
  assert.match(card, /archives\/C111\/p/, 'the link to the conversation');

  const winners = replies.filter((reply) => /^Handed over to the team: ticket DH-/.test(reply?.text ?? ''));
  assert.equal(winners.length, 1, replies.map((reply) => reply?.text).join('\n'));
  const winner = clickers[replies.indexOf(winners[0])] ?? '';
  const told = replies.filter((reply) => reply?.text.includes(`<@${winner}>`));
  assert.equal(told.length, 9, 'the nine others are told who handed it over');
  for (const reply of told) assert.match(reply?.text ?? '', /already handed this over|is being filed now/);

  const notes = app.slack.messages(channel).filter((message) => /Handed over to the team by/.test(message.text ?? ''));
  assert.equal(notes.length, 1, 'one note in the thread');
  assert.equal(notes[0]?.threadTs, answer.ts);
  app.slack.expectNoViolations();
});

test('a forged hand-over id or a click from another channel files nothing and says why', async () => {
  const before = app.slack.messages(triage).length;
  await app.driver.send(
    slackPayloads.blockActions({ actionId: handOverActionId, value: 'not-a-hand-over', user: 'U0FORGER', channel }),
  );
  const refusal = await until('the refusal', () =>
    app.slack.ephemeralMessages.find((message) => message.user === 'U0FORGER'),
  );
  assert.match(refusal.text, /expired or does not belong to this conversation/);
  // A real hand-over of C111 clicked from C222 (a crafted payload) is refused the same way.
  await handOvers.record({
    id: 'answer-in-c111',
    kind: 'answer',
    workspaceId: team,
    channelId: channel,
    askerId: asker,
    question: 'q',
    answer: 'a',
    outcome: 'answered',
    sources: [],
    createdAt: new Date().toISOString(),
  });
  await app.driver.send(
    slackPayloads.blockActions({
      actionId: handOverActionId,
      value: 'answer-in-c111',
      user: 'U0ELSEWHERE',
      channel: 'C222',
    }),
  );
  const elsewhere = await until('the other channel’s refusal', () =>
    app.slack.ephemeralMessages.find((message) => message.user === 'U0ELSEWHERE'),
  );
  assert.match(elsewhere.text, /does not belong to this conversation/);
  assert.equal(app.slack.messages(triage).length, before);
  assert.equal((await handOvers.claim(team, 'answer-in-c111', 'U0CHECK', new Date())).kind, 'won', 'still unclaimed');
});

test('a declined agent run’s button hands the run over once', async () => {
  const state = newRunState({
    workspaceId: team,
    channelId: channel,
    threadTs: undefined,
    requesterId: asker,
    goal: 'Refund order 4411',
    now: Date.now(),
  });
  state.steps.push({ title: 'Issue the refund', state: 'error', detail: 'not run: rejected by <@U0APPROVER>' });
  state.status = 'ended';
  state.outcome = { kind: 'finished', message: 'I could not issue the refund: the reviewer declined it.' };
  await offerRunHandOver(state, handOvers, (error) => assert.fail(String(error)));
  assert.equal(state.handOver, true);
  const summary = renderProgress(state, { maxSteps: 10, maxToolCalls: 10, maxRunMicroUsd: 100_000 });
  // The summary as the progress reporter posts it (the fake keeps its text; the button is checked on the blocks).
  const messageTs = app.slack.addMessage({ channel, text: summary.text, botId: 'B0DESKHAND' }).ts;
  assert.equal(handOverValueIn(summary.blocks), state.runId);

  const before = app.slack.messages(triage).length;
  for (const user of ['U0RUNA', 'U0RUNB']) {
    await app.driver.send(
      slackPayloads.blockActions({ actionId: handOverActionId, value: state.runId, user, channel, messageTs }),
    );
  }
  const second = await until('both replies', () => {
    const got = ['U0RUNA', 'U0RUNB'].map((user) =>
      app.slack.ephemeralMessages.find((message) => message.user === user),
    );
    return got.every(Boolean) ? got : undefined;
  });
  // The clicks are handled after their acks, so either may win; the other is told who did.
  const winnerIndex = second.findIndex((reply) => /^Handed over to the team: ticket DH-/.test(reply?.text ?? ''));
  assert.ok(winnerIndex >= 0, second.map((reply) => reply?.text).join('\n'));
  const winner = ['U0RUNA', 'U0RUNB'][winnerIndex];
  assert.match(
    second[1 - winnerIndex]?.text ?? '',
    new RegExp(`<@${winner}> (already handed this over|started handing)`),
  );
  const filed = app.slack.messages(triage).slice(before);
  assert.equal(filed.length, 1);
  assert.match(JSON.stringify(filed[0]?.blocks), /Refund order 4411/);
  assert.match(JSON.stringify(filed[0]?.blocks), /rejected by/);
});

test('with no ticket destination the prefilled card is posted in the thread for the team to file, and the clicker is told so', async () => {
  const configuration = {
    ...app.configuration,
    tickets: { ...app.configuration.tickets, triageChannelId: undefined, webhookUrl: undefined },
  };
  const logger = createSilentLogger();
  const gateway = createNoModelGateway({ logger, registry: createMetricsRegistry() });
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: app.slack.token, apiUrl: app.slack.url, timeoutMs: 5_000 }),
    logger,
  });
  const unconfigured = createTicketWorkflow(configuration, {
    gateway,
    modelConfigured: false,
    redis: app.redis,
    messenger,
  });
  const answerTs = app.slack.addMessage({ channel, text: 'Refunds take 5 days.', botId: 'B0DESKHAND' }).ts;
  await handOvers.record({
    id: 'answer-no-sink',
    kind: 'answer',
    workspaceId: team,
    channelId: channel,
    askerId: asker,
    question: 'Where is my refund for order 5512?',
    answer: 'Refunds take 5 days.',
    outcome: 'answered',
    sources: [],
    createdAt: new Date().toISOString(),
  });
  const before = app.slack.messages(triage).length;
  const outcome = await unconfigured.handleHandOver({
    value: 'answer-no-sink',
    workspaceId: team,
    userId: 'U0NOSINK',
    channelId: channel,
    messageTs: answerTs,
  });
  assert.equal(outcome.kind, 'reply');
  assert.match(
    outcome.kind === 'reply' ? outcome.text : '',
    /posted in this thread as a ticket card for the team to file/,
  );
  const thread = app.slack.thread(channel, answerTs);
  const card = thread.find((message) => /Ticket draft/.test(message.text ?? ''));
  assert.ok(card, 'the draft card is in the thread');
  assert.match(card.text ?? '', /Where is my refund for order 5512\?/);
  assert.ok(thread.some((message) => /Handed over to the team by <@U0NOSINK>/.test(message.text ?? '')));
  assert.equal(app.slack.messages(triage).length, before, 'nothing went to a triage channel');
});
