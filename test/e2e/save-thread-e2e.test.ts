/**
 * "Save to Deskhand docs" end to end (issue 16 done-when: "a saved thread answering a later /ask with a citation
 * to it") over signed Slack requests to the real app: the message shortcut through the listener, durable hand-off
 * and router (channel control on), the docs route with thread saving built as build-answers.ts builds it
 * (`withThreadSaving` over `createDocsHandler`, ingestion under the workspace's Redis ingestion slots, the parse
 * worker), the real SlackMessenger reading the thread from the fake Slack's `conversations.replies` and
 * `chat.getPermalink`, and `/ask` answered by the real gateway against the FakeOpenAIServer over the same index.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { createDocsHandler, createQuestionHandler } from '../../src/capabilities/answers/answer-handlers.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { createRetriever } from '../../src/capabilities/answers/retrieval-adapter.ts';
import { threadDocumentSource, withThreadSaving } from '../../src/capabilities/answers/save-thread.ts';
import { UploaderStore } from '../../src/capabilities/answers/uploader-store.ts';
import { ingestDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { IngestionSlots } from '../../src/capabilities/documents/ingestion/ingestion-slots.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import type { CapabilityHandler } from '../../src/ports/capability.ts';
import { type WorkspaceSettings, workspaceSettingsSchema } from '../../src/ports/workspace-settings.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { messageShortcuts } from '../../src/slack-kit/ids.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { createHarness, type Harness } from '../integration/gateway-harness.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const team = 'T111';
const support = 'C0SUPPORT1';
const other = 'C0OTHER001';
const closed = 'C0CLOSED01';
const saver = 'W0SAVER01';
const question = 'How do I reset the VPN token on a new laptop?';

const settings: WorkspaceSettings = workspaceSettingsSchema.parse({
  admins: ['U0ADMIN01'],
  approvers: [],
  caps: { channelDailyUsd: 5, channelMonthlyUsd: 50, workspaceDailyUsd: 50 },
  model: 'gpt-4o-mini',
  tickets: { categories: ['bug'] },
  channels: { mode: 'allow', channels: [support, other], mentionDefaults: {}, sharedChannelDocuments: 'channel_only' },
});

let app: AppHarness;
let gatewayHarness: Harness;
let index: EmbeddedVectorIndex;
let uploaders: UploaderStore;
let ask: CapabilityHandler;
let docs: CapabilityHandler;

before(async () => {
  app = await startAppHarness({
    capabilities: { question: (request, reply) => ask(request, reply), docs: (request, reply) => docs(request, reply) },
    channelSettings: { get: async () => settings },
    messengerPacing: { postIntervalMs: 10, updatesPerMinute: 60_000, updateBurst: 1_000, messageUpdateIntervalMs: 50 },
  });
  gatewayHarness = await createHarness({ fake: app.openai });
  index = new EmbeddedVectorIndex({ sync: false });
  await index.ensureReady();
  const logger = createSilentLogger();
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: app.configuration.slack.botToken, apiUrl: app.slack.url, timeoutMs: 5_000 }),
    logger,
  });
  uploaders = new UploaderStore(app.redis, { keyPrefix: app.keyPrefix });
  const slots = new IngestionSlots(app.redis, { keyPrefix: app.keyPrefix, logger });
  const docsDependencies = {
    index,
    uploaders,
    ingest: (
      input: Parameters<typeof ingestDocument>[0],
      onProgress: NonNullable<Parameters<typeof ingestDocument>[1]['onProgress']>,
    ) =>
      slots.run(input.workspaceId, () =>
        ingestDocument(input, {
          index,
          callScope: { workspaceId: input.workspaceId, channelId: 'ingestion' },
          onProgress,
        }),
      ),
    fetchFile: async () => {
      throw new Error('no file downloads in this test');
    },
    maxUploadBytes: 1024 * 1024,
    isAdmin: () => false,
    logger,
  };
  docs = withThreadSaving(createDocsHandler(docsDependencies), {
    ...docsDependencies,
    messenger,
    botUserId: () => app.slack.botUserId,
  });
  const retrieve = createRetriever({ index }, { mode: 'sparse', contextTokens: 1_500 });
  ask = createQuestionHandler({
    answer: { gateway: gatewayHarness.gateway, retrieve },
    feedback: new FeedbackStore(app.redis, { keyPrefix: app.keyPrefix }),
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

async function saveThread(channel: string, messageTs: string, threadTs?: string): Promise<string> {
  const response = await app.driver.send(
    slackPayloads.messageAction({
      callbackId: messageShortcuts.saveThreadToDocs,
      channel,
      user: saver,
      messageTs,
      ...(threadTs ? { threadTs } : {}),
    }),
  );
  assert.equal(response.status, 200);
  await settled();
  const told = app.slack.ephemeralMessages.filter((message) => message.channel === channel && message.user === saver);
  assert.equal(told.length, 1, `one reply to the saver: ${JSON.stringify(told)}`);
  return (told[0] as { text: string }).text;
}

async function slashAsk(channel: string): Promise<string> {
  const response = await app.driver.send(slackPayloads.slashCommand({ command: '/ask', text: question, channel }));
  assert.equal(response.status, 200);
  await settled();
  return app.slack
    .messages(channel)
    .map((message) => `${message.text}\n${JSON.stringify(message.blocks ?? [])}`)
    .join('\n');
}

const savedDocuments = async (channel: string) =>
  (await index.listDocuments({ workspaceId: team, channelId: channel })).filter((document) =>
    document.source.startsWith('thread:'),
  );

describe('a thread saved with the shortcut', () => {
  let rootTs = '';
  /** The thread as seeded so far (the fake Slack forgets messages between tests: `reseed` puts them back). */
  const seeded: Parameters<AppHarness['slack']['addMessage']>[0][] = [];
  const seed = (message: Parameters<AppHarness['slack']['addMessage']>[0]) => {
    const stored = app.slack.addMessage(message);
    seeded.push({ ...message, ts: stored.ts });
    return stored;
  };
  const reseed = () => {
    for (const message of seeded) app.slack.addMessage(message);
  };

  test('becomes a document of its channel: the saver is told the title and how many messages were saved', async () => {
    const root = seed({ channel: support, user: 'W0DANA001', text: question });
    rootTs = root.ts;
    seed({
      channel: support,
      threadTs: root.ts,
      user: 'W0SAM0001',
      text: 'Open <https://vpn.example.com/reset|the VPN reset page>, click *Reset token* and wait five minutes before signing in.',
    });
    seed({
      channel: support,
      threadTs: root.ts,
      botId: 'B0CI',
      subtype: 'bot_message',
      text: 'Build 881 passed',
    });
    seed({ channel: support, threadTs: root.ts, user: 'W0DANA001', text: 'That worked, thanks!' });

    const told = await saveThread(support, root.ts);
    assert.match(
      told,
      /Saved \*How do I reset the VPN token on a new laptop\?\* in this channel’s documents \(3 messages\)/,
    );
    assert.match(told, /1 bot or system message was left out/);
    const [document, ...more] = await savedDocuments(support);
    assert.equal(more.length, 0);
    assert.ok(document);
    assert.equal(document.source, threadDocumentSource(support, root.ts));
    assert.equal(document.scope, `channel:${support}`);
    assert.equal(document.title, question);
    assert.equal(await uploaders.uploaderOf(team, document.documentId), saver, 'the saver may forget it');
    assert.equal(
      app.slack.callsTo('conversations.replies').length,
      1,
      'one fresh read; the router reads no thread context',
    );
    app.slack.expectNoViolations();
  });

  test('a later /ask in that channel answers with a citation to the thread', async () => {
    app.openai.enqueueChat({ content: 'Use the VPN reset page, click Reset token and wait five minutes [1].' });
    const answer = await slashAsk(support);
    assert.match(answer, /wait five minutes \[1\]/);
    assert.match(
      answer,
      /\[1\][^\n]*How do I reset the VPN token on a new laptop\?/,
      'the sources name the saved thread',
    );
    const prompt = JSON.stringify(app.openai.chatCalls().at(-1));
    assert.match(prompt, /Reset token/, 'the thread’s reply was the passage given to the model');
    assert.match(prompt, /vpn\.example\.com\/reset/, 'its link was kept');
    assert.doesNotMatch(prompt, /Build 881/, 'another bot’s message was not saved');
    app.slack.expectNoViolations();
  });

  test('the same question in another channel does not see it', async () => {
    const answer = await slashAsk(other);
    assert.doesNotMatch(answer, /How do I reset the VPN token on a new laptop\?\*?>?\s*(—|$)|Reset token|\[1\]/);
    for (const call of app.openai.chatCalls()) assert.doesNotMatch(JSON.stringify(call), /Reset token/);
    assert.equal((await savedDocuments(other)).length, 0);
  });

  test('saving again after a new reply replaces it: one document with the new content; unchanged changes nothing', async () => {
    const before = await savedDocuments(support);
    reseed();
    const update = seed({
      channel: support,
      threadTs: rootTs,
      user: 'W0SAM0001',
      text: 'Update: since client v5 the reset page moved to https://id.example.com/vpn-token',
    });
    // Saved from the new reply (a reply's shortcut saves its whole thread), right after the first save.
    const told = await saveThread(support, update.ts, rootTs);
    assert.match(told, /Updated \*How do I reset the VPN token on a new laptop\?\* .*\(4 messages\)/);
    const after = await savedDocuments(support);
    assert.equal(after.length, 1);
    assert.equal(after[0]?.documentId, before[0]?.documentId, 'the same document id');
    assert.notEqual(after[0]?.documentHash, before[0]?.documentHash, 'new content');

    app.openai.enqueueChat({ content: 'The reset page moved to id.example.com [1].' });
    await slashAsk(support);
    assert.match(JSON.stringify(app.openai.chatCalls().at(-1)), /id\.example\.com\/vpn-token/);

    app.slack.reset();
    reseed();
    const again = await saveThread(support, rootTs);
    assert.match(again, /already in this channel’s documents and the thread has not changed/);
  });
});

describe('refusals', () => {
  test('a channel where Deskhand is off gets the channel-control explanation and nothing is read or saved', async () => {
    const root = app.slack.addMessage({ channel: closed, user: 'W0DANA001', text: 'Secret roadmap thread' });
    const told = await saveThread(closed, root.ts);
    assert.match(told, /not switched on in this channel.*<@U0ADMIN01>/);
    assert.equal(app.slack.callsTo('conversations.replies').length, 0);
    assert.equal((await savedDocuments(closed)).length, 0);
  });

  test('a direct message, and a thread with nothing a person wrote, are refused with the reason', async () => {
    const direct = app.slack.addMessage({ channel: 'D0DIRECT01', user: 'W0DANA001', text: 'my private question' });
    assert.match(
      await saveThread('D0DIRECT01', direct.ts),
      /I did not save this thread: I save threads from channels only/,
    );
    assert.equal((await savedDocuments('D0DIRECT01')).length, 0);

    app.slack.reset();
    const alert = app.slack.addMessage({
      channel: other,
      botId: 'B0ALERT',
      subtype: 'bot_message',
      text: 'Disk 91% full',
    });
    assert.match(await saveThread(other, alert.ts), /no messages written by people/);
    assert.equal((await savedDocuments(other)).length, 0);
  });
});
