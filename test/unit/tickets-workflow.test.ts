import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { customerTextFromThread } from '../../src/capabilities/tickets/customer-text-from-thread.ts';
import type { RoutedTicketRequest } from '../../src/capabilities/tickets/handle-routed-request.ts';
import { createTicketSinks } from '../../src/capabilities/tickets/sinks/create-ticket-sinks.ts';
import type { SinkResult, TicketDelivery, TicketSink } from '../../src/capabilities/tickets/sinks/ticket-sink.ts';
import { TriageChannelTicketSink } from '../../src/capabilities/tickets/sinks/triage-channel-sink.ts';
import type { ViewStateValues } from '../../src/capabilities/tickets/ticket-edit-modal.ts';
import { defaultTicketCategories, emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { TicketStore } from '../../src/capabilities/tickets/ticket-store.ts';
import { TicketWorkflow } from '../../src/capabilities/tickets/ticket-workflow.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createTicketWorkflow } from '../../src/composition/create-ticket-workflow.ts';
import { DeskhandError } from '../../src/errors.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { CapabilityHandler, CapabilityRequest } from '../../src/ports/capability.ts';
import { RequestReply } from '../../src/router/request-reply.ts';
import { actions, messageShortcuts, views } from '../../src/slack-kit/ids.ts';
import {
  ticketActionIds,
  ticketEditBlockIds,
  ticketEditModalCallbackId,
  ticketMessageShortcutCallbackId,
} from '../../src/slack-kit/ticket-ids.ts';
import type { ActionHandler } from '../../src/work/requests.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';
import { RecordingMessenger, tsOf } from './tickets-fakes.ts';

class RecordingSink implements TicketSink {
  readonly name = 'webhook';
  readonly delivered: TicketDelivery[] = [];
  async deliver(delivery: TicketDelivery): Promise<SinkResult> {
    this.delivered.push(delivery);
    return { reference: `HD-${this.delivered.length}` };
  }
}

const prefix = `test:${randomUUID()}:`;
let redis: Redis;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function setup() {
  const gateway = new ScriptedModel();
  const messenger = new RecordingMessenger();
  const webhook = new RecordingSink();
  const store = new TicketStore(redis, { keyPrefix: prefix });
  const workflow = new TicketWorkflow({
    extraction: { gateway, configuration: { categories: defaultTicketCategories, teamLanguage: 'en' } },
    store,
    messenger,
    sinks: [new TriageChannelTicketSink(messenger, 'C_TRIAGE'), webhook],
    categories: defaultTicketCategories,
    timeZone: 'Europe/Berlin',
    now: () => new Date('2026-11-24T09:00:00Z'),
  });
  return { gateway, messenger, webhook, store, workflow };
}

const messageTs = tsOf('2026-11-24T09:00:00Z');
const request = {
  trigger: 'shortcut' as const,
  workspaceId: 'T_FLOW',
  userId: 'U_AGENT',
  source: { channelId: 'C_SUPPORT', messageTs },
  text: 'Order #48213 never arrived. Please help by Friday!',
  reply: { channel: 'C_SUPPORT', threadTs: messageTs },
  timeZone: 'Europe/Berlin',
};

describe('ticket workflow', () => {
  test('trigger → card in the thread → File → one triage post, one webhook delivery, filed card', async () => {
    const { gateway, messenger, webhook, workflow } = setup();
    gateway.enqueue({
      value: emptyTicket({
        summary: 'Order #48213 missing',
        category: 'missing_delivery',
        orderIds: ['#48213'],
        confidence: 0.8,
      }),
    });
    const created = await workflow.createDraft({
      ...request,
      source: { channelId: 'C_SUPPORT', messageTs: '1764000001.000001' },
    });
    assert.equal(created.kind, 'carded');
    if (created.kind !== 'carded') return;
    assert.equal(messenger.posts.length, 1);
    assert.equal(messenger.posts[0]?.threadTs, messageTs);
    assert.ok(JSON.stringify(messenger.posts[0]?.blocks).includes(ticketActionIds.file));

    const click = {
      actionId: ticketActionIds.file,
      workspaceId: 'T_FLOW',
      userId: 'U_FILER',
      draftId: created.draft.id,
      channel: 'C_SUPPORT',
      messageTs: created.cardTs,
    };
    const outcomes = await Promise.all([workflow.handleAction(click), workflow.handleAction(click)]);
    const redelivered = await workflow.handleAction(click);
    assert.ok([...outcomes, redelivered].some((outcome) => outcome.kind === 'filed' && !outcome.alreadyFiled));
    assert.equal(webhook.delivered.length, 1);
    const triagePosts = messenger.posts.filter((post) => post.channel === 'C_TRIAGE');
    assert.equal(triagePosts.length, 1);
    assert.match(String(triagePosts[0]?.text), new RegExp(created.draft.id));
    const lastUpdate = messenger.updates.at(-1);
    assert.equal(lastUpdate?.ts, created.cardTs);
    assert.equal(lastUpdate?.text, 'Filed by <@U_FILER> — reference HD-1');
  });

  test('degraded mode posts a card that says it was extracted without the model', async () => {
    const { gateway, messenger, workflow } = setup();
    gateway.enqueue({ error: new DeskhandError('upstream_unavailable', 'model fake is down') });
    const created = await workflow.createDraft({
      ...request,
      source: { channelId: 'C_SUPPORT', messageTs: '1764000002.000001' },
    });
    assert.equal(created.kind, 'carded');
    assert.match(JSON.stringify(messenger.posts[0]?.blocks), /Extracted without the model/);
    if (created.kind === 'carded') assert.deepEqual(created.draft.ticket.orderIds, ['#48213']);
  });

  test('a model that twice returns an invalid ticket still gives a rule-based card that says so and why', async () => {
    const { gateway, messenger, workflow } = setup();
    gateway.enqueue({ error: new DeskhandError('upstream_invalid_response', 'twice invalid') });
    const created = await workflow.createDraft({
      ...request,
      source: { channelId: 'C_SUPPORT', messageTs: '1764000002.000002' },
    });
    assert.equal(created.kind, 'carded');
    assert.equal(messenger.ephemerals.length, 0, 'no refusal');
    const card = JSON.stringify(messenger.posts[0]?.blocks);
    assert.match(card, /Extracted without the model/);
    assert.match(card, /Why: The model twice returned a ticket I could not validate/);
    assert.match(String(messenger.posts[0]?.text), /extracted without the model/);
    if (created.kind === 'carded') {
      assert.equal(created.draft.mode, 'rules');
      assert.deepEqual(created.draft.ticket.orderIds, ['#48213']);
    }
  });

  test('bad input gets an ephemeral explanation and no card', async () => {
    const { messenger, workflow } = setup();
    const outcome = await workflow.createDraft({
      ...request,
      text: '',
      files: [{ name: 'a.pdf', mimetype: 'application/pdf' }],
    });
    assert.equal(outcome.kind, 'rejected');
    assert.equal(messenger.posts.length, 0);
    assert.equal(messenger.ephemerals[0]?.user, 'U_AGENT');
    assert.match(String(messenger.ephemerals[0]?.text), /only has a file/);
  });

  test('Edit opens a pre-filled modal; an invalid save shows errors; a valid save updates the card', async () => {
    const { gateway, messenger, workflow } = setup();
    gateway.enqueue({
      value: emptyTicket({ summary: 'Order #48213 missing', category: 'missing_delivery', orderIds: ['#48213'] }),
    });
    const created = await workflow.createDraft({
      ...request,
      source: { channelId: 'C_SUPPORT', messageTs: '1764000003.000001' },
    });
    if (created.kind !== 'carded') throw new Error('no card');
    const opened = await workflow.handleAction({
      actionId: ticketActionIds.edit,
      workspaceId: 'T_FLOW',
      userId: 'U_EDITOR',
      draftId: created.draft.id,
      triggerId: '123.456.abc',
      channel: 'C_SUPPORT',
      messageTs: created.cardTs,
    });
    assert.equal(opened.kind, 'modal_opened');
    const view = messenger.views[0]?.view as { callback_id: string; private_metadata: string };
    assert.equal(view.callback_id, ticketEditModalCallbackId);

    const values = (email: string): ViewStateValues => ({
      [ticketEditBlockIds.summary]: { input: { value: 'Parcel #48213 lost in transit' } },
      [ticketEditBlockIds.category]: { input: { selected_option: { value: 'missing_delivery' } } },
      [ticketEditBlockIds.urgency]: { input: { selected_option: { value: 'high' } } },
      [ticketEditBlockIds.orderIds]: { input: { value: '#48213' } },
      [ticketEditBlockIds.customerEmail]: { input: { value: email } },
      [ticketEditBlockIds.language]: { input: { value: 'en' } },
    });
    const invalid = await workflow.handleEditSubmission({
      workspaceId: 'T_FLOW',
      userId: 'U_EDITOR',
      privateMetadata: view.private_metadata,
      values: values('nope'),
    });
    assert.equal(invalid.kind, 'invalid');
    if (invalid.kind === 'invalid') assert.ok(invalid.response.errors[ticketEditBlockIds.customerEmail]);

    const saved = await workflow.handleEditSubmission({
      workspaceId: 'T_FLOW',
      userId: 'U_EDITOR',
      privateMetadata: view.private_metadata,
      values: values('dana@example.org'),
    });
    assert.equal(saved.kind, 'saved');
    const update = messenger.updates.at(-1);
    assert.equal(update?.ts, created.cardTs);
    assert.match(JSON.stringify(update?.blocks), /Parcel #48213 lost in transit/);
    assert.match(JSON.stringify(update?.blocks), /Edited by <@U_EDITOR>/);

    // The same modal submitted again is stale now.
    const stale = await workflow.handleEditSubmission({
      workspaceId: 'T_FLOW',
      userId: 'U_EDITOR',
      privateMetadata: view.private_metadata,
      values: values('dana@example.org'),
    });
    assert.equal(stale.kind, 'refused');
  });

  test('Discard replaces the card and a later File is refused', async () => {
    const { gateway, messenger, webhook, workflow } = setup();
    gateway.enqueue({ value: emptyTicket({ summary: 'Question about fees', category: 'question' }) });
    const created = await workflow.createDraft({
      ...request,
      source: { channelId: 'C_SUPPORT', messageTs: '1764000004.000001' },
    });
    if (created.kind !== 'carded') throw new Error('no card');
    const base = {
      workspaceId: 'T_FLOW',
      userId: 'U1',
      draftId: created.draft.id,
      channel: 'C_SUPPORT',
      messageTs: created.cardTs,
    };
    assert.equal((await workflow.handleAction({ ...base, actionId: ticketActionIds.discard })).kind, 'discarded_now');
    assert.match(String(messenger.updates.at(-1)?.text), /discarded by <@U1>/);
    assert.equal((await workflow.handleAction({ ...base, actionId: ticketActionIds.file })).kind, 'discarded');
    assert.equal(webhook.delivered.length, 0);
  });

  test('the mention trigger reads the customer messages of a thread, not bots or the mention', () => {
    const thread = customerTextFromThread(
      [
        { ts: '1.1', user: 'U_CUSTOMER', text: 'My parcel #99120 is late' },
        { ts: '1.2', botId: 'B1', text: 'Deskhand: I can help' },
        { ts: '1.3', user: 'U_CUSTOMER', text: 'Any news? I need it by Monday' },
        { ts: '1.4', user: 'U_AGENT', text: '<@U_DESKHAND> ticket this' },
        { ts: '1.5', user: 'U_CUSTOMER', subtype: 'channel_join', text: 'joined' },
      ],
      { excludeTs: '1.4' },
    );
    assert.equal(thread.text, 'My parcel #99120 is late\n\nAny news? I need it by Monday');
    assert.equal(thread.latestTs, '1.3');
  });
});

/** The ticket route as the router calls it: with the request's `Reply` over `messenger`. */
function routeTicket(workflow: TicketWorkflow, messenger: RecordingMessenger, request: RoutedTicketRequest) {
  return workflow.handleRoutedRequest(request, new RequestReply(request, messenger));
}

describe('wiring into the router and listeners', () => {
  test('ticket ids are the ones the Slack layer registers', () => {
    assert.equal(ticketActionIds.file, actions.ticketConfirm);
    assert.equal(ticketActionIds.discard, actions.ticketDiscard);
    assert.equal(ticketEditModalCallbackId, views.ticketReview);
    assert.equal(ticketMessageShortcutCallbackId, messageShortcuts.createTicket);
  });

  test('a mention in a thread makes one card from the thread’s customer messages, claimed by the thread root', async () => {
    const { gateway, messenger, workflow } = setup();
    gateway.enqueue({
      value: emptyTicket({ summary: 'Parcel #99120 late', category: 'missing_delivery', orderIds: ['#99120'] }),
    });
    // Compile-time check: the workflow plugs into the router as the ticket capability.
    const handler: CapabilityHandler = (request, reply) => workflow.handleRoutedRequest(request, reply);
    const routed: CapabilityRequest = {
      route: 'ticket',
      origin: 'mention',
      workspaceId: 'T_FLOW',
      channelId: 'C_SUPPORT',
      userId: 'U_AGENT',
      text: 'this',
      messageTs: '1795600000.000400',
      threadTs: '1795600000.000100',
      requestId: 'Ev1',
      threadContext: [
        { ts: '1795600000.000100', author: 'user', userId: 'U_CUSTOMER', text: 'My parcel #99120 is late' },
        { ts: '1795600000.000200', author: 'deskhand', text: 'On it' },
        { ts: '1795600000.000300', author: 'user', userId: 'U_CUSTOMER', text: 'I need it by Monday' },
      ],
    };
    const reply = new RequestReply(routed, messenger);
    const outcome = await handler(routed, reply);
    assert.deepEqual(outcome, { kind: 'posted' });
    assert.equal(reply.conversationThreadTs, '1795600000.000100');
    const sent = String(gateway.calls[0]?.request.messages.at(-1)?.content);
    assert.match(sent, /My parcel #99120 is late\\n\\nI need it by Monday/);
    assert.doesNotMatch(sent, /On it/);
    assert.equal(messenger.posts[0]?.threadTs, '1795600000.000100');
  });

  test('"ticket this" outside a thread, or in an empty thread, explains how to ask instead of inventing a ticket', async () => {
    const { gateway, messenger, workflow } = setup();
    const base = {
      origin: 'mention' as const,
      workspaceId: 'T_FLOW',
      channelId: 'C_SUPPORT',
      userId: 'U_AGENT',
      text: 'this',
      messageTs: '1795600001.000100',
      requestId: 'Ev3',
    };
    await routeTicket(workflow, messenger, base);
    await routeTicket(workflow, messenger, { ...base, threadTs: '1795600001.000100', threadContext: [] });
    assert.equal(gateway.calls.length, 0);
    assert.equal(messenger.posts.length, 0);
    assert.equal(messenger.ephemerals.length, 2);
    assert.match(String(messenger.ephemerals[0]?.text), /nothing to make a ticket from/);
  });

  test('/ticket posts the card in the channel; a file-only reaction target gets a specific ephemeral reason', async () => {
    const { gateway, messenger, workflow } = setup();
    gateway.enqueue({ value: emptyTicket({ summary: 'Refund question', category: 'billing' }) });
    await routeTicket(workflow, messenger, {
      origin: 'command',
      workspaceId: 'T_FLOW',
      channelId: 'C_SUPPORT',
      userId: 'U_AGENT',
      text: 'Customer asks when refund REF-1 arrives',
      requestId: 'cmd-1',
    });
    assert.equal(messenger.posts[0]?.threadTs, undefined);
    messenger.message = async () => ({
      ts: '1795600000.000900',
      text: '',
      files: [{ id: 'F1', name: 'screen.png', mimetype: 'image/png' }],
    });
    await routeTicket(workflow, messenger, {
      origin: 'reaction',
      workspaceId: 'T_FLOW',
      channelId: 'C_SUPPORT',
      userId: 'U_AGENT',
      text: '',
      messageTs: '1795600000.000900',
      requestId: 'Ev2',
    });
    assert.match(String(messenger.ephemerals.at(-1)?.text), /only has an image/);
    assert.equal(gateway.calls.length, 1);
  });

  test('buttons arrive through the actions listener shape; a click without a draft id does nothing', async () => {
    const { gateway, webhook, workflow } = setup();
    gateway.enqueue({ value: emptyTicket({ summary: 'Card stuck in ATM', category: 'other' }) });
    const created = await workflow.createDraft({
      ...request,
      source: { channelId: 'C_SUPPORT', messageTs: '1764000005.000001' },
    });
    if (created.kind !== 'carded') throw new Error('no card');
    const handler: ActionHandler = (click) => workflow.handleButton(click);
    const click = {
      actionId: actions.ticketConfirm,
      value: created.draft.id,
      workspaceId: 'T_FLOW',
      userId: 'U1',
      channelId: 'C_SUPPORT',
      messageTs: created.cardTs,
      requestId: 'r1',
      triggerId: undefined,
    };
    assert.equal(await handler(click), undefined);
    assert.equal(webhook.delivered.length, 1);
    await handler({ ...click, value: undefined });
    await handler({ ...click, value: 'DH-FORGED' });
    assert.equal(webhook.delivered.length, 1);
  });
});

describe('building from configuration', () => {
  test('sinks follow TICKET_TRIAGE_CHANNEL_ID and TICKET_WEBHOOK_URL', () => {
    const messenger = new RecordingMessenger();
    const both = createTicketSinks(
      { triageChannelId: 'C_TRIAGE', webhookUrl: 'https://hooks.example.com/t', webhookSecret: 'secret-123456' },
      { messenger },
    );
    assert.deepEqual(
      both.map((sink) => sink.name),
      ['triage_channel', 'webhook'],
    );
    assert.deepEqual(
      createTicketSinks({ triageChannelId: undefined, webhookUrl: undefined, webhookSecret: undefined }, { messenger }),
      [],
    );
  });

  test('createTicketWorkflow wires configuration, the gateway, Redis and the messenger into a working capability', async () => {
    const loaded = loadConfiguration({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: 'signing-secret-test',
      TICKET_TRIAGE_CHANNEL_ID: 'C_TRIAGE',
      TICKET_CATEGORIES: 'refund,other',
      TIME_ZONE: 'Asia/Tokyo',
      REDIS_KEY_PREFIX: prefix,
    });
    assert.ok(loaded.ok);
    if (!loaded.ok) return;
    const gateway = new ScriptedModel().enqueue({
      value: emptyTicket({ summary: 'Refund late', category: 'refund' }),
    });
    const messenger = new RecordingMessenger();
    const metrics = createMetricsRegistry();
    const workflow = createTicketWorkflow(loaded.configuration, { gateway, redis, messenger, metrics });
    const created = await workflow.createDraft({
      ...request,
      source: { channelId: 'C_SUPPORT', messageTs: '1764000006.000001' },
    });
    assert.equal(created.kind, 'carded');
    const schema = gateway.calls[0]?.request.schema;
    assert.equal(
      schema?.safeParse(emptyTicket({ summary: 'x', category: 'billing' })).success,
      false,
      'categories come from TICKET_CATEGORIES',
    );
    if (created.kind !== 'carded') return;
    await workflow.handleAction({
      actionId: ticketActionIds.file,
      workspaceId: 'T_FLOW',
      userId: 'U1',
      draftId: created.draft.id,
      channel: 'C_SUPPORT',
      messageTs: created.cardTs,
    });
    assert.equal(messenger.posts.filter((post) => post.channel === 'C_TRIAGE').length, 1);
    assert.match(
      await metrics.metrics(),
      /deskhand_ticket_extractions_total\{trigger="shortcut",outcome="extracted"\} 1/,
    );
    assert.match(await metrics.metrics(), /deskhand_ticket_filings_total\{outcome="filed"\} 1/);
  });
});
