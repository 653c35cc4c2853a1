/**
 * Learning from corrections end to end (issue 16), through the production composition (createApp + buildWorkSide,
 * OAuth, no model key, so tickets are made by rules) against the fake Slack and a real Redis: a ticket corrected
 * in the Edit modal of workspace A changes the next similar extraction in A and not in workspace B; a ticket filed
 * unchanged in B becomes B's example; uninstalling A deletes A's examples and leaves B's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { extractByRules } from '../../src/capabilities/tickets/rule-based-extractor.ts';
import { defaultTicketCategories } from '../../src/capabilities/tickets/ticket-schema.ts';
import { ticketActionIds, ticketEditBlockIds, ticketEditModalCallbackId } from '../../src/slack-kit/ticket-ids.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { eventFor, eventually, installThroughOAuth, type OAuthApp, startOAuthApp } from './oauth-support.ts';

const teamA = 'T0AAALEARN';
const teamB = 'T0BBBLEARN';
const channelA = 'C0AAALEARN';
const channelB = 'C0BBBLEARN';
const corrected = 'The cash machine swallowed my card this morning';
const similar = 'The cash machine swallowed my card again';

let harness: OAuthApp;

before(async () => {
  harness = await startOAuthApp({ documents: [], environment: { TICKET_TRIAGE_CHANNEL_ID: 'C0TRIAGE' } });
});

after(async () => {
  await harness?.close();
});

interface Card {
  draftId: string;
  channel: string;
  ts: string;
  category: string;
  urgency: string;
}

/** Runs `/ticket <text>` in a workspace's channel and returns the card it posted. */
async function ticketIn(teamId: string, channel: string, text: string): Promise<Card> {
  const { slack, driver } = harness;
  const before = slack.calls.length;
  const sent = await driver.send(slackPayloads.slashCommand({ command: '/ticket', text, channel, teamId }));
  assert.equal(sent.status, 200);
  const call = await eventually(
    () =>
      slack.calls
        .slice(before)
        .find(
          (candidate) =>
            candidate.method === 'chat.postMessage' &&
            candidate.params.channel === channel &&
            JSON.stringify(candidate.params.blocks ?? []).includes(ticketActionIds.file),
        ),
    `the ticket card in ${channel}`,
    20_000,
  );
  const blocks = JSON.stringify(call.params.blocks);
  const draftId = /"action_id":"ticket_file","value":"([^"]+)"|"value":"([^"]+)","action_id":"ticket_file"/.exec(
    blocks,
  );
  const fieldValue = (label: string) => new RegExp(`\\*${label}\\*\\\\n([^"]+)"`).exec(blocks)?.[1] ?? '';
  return {
    draftId: draftId?.[1] ?? draftId?.[2] ?? fileButtonValue(call.params.blocks),
    channel,
    ts: String(call.response?.ts),
    category: fieldValue('Category'),
    urgency: fieldValue('Urgency'),
  };
}

function fileButtonValue(blocks: unknown): string {
  for (const block of (blocks ?? []) as { elements?: { action_id?: string; value?: string }[] }[]) {
    for (const element of block.elements ?? [])
      if (element.action_id === ticketActionIds.file) return element.value ?? '';
  }
  return '';
}

/** Opens the card's Edit modal and saves it with `category` and `urgency`. */
async function correct(teamId: string, card: Card, category: string, urgency: string): Promise<void> {
  const { slack, driver } = harness;
  const before = slack.calls.length;
  await driver.send(
    slackPayloads.blockActions({
      actionId: ticketActionIds.edit,
      value: card.draftId,
      channel: card.channel,
      messageTs: card.ts,
      teamId,
    }),
  );
  const opened = await eventually(
    () => slack.calls.slice(before).find((call) => call.method === 'views.open'),
    'the Edit modal',
  );
  const view = opened.params.view as { private_metadata: string };
  const input = (value: string) => ({ input: { type: 'plain_text_input', value } });
  const select = (value: string) => ({ input: { type: 'static_select', selected_option: { value } } });
  const saved = await driver.send(
    slackPayloads.viewSubmission({
      callbackId: ticketEditModalCallbackId,
      privateMetadata: view.private_metadata,
      teamId,
      values: {
        [ticketEditBlockIds.summary]: input('The ATM kept the customer’s card'),
        [ticketEditBlockIds.category]: select(category),
        [ticketEditBlockIds.urgency]: select(urgency),
        [ticketEditBlockIds.language]: input('en'),
      },
    }),
  );
  assert.equal(saved.status, 200);
  assert.equal(saved.body, '', 'the modal closed without errors');
}

async function examplesOf(teamId: string): Promise<{ id: string; origin: string; category: string }[]> {
  const items = await harness.redis.hgetall(`${harness.keyPrefix}ticket-examples:{${teamId}}:items`);
  return Object.values(items).map((json) => JSON.parse(json) as { id: string; origin: string; category: string });
}

describe('learning from corrections, two workspaces', () => {
  test('a correction in A changes the next similar ticket in A only; a filed ticket teaches B; uninstall forgets A', async () => {
    await installThroughOAuth(harness, teamA);
    await installThroughOAuth(harness, teamB);
    const byRules = extractByRules({
      text: similar,
      messageTs: '1795510800.000000',
      timeZone: 'UTC',
      categories: defaultTicketCategories,
      teamLanguage: 'en',
    });
    assert.notEqual(byRules.category, 'bug', 'the rules alone would not say bug');

    const first = await ticketIn(teamA, channelA, corrected);
    assert.equal(first.category, byRules.category.replace(/_/g, ' '), 'before any correction the rules decide');
    await correct(teamA, first, 'bug', 'high');
    const stored = await eventually(
      async () => ((await examplesOf(teamA)).length === 1 ? examplesOf(teamA) : undefined),
      "A's example",
    );
    assert.deepEqual(
      stored.map(({ id, origin, category }) => ({ id, origin, category })),
      [{ id: first.draftId, origin: 'corrected', category: 'bug' }],
    );

    const inA = await ticketIn(teamA, channelA, similar);
    assert.equal(inA.category, 'bug', 'the correction decides the similar ticket in A');
    assert.match(inA.urgency, /\bhigh\b/, 'and its urgency');
    const inB = await ticketIn(teamB, channelB, similar);
    assert.equal(inB.category, byRules.category.replace(/_/g, ' '), "A's correction does not reach B");
    assert.doesNotMatch(inB.urgency, /\bhigh\b/);
    assert.notEqual(byRules.urgency, 'high');
    assert.deepEqual(await examplesOf(teamB), []);

    // Filed unchanged in B: B's example, with the fields as extracted.
    const { slack, driver } = harness;
    await driver.send(
      slackPayloads.blockActions({
        actionId: ticketActionIds.file,
        value: inB.draftId,
        channel: inB.channel,
        messageTs: inB.ts,
        teamId: teamB,
      }),
    );
    const filed = await eventually(
      async () => ((await examplesOf(teamB)).length === 1 ? examplesOf(teamB) : undefined),
      "B's filed example",
      20_000,
    );
    assert.deepEqual(
      filed.map(({ id, origin, category }) => ({ id, origin, category })),
      [{ id: inB.draftId, origin: 'filed', category: byRules.category }],
    );
    assert.ok(slack.callsTo('chat.postMessage').some((call) => call.params.channel === 'C0TRIAGE'));

    await driver.send(eventFor(teamA, { type: 'app_uninstalled' }));
    await eventually(
      () => harness.logLines.find((line) => line.audit === 'workspace_data_deleted' && line.workspaceId === teamA),
      'the deletion of A',
    );
    assert.deepEqual(await harness.redis.keys(`${harness.keyPrefix}ticket-examples:{${teamA}}*`), []);
    assert.equal((await examplesOf(teamB)).length, 1, "B's example stays");
    slack.expectNoViolations();
  });
});
