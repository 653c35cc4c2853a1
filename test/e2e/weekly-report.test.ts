/**
 * The weekly report end to end over signed Slack requests: the real app (receiver, de-duplication, router) with
 * `/ask`, `/ticket`, the feedback and ticket buttons and `/budget` wired as src/composition wires them — the answers'
 * feedback store and questions-without-sources record wrapped by report-recording.ts, the ticket workflow of
 * `createTicketWorkflow` (its store counts drafts and filings), `/budget` with `buildWeeklyReport` — the real gateway
 * against the fake OpenAI server (its budget scripts count spend per channel and cache hits), the real Redis and the
 * fake Slack Web API. After a model answer, the same question again (served from the cache), a question without
 * sources, a 👎, two tickets of which one is filed, an admin's `/budget report` shows those counts; a member is
 * refused and told who the admins are.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { createQuestionHandler } from '../../src/capabilities/answers/answer-handlers.ts';
import { createFeedbackHandlers } from '../../src/capabilities/answers/feedback-handlers.ts';
import { createRetriever } from '../../src/capabilities/answers/retrieval-adapter.ts';
import { ingestText } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import type { TicketWorkflow } from '../../src/capabilities/tickets/ticket-workflow.ts';
import { buildActivityStore, buildWeeklyReport } from '../../src/composition/build-weekly-report.ts';
import { createGateway, type GatewayParts } from '../../src/composition/create-gateway.ts';
import { createTicketWorkflow } from '../../src/composition/create-ticket-workflow.ts';
import { ReportingFeedbackStore, ReportingUnansweredQuestions } from '../../src/composition/report-recording.ts';
import { GatewayEmbedder } from '../../src/llm/gateway.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { CapabilityHandler } from '../../src/ports/capability.ts';
import { budgetHandler } from '../../src/router/budget-handler.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { answerActionIds } from '../../src/slack-kit/answer-ids.ts';
import { ticketActionIds } from '../../src/slack-kit/ticket-ids.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { checkMessage } from '../fakes/slack-limits.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const team = 'T111';
const channel = 'C111';
const admin = 'W0ADMIN';
const member = 'W0MEMBER';
const logger = createSilentLogger();

let app: AppHarness;
let parts: GatewayParts;
let index: EmbeddedVectorIndex;
let question: CapabilityHandler;
let tickets: TicketWorkflow;
let feedback: ReturnType<typeof createFeedbackHandlers>['vote'];
let budget: CapabilityHandler;
let feedbackStore: ReportingFeedbackStore;

before(async () => {
  app = await startAppHarness({
    environment: { ADMIN_USER_IDS: admin, TICKET_TRIAGE_CHANNEL_ID: 'C0TRIAGE' },
    capabilities: {
      question: (request, reply) => question(request, reply),
      ticket: (request, reply) => tickets.handleRoutedRequest(request, reply),
      budget: (request, reply) => budget(request, reply),
    },
    interactions: {
      actions: {
        [answerActionIds.helpful]: (click) => feedback(click),
        [answerActionIds.notHelpful]: (click) => feedback(click),
        [ticketActionIds.file]: (click) => tickets.handleButton(click),
      },
      views: {},
    },
    messengerPacing: { postIntervalMs: 20, updatesPerMinute: 6_000, updateBurst: 100, messageUpdateIntervalMs: 100 },
  });
  const { configuration, redis, keyPrefix } = app;
  const registry = createMetricsRegistry();
  parts = createGateway(configuration, {
    openai: new OpenAI({ apiKey: 'test-key', baseURL: app.openai.baseURL }),
    redis,
    metrics: registry,
    logger,
  });
  index = new EmbeddedVectorIndex({ sync: false });
  await index.ensureReady();
  const embedder = new GatewayEmbedder(
    parts.gateway,
    configuration.openai.embeddingModel,
    configuration.openai.embeddingDimensions,
  );
  await ingestText(
    {
      workspaceId: team,
      scope: `channel:${channel}`,
      source: 'https://wiki.example.com/refunds',
      title: 'Refund policy',
      text: '# Refund policy\n\n## Timing\n\nRefunds are paid within 5 business days of the return arriving at our warehouse.',
      format: 'markdown',
    },
    { index, embedder, callScope: { workspaceId: team, channelId: 'C0INGEST' } },
  );
  const retrieve = createRetriever({ index, embedder }, { mode: 'hybrid', contextTokens: 1500 });
  // As build-answers.ts wires them: both stores also count for the report.
  const activity = buildActivityStore(configuration, redis);
  feedbackStore = new ReportingFeedbackStore(redis, { keyPrefix }, activity, logger);
  question = createQuestionHandler({
    answer: { gateway: parts.gateway, retrieve },
    feedback: feedbackStore,
    unanswered: new ReportingUnansweredQuestions(redis, { keyPrefix }, activity, logger),
  });
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: app.slack.token, apiUrl: configuration.slack.apiUrl, timeoutMs: 5_000 }),
    logger,
  });
  feedback = createFeedbackHandlers({ feedback: feedbackStore, messenger, logger }).vote;
  tickets = createTicketWorkflow(configuration, {
    gateway: parts.gateway,
    modelConfigured: false,
    redis,
    messenger,
    logger,
  });
  const handler = budgetHandler({
    budgets: parts.budgets,
    adminUserIds: configuration.people.adminUserIds,
    weeklyReport: buildWeeklyReport(configuration, { redis, logger }),
    logger,
  });
  budget = (request) => handler(request);
});

after(async () => {
  await index?.close();
  await parts?.close();
  await app?.close();
});

async function settled(): Promise<void> {
  await sleep(30);
  assert.equal(await app.app.jobs.drain(20_000), true, 'background work did not finish');
}

async function command(name: string, text: string, user = 'W222'): Promise<void> {
  const response = await app.driver.send(slackPayloads.slashCommand({ command: name, text, channel, user }));
  assert.equal(response.status, 200);
  await settled();
}

/** The value of a button in the newest message of `channelId` that has one with `actionId`. */
function buttonValue(channelId: string, actionId: string): { value: string; ts: string } {
  for (const message of [...app.slack.messages(channelId)].reverse()) {
    const blocks = (message.blocks ?? []) as { elements?: { action_id?: string; value?: string }[] }[];
    const found = blocks.flatMap((block) => block.elements ?? []).find((element) => element.action_id === actionId);
    if (found?.value) return { value: found.value, ts: message.ts };
  }
  throw new Error(`no ${actionId} button in ${channelId}`);
}

function lastEphemeralTo(user: string): { text: string; blocks: unknown } {
  const call = app.slack
    .callsTo('chat.postEphemeral')
    .filter((entry) => entry.params.user === user)
    .at(-1);
  assert.ok(call, `an ephemeral reply to ${user}`);
  return { text: String(call.params.text), blocks: call.params.blocks };
}

describe('/budget report end to end', () => {
  test('an admin sees the week’s answers, cache, spend, feedback and tickets; a member is refused', async () => {
    app.openai.enqueueChat({ content: 'Refunds are paid within 5 business days [1].' });
    await command('/ask', 'How many business days until refunds are paid?');
    await command('/ask', 'How many business days until refunds are paid?');
    assert.match(JSON.stringify(app.slack.messages(channel).at(-1)?.blocks), /answered from cache/);
    await command('/ask', 'What is the airspeed velocity of an unladen swallow?');

    const answer = buttonValue(channel, answerActionIds.notHelpful);
    await app.driver.send(
      slackPayloads.blockActions({
        actionId: answerActionIds.notHelpful,
        value: answer.value,
        channel,
        messageTs: answer.ts,
        user: 'W222',
      }),
    );
    await settled();
    // The reason the picker submits (its modal is G's e2e); stored by the same wrapped store build-answers.ts uses.
    const reason = { answerId: answer.value, workspaceId: team, userId: 'W222', reason: 'outdated' } as const;
    assert.equal(await feedbackStore.setReason(reason), 'recorded');

    await command('/ticket', 'Customer was charged twice for order 4411 and wants a refund');
    const first = buttonValue(channel, ticketActionIds.file);
    await command('/ticket', 'The login page shows an error for customer dana@example.org');
    await app.driver.send(
      slackPayloads.blockActions({ actionId: ticketActionIds.file, value: first.value, channel, messageTs: first.ts }),
    );
    await settled();
    assert.equal(app.slack.callsTo('chat.postMessage').filter((call) => call.params.channel === 'C0TRIAGE').length, 1);

    await command('/budget', 'report', admin);
    const report = lastEphemeralTo(admin);
    assert.equal(checkMessage(report.text, report.blocks), undefined);
    const shown = JSON.stringify(report.blocks);
    assert.match(shown, /\*3\* questions: \*2\* answered by the model \(1 from the cache\)/);
    assert.match(shown, /0 answered with quoted passages only, 1 found no sources, 0 not answered/);
    // One cached call: the repeated answer. Amounts are tiny with the fake's token counts, but never $0.
    assert.match(shown, /Spent \*[^*]+\*; the response cache served \*1\* model call and saved \*[^*]+\*/);
    assert.doesNotMatch(shown, /Spent \*\$0\.00\*|saved \*\$0\.00\*/);
    assert.match(shown, /Top channels: <#C111> /);
    assert.match(shown, /:thumbsdown: 1 not helpful/);
    assert.match(shown, /Reasons for :thumbsdown:: outdated 1/);
    assert.match(shown, /1× What is the airspeed velocity of an unladen swallow\?/);
    assert.match(shown, /2× \*Refund policy\*/);
    assert.match(shown, /Drafted: \*2\* \(/);
    assert.match(shown, /Filed: \*1\* \([^)]+ 1\)/);

    await command('/budget', 'report', member);
    const refused = lastEphemeralTo(member);
    assert.equal(refused.text, `Only this workspace’s admins can see the weekly report: <@${admin}>.`);
    app.slack.expectNoViolations();
  });
});
