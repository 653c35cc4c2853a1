/**
 * The App Home end to end over signed Slack requests: `app_home_opened` (tab `home`) for an admin and for a
 * non-admin through the real app (receiver, de-duplication, durable work), the Home built by `buildHome` (the same
 * wiring as src/composition/build-work-side.ts) over real stores in the real Redis and the real settings source, and
 * published with the real SlackMessenger to the fake Slack Web API, which checks every `views.publish` against the
 * Web API spec and Block Kit's view limits. A Forget click on the Home (a `block_actions` payload whose container is
 * the home view, as Slack sends for Home buttons) removes the document and republishes the clicker's Home.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { UnansweredQuestions } from '../../src/capabilities/answers/unanswered-questions.ts';
import { UploaderStore } from '../../src/capabilities/answers/uploader-store.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { TicketStore } from '../../src/capabilities/tickets/ticket-store.ts';
import { buildBudgetStore } from '../../src/composition/build-budget-store.ts';
import { buildHome, type HomeParts } from '../../src/composition/build-home.ts';
import { buildWorkspaceSettings } from '../../src/composition/build-settings.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import type { ChunkRecord } from '../../src/ports/vector-index.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { homeActionIds } from '../../src/slack-kit/home-ids.ts';
import { newEventId, type SlackRequest, slackPayloads } from '../fakes/slack-driver.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const team = 'T111';
const admin = 'W0ADMIN';
const member = 'W0MEMBER';
const logger = createSilentLogger();

let app: AppHarness;
let home: HomeParts;
let index: EmbeddedVectorIndex;

/** `app_home_opened` as Slack sends it (fixture: event_callback__app_home_opened__test_events_org_apps_L153.json). */
function homeOpened(user: string, tab: 'home' | 'messages' = 'home'): SlackRequest {
  const request = slackPayloads.appMention({ teamId: team });
  const payload = request.payload as Record<string, unknown>;
  payload.event = { type: 'app_home_opened', user, channel: 'D0HOME', tab, event_ts: `${Date.now() / 1000}` };
  payload.event_id = newEventId();
  return request;
}

/** A button on the Home: `block_actions` whose container is the home view and which names no channel. */
function homeClick(user: string, actionId: string, value: string): SlackRequest {
  const request = slackPayloads.blockActions({ teamId: team, user, actionId, value });
  const payload = request.payload as Record<string, unknown>;
  payload.container = { type: 'view', view_id: 'V0HOME' };
  payload.view = { id: 'V0HOME', type: 'home', team_id: team, blocks: [], state: { values: {} } };
  delete payload.channel;
  delete payload.message;
  return request;
}

function chunk(documentId: string, title: string, scope: 'workspace' | `channel:${string}`): ChunkRecord {
  return {
    id: randomUUID(),
    documentId,
    workspaceId: team,
    scope,
    title,
    sectionPath: [],
    source: `slack:F0${documentId}`,
    chunkIndex: 0,
    contentHash: randomUUID(),
    documentHash: randomUUID(),
    ingestedAt: '2026-01-05T10:00:00.000Z',
    text: `${title}: refunds take five days.`,
    tokenCount: 8,
  };
}

async function publishedTo(user: string, count: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 8_000;
  for (;;) {
    const calls = app.slack.callsTo('views.publish').filter((call) => call.params.user_id === user);
    if (calls.length >= count) return calls[count - 1]?.params.view as Record<string, unknown>;
    if (Date.now() > deadline) throw new Error(`expected ${count} views.publish for ${user}, saw ${calls.length}`);
    await sleep(25);
  }
}

before(async () => {
  app = await startAppHarness({
    environment: { ADMIN_USER_IDS: admin },
    interactions: {
      actions: { [homeActionIds.forgetDocument]: (request) => home.actions[homeActionIds.forgetDocument]!(request) },
      views: {},
      homeOpened: (request) => home.homeOpened(request),
    },
  });
  const { configuration, redis, keyPrefix } = app;
  index = new EmbeddedVectorIndex({ logger });
  await index.ensureReady();
  const client = createSlackWebClient({ token: app.slack.token, apiUrl: configuration.slack.apiUrl, timeoutMs: 5_000 });
  const messenger = new SlackMessenger({ client, logger });
  const settings = buildWorkspaceSettings(configuration, { redis, logger });
  // 2 s between publishes: long enough that the burst below lands inside one interval even on a loaded machine
  // (200 ms let a slow burst spread over several intervals), short enough that a republish held back by the open
  // just before it (the Forget click) comes as the trailing publish within the 8 s `publishedTo` waits.
  home = buildHome(configuration, {
    redis,
    messenger,
    settings,
    vectorIndex: index,
    logger,
    modelConfigured: true,
    minIntervalMs: 2_000,
  });

  // What the Home shows: a ticket each, a month's spend in C111, a question without sources, two documents.
  const tickets = new TicketStore(redis, { keyPrefix });
  for (const [user, summary] of [
    [admin, 'Admin ticket about refunds'],
    [member, 'Order <!channel> 4411 never arrived'],
  ] as const) {
    await tickets.create({
      id: `DH-${randomUUID().slice(0, 8).toUpperCase()}`,
      workspaceId: team,
      channelId: 'C111',
      messageTs: '1700000000.000100',
      requestedBy: user,
      createdAt: new Date().toISOString(),
      ticket: emptyTicket({ summary }),
      flags: [],
      mode: 'rules',
    });
  }
  const budgets = buildBudgetStore(configuration, redis, settings);
  const reservation = await budgets.reserve({
    requestId: randomUUID(),
    workspaceId: team,
    channelId: 'C111',
    amountMicroUsd: 10_000,
  });
  await budgets.settle(reservation, 7_500);
  await new UnansweredQuestions(redis, { keyPrefix }).record(team, 'Where is the <@U0BOSS> holiday policy?');
  const uploaders = new UploaderStore(redis, { keyPrefix });
  await index.replaceDocument(team, 'docrefunds', [chunk('docrefunds', 'Refund policy', 'workspace')]);
  await index.replaceDocument(team, 'docshipping', [chunk('docshipping', 'Shipping guide', 'channel:C111')]);
  await uploaders.recordFirst(team, 'docrefunds', member);
  await uploaders.recordFirst(team, 'docshipping', member);
});

after(async () => {
  await home?.close();
  await index?.close();
  await app?.close();
});

describe('App Home end to end', () => {
  test('an admin opening the Home gets a valid view with every admin section', async () => {
    const response = await app.driver.send(homeOpened(admin));
    assert.equal(response.status, 200);
    const view = await publishedTo(admin, 1);
    const text = JSON.stringify(view);
    assert.equal(view.type, 'home');
    assert.match(text, /Admin ticket about refunds/);
    assert.doesNotMatch(text, /4411/, "another person's ticket is not listed");
    assert.match(text, /Spend per channel/);
    assert.match(text, /<#C111>/);
    assert.match(text, /\$0\.0075 of \$/);
    assert.match(text, /Where is the &lt;@U0BOSS&gt; holiday policy\?/);
    assert.match(text, /Refund policy/);
    assert.match(text, /Shipping guide/);
    assert.match(text, /"action_id":"settings_open"/);
    assert.match(text, /"action_id":"home_forget_document"/);
    app.slack.expectNoViolations();
  });

  test('a non-admin gets their own tickets and none of the admin sections', async () => {
    await app.driver.send(homeOpened(member));
    const view = await publishedTo(member, 1);
    const text = JSON.stringify(view);
    assert.match(text, /Order &lt;!channel&gt; 4411 never arrived/);
    assert.doesNotMatch(text, /Admin ticket about refunds/);
    assert.doesNotMatch(text, /Spend per channel|holiday policy|Refund policy|settings_open|home_forget_document/);
    assert.doesNotMatch(text, /<!channel>/);
    app.slack.expectNoViolations();
  });

  test('opening the Messages tab publishes nothing', async () => {
    const before = app.slack.callsTo('views.publish').length;
    await app.driver.send(homeOpened('W0OTHER', 'messages'));
    await sleep(300);
    assert.equal(app.slack.callsTo('views.publish').length, before);
  });

  test('a non-admin who did not add a document cannot forget it from the Home', async () => {
    const before = app.slack.callsTo('views.publish').filter((call) => call.params.user_id === 'W0STRANGER').length;
    await app.driver.send(homeClick('W0STRANGER', homeActionIds.forgetDocument, 'docshipping'));
    const view = await publishedTo('W0STRANGER', before + 1);
    assert.match(JSON.stringify(view), /Only an admin or the person who added/);
    assert.ok(await index.getDocument(team, 'docshipping'), 'the document is still there');
  });

  test("an admin's Forget click on the Home removes the document and republishes their Home without it", async () => {
    const before = app.slack.callsTo('views.publish').filter((call) => call.params.user_id === admin).length;
    await sleep(250);
    await app.driver.send(homeClick(admin, homeActionIds.forgetDocument, 'docrefunds'));
    const view = await publishedTo(admin, before + 1);
    const text = JSON.stringify(view);
    assert.match(text, /Forgotten: “Refund policy”/);
    assert.doesNotMatch(text, /"value":"docrefunds"/);
    assert.match(text, /Shipping guide/);
    assert.equal(await index.getDocument(team, 'docrefunds'), undefined);
    app.slack.expectNoViolations();
  });

  test('a burst of opens by one person is coalesced into at most two publishes', async () => {
    const user = 'W0BURST';
    await Promise.all(Array.from({ length: 6 }, () => app.driver.send(homeOpened(user))));
    await publishedTo(user, 1);
    await sleep(600);
    const count = app.slack.callsTo('views.publish').filter((call) => call.params.user_id === user).length;
    assert.ok(count >= 1 && count <= 2, `expected 1-2 publishes, saw ${count}`);
  });
});
