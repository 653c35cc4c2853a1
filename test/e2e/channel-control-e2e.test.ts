/**
 * Channel control end to end (issue 15) over signed Slack requests to the real app: the router's gate with the
 * workspace's channel settings, Slack Connect detection through the fake Slack's `conversations.info`, the answers
 * capability built as build-answers.ts builds it (its `documentAccess` from channel control), the real gateway and
 * budget store against the FakeOpenAIServer, and an embedded index.
 *
 * Done-when checks: (a) a channel outside the allow-list gets a short explanation and the model server receives
 * nothing; (b) a Slack Connect channel never sees workspace-wide documents while an internal channel does, and a
 * document of the shared channel still answers there; (c) 30 concurrent `/ask` of one person: exactly the calls
 * their daily cap affords are answered, the others are told the per-user cap, and the spend stays under the cap.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { createQuestionHandler } from '../../src/capabilities/answers/answer-handlers.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { createRetriever } from '../../src/capabilities/answers/retrieval-adapter.ts';
import { ingestText } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import type { CapabilityHandler } from '../../src/ports/capability.ts';
import { type WorkspaceSettings, workspaceSettingsSchema } from '../../src/ports/workspace-settings.ts';
import { newEventId, type SlackRequest, slackPayloads } from '../fakes/slack-driver.ts';
import { createHarness, type Harness } from '../integration/gateway-harness.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const team = 'T111';
const open = 'C0OPEN0001';
const closed = 'C0CLOSED01';
const connect = 'C0CONNECT1';
const capped = 'C0CAPPED01';
/** Internal at first, then shared with another organisation during a test. */
const later = 'C0LATER001';
/** µ$: one person's daily cap in these tests. */
const userCap = 5_000;

let settings: WorkspaceSettings = workspaceSettingsSchema.parse({
  admins: ['U0ADMIN01'],
  approvers: [],
  caps: { channelDailyUsd: 5, channelMonthlyUsd: 50, workspaceDailyUsd: 50 },
  model: 'gpt-4o-mini',
  tickets: { categories: ['bug'] },
  channels: {
    mode: 'allow',
    channels: [open, connect, capped, later],
    mentionDefaults: {},
    sharedChannelDocuments: 'channel_only',
  },
});
let app: AppHarness;
let gatewayHarness: Harness;
let index: EmbeddedVectorIndex;
let question: CapabilityHandler;

before(async () => {
  app = await startAppHarness({
    capabilities: { question: (request, reply) => question(request, reply) },
    channelSettings: { get: async () => settings },
    messengerPacing: { postIntervalMs: 10, updatesPerMinute: 60_000, updateBurst: 1_000, messageUpdateIntervalMs: 50 },
  });
  app.slack.shareChannel(connect);
  gatewayHarness = await createHarness({ fake: app.openai, caps: { userDaily: userCap } });
  index = new EmbeddedVectorIndex({ sync: false });
  await index.ensureReady();
  const documents = [
    [
      'workspace',
      'Escalation handbook',
      'The on-call escalation code word is PELICAN. Use it only with the duty manager.',
    ],
    [`channel:${connect}`, 'Partner desk', 'Partner tickets are answered within two hours by the partner desk.'],
    ['workspace', 'Refund policy', 'Refunds are paid within five business days of the return arriving.'],
  ] as const;
  for (const [scope, title, text] of documents) {
    await ingestText(
      { workspaceId: team, scope, source: `https://wiki.example.com/${title.replaceAll(' ', '-')}`, title, text },
      { index, callScope: { workspaceId: team, channelId: 'C0INGEST1' } },
    );
  }
  const retrieve = createRetriever({ index }, { mode: 'sparse', contextTokens: 1_500 });
  const channels = app.channels;
  assert.ok(channels);
  question = createQuestionHandler({
    answer: { gateway: gatewayHarness.gateway, retrieve },
    feedback: new FeedbackStore(app.redis, { keyPrefix: app.keyPrefix }),
    documentAccess: (scope) => channels.documentAccess(scope),
  });
});

after(async () => {
  await index?.close();
  await gatewayHarness?.cleanup();
  await app?.close();
});

beforeEach(() => {
  app.slack.reset();
  app.openai.reset();
});

async function settled(): Promise<void> {
  await sleep(20);
  assert.equal(await app.app.jobs.drain(30_000), true, 'background work did not finish');
}

async function ask(text: string, channel: string, user = 'W222'): Promise<void> {
  const response = await app.driver.send(slackPayloads.slashCommand({ command: '/ask', text, channel, user }));
  assert.equal(response.status, 200);
}

/** Final text and blocks of the messages Deskhand posted in a channel. */
const posted = (channel: string) =>
  app.slack.messages(channel).map((message) => `${message.text}\n${JSON.stringify(message.blocks ?? [])}`);

describe('a channel outside the allow-list', () => {
  test('a mention and /ask get the ephemeral explanation naming the admins, and no model request', async () => {
    const mention = await app.driver.send(
      slackPayloads.appMention({ channel: closed, text: '<@U0BOT> why is the export empty for customer 4411?' }),
    );
    assert.equal(mention.status, 200);
    await ask('How many business days until refunds are paid?', closed);
    await settled();
    const explanations = app.slack.ephemeralMessages.filter((message) => message.channel === closed);
    assert.equal(explanations.length, 2);
    for (const explanation of explanations) {
      assert.match(explanation.text, /not switched on in this channel.*<@U0ADMIN01>/);
      assert.equal(explanation.user, 'W222');
    }
    assert.equal(app.slack.messages(closed).length, 0, 'nothing visible in the channel');
    assert.equal(app.openai.calls.length, 0, 'the model server received no request at all');
    app.slack.expectNoViolations();
  });
});

describe('a Slack Connect channel', () => {
  test('never sees a workspace-wide document that an internal channel cites; its own documents still answer', async () => {
    const asked = 'What is the escalation code word?';
    app.openai.enqueueChat({ content: 'The code word is PELICAN [1].' });
    await ask(asked, open);
    await settled();
    assert.match(posted(open).join('\n'), /PELICAN \[1\][\s\S]*Escalation handbook/);

    await ask(asked, connect);
    await settled();
    const shared = posted(connect).join('\n');
    assert.doesNotMatch(shared, /PELICAN|Escalation handbook|answered from cache/);
    for (const call of app.openai.chatCalls()) assert.doesNotMatch(JSON.stringify(call), /PELICAN.*\n?.*PELICAN/);
    assert.equal(app.openai.chatCalls().length, 1, 'only the internal channel’s answer reached the model');

    app.openai.enqueueChat({ content: 'Partner tickets are answered within two hours [1].' });
    await ask('How fast are partner tickets answered?', connect);
    await settled();
    assert.match(posted(connect).join('\n'), /two hours \[1\][\s\S]*Partner desk/);
    const sent = JSON.stringify(app.openai.chatCalls().at(-1));
    assert.match(sent, /Partner desk/);
    assert.doesNotMatch(sent, /Escalation handbook|Refund policy/, 'no workspace-wide passage was given to the model');
    assert.equal(
      app.slack.callsTo('conversations.info').filter((call) => call.params.channel === connect).length,
      1,
      'the sharing was looked up once and cached',
    );
    app.slack.expectNoViolations();
  });

  test('an admin who allows workspace documents in shared channels gets them there', async () => {
    const previous = settings;
    settings = { ...settings, channels: { ...settings.channels, sharedChannelDocuments: 'workspace' } };
    try {
      app.openai.enqueueChat({ content: 'It is PELICAN [1].' });
      await ask('Which escalation code word applies?', connect);
      await settled();
      assert.match(posted(connect).join('\n'), /PELICAN \[1\][\s\S]*Escalation handbook/);
    } finally {
      settings = previous;
    }
  });
});

/** `channel_shared` as Slack sends it (https://docs.slack.dev/reference/events/channel_shared), for `team`. */
function channelShared(channel: string): SlackRequest {
  const request = slackPayloads.appMention({ teamId: team });
  const payload = request.payload as Record<string, unknown>;
  payload.event = { type: 'channel_shared', connected_team_id: 'E0PARTNER', channel, event_ts: `${Date.now() / 1000}` };
  payload.event_id = newEventId();
  return request;
}

describe('a channel shared with another organisation after its sharing was cached', () => {
  test('after channel_shared the next /ask no longer uses workspace-wide documents, without waiting for the cache', async () => {
    app.openai.enqueueChat({ content: 'The code word is PELICAN [1].' }, { content: 'It is PELICAN [1].' });
    await ask('What is the escalation code word?', later);
    await settled();
    assert.match(posted(later).join('\n'), /PELICAN \[1\][\s\S]*Escalation handbook/);

    // Slack now shares the channel, but the cached "internal" would hold for 10 minutes without the event.
    app.slack.shareChannel(later);
    await ask('Which code word do we use for escalations?', later);
    await settled();
    assert.match(posted(later).at(-1) ?? '', /PELICAN/, 'without the event the cached sharing still applies');

    const event = await app.driver.send(channelShared(later));
    assert.equal(event.status, 200);
    await settled();
    const before = app.openai.chatCalls().length;
    await ask('Tell me the escalation code word, please.', later);
    await settled();
    assert.doesNotMatch(posted(later).at(-1) ?? '', /PELICAN|Escalation handbook/);
    for (const call of app.openai.chatCalls().slice(before)) assert.doesNotMatch(JSON.stringify(call), /PELICAN/);
    assert.equal(
      app.slack.callsTo('conversations.info').filter((call) => call.params.channel === later).length,
      2,
      'the sharing was looked up again after the event, and only then',
    );
    app.slack.expectNoViolations();
  });
});

describe('a per-user daily cap through the app', () => {
  test('30 concurrent /ask of one person: exactly the affordable ones are answered, the rest told the cap', async () => {
    const slow = { content: 'Refunds are paid within five business days [1].', delayMs: 1_500 };
    // What one answer reserves, read from the budget while a probe by another person is in flight.
    app.openai.enqueueChat({ ...slow, usage: { completionTokens: 700 } });
    await ask('Refund question 40: how many business days until refunds are paid?', capped, 'W0PROBE1');
    let perCall = 0;
    for (let attempt = 0; attempt < 100 && perCall === 0; attempt += 1) {
      const status = await gatewayHarness.budgets.status(team, capped, 'W0PROBE1');
      perCall = status.windows.find((window) => window.window === 'user_daily')?.reservedMicroUsd ?? 0;
      if (perCall === 0) await sleep(20);
    }
    assert.ok(perCall > 0, 'the probe reserved its worst case');
    await settled();
    const affordable = Math.floor(userCap / perCall);
    assert.ok(affordable >= 1 && affordable < 30, `cap ${userCap} µ$ affords ${affordable} answers of ${perCall} µ$`);
    app.slack.reset();
    app.openai.reset();
    app.openai.enqueueChat(...Array.from({ length: 30 }, () => ({ ...slow, usage: { completionTokens: 700 } })));

    await Promise.all(
      Array.from({ length: 30 }, (_, number) =>
        ask(`Refund question ${number + 10}: how many business days until refunds are paid?`, capped, 'W0ALICE1'),
      ),
    );
    await settled();
    const replies = posted(capped);
    assert.equal(replies.length, 30, 'every request got a reply');
    const answered = replies.filter((reply) => /five business days \[1\]/.test(reply));
    const refused = replies.filter((reply) => /your daily model budget/.test(reply));
    assert.equal(answered.length, affordable);
    assert.equal(refused.length, 30 - affordable);
    assert.equal(app.openai.chatCalls().length, affordable, 'refused answers never reached the model');
    await gatewayHarness.gateway.flush();
    const status = await gatewayHarness.budgets.status(team, capped, 'W0ALICE1');
    const mine = status.windows.find((window) => window.window === 'user_daily');
    assert.ok(mine && mine.spentMicroUsd > 0 && mine.spentMicroUsd <= userCap, JSON.stringify(mine));
    assert.equal(mine.reservedMicroUsd, 0);
    app.slack.expectNoViolations();
  });
});
