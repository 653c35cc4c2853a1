/**
 * End to end over signed Slack requests: the real app (receiver, dedupe, router, listeners) with the ticket
 * capability wired as src/main.ts will wire it, against the fake Slack Web API, the OpenAI fake, real Redis and a
 * local webhook receiver that verifies signatures.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { verifyWebhookSignature } from '../../src/capabilities/tickets/sinks/webhook-sink.ts';
import { emptyTicket, type Ticket } from '../../src/capabilities/tickets/ticket-schema.ts';
import type { TicketWorkflow } from '../../src/capabilities/tickets/ticket-workflow.ts';
import { createGateway, type GatewayParts } from '../../src/composition/create-gateway.ts';
import { createTicketWorkflow } from '../../src/composition/create-ticket-workflow.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { ticketActionIds, ticketEditBlockIds, ticketEditModalCallbackId } from '../../src/slack-kit/ticket-ids.ts';
import { type AppHarness, startAppHarness } from '../e2e/app-harness.ts';
import { newMessageTs, slackPayloads } from '../fakes/slack-driver.ts';

const webhookSecret = 'e2e-webhook-secret-0123';
const deliveries: { body: string; idempotencyKey: string | undefined; signatureValid: boolean }[] = [];
let receiver: Server;
let harness: AppHarness;
let workflow: TicketWorkflow;
let gatewayParts: GatewayParts;

function requireWorkflow(): TicketWorkflow {
  return workflow;
}

before(async () => {
  receiver = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => {
        const value = request.headers[name];
        return typeof value === 'string' ? value : undefined;
      };
      deliveries.push({
        body,
        idempotencyKey: header('idempotency-key'),
        signatureValid: verifyWebhookSignature({
          secret: webhookSecret,
          body,
          signature: header('x-deskhand-signature'),
          timestamp: header('x-deskhand-timestamp'),
        }),
      });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ reference: `HD-${deliveries.length}` }));
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/tickets`;

  harness = await startAppHarness({
    environment: {
      TICKET_TRIAGE_CHANNEL_ID: 'C0TRIAGE',
      TICKET_WEBHOOK_URL: webhookUrl,
      TICKET_WEBHOOK_SECRET: webhookSecret,
      TIME_ZONE: 'Europe/Berlin',
    },
    capabilities: { ticket: (request, reply) => requireWorkflow().handleRoutedRequest(request, reply) },
    interactions: {
      actions: {
        [ticketActionIds.file]: (request) => requireWorkflow().handleButton(request),
        [ticketActionIds.edit]: (request) => requireWorkflow().handleButton(request),
        [ticketActionIds.discard]: (request) => requireWorkflow().handleButton(request),
      },
      views: { [ticketEditModalCallbackId]: (request) => requireWorkflow().handleViewSubmission(request) },
    },
  });
  const configuration = harness.configuration;
  const logger = createSilentLogger();
  const metrics = createMetricsRegistry();
  gatewayParts = createGateway(configuration, {
    openai: new OpenAI({ apiKey: 'test-key', baseURL: harness.openai.baseURL }),
    redis: harness.redis,
    metrics,
    logger,
  });
  const messenger = new SlackMessenger({
    client: createSlackWebClient({
      token: configuration.slack.botToken,
      apiUrl: configuration.slack.apiUrl,
      timeoutMs: configuration.slack.requestTimeoutMs,
    }),
    logger,
    metrics,
  });
  workflow = createTicketWorkflow(configuration, {
    gateway: gatewayParts.gateway,
    redis: harness.redis,
    messenger,
    logger,
  });
});

after(async () => {
  await gatewayParts?.close();
  await harness?.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

beforeEach(() => {
  harness.slack.reset();
  harness.openai.reset();
  deliveries.length = 0;
});

/**
 * Waits until Slack has received `count` calls of `method` (the request's visible effect), then until the app has
 * no background work left. Waiting on the effect first keeps this reliable on a loaded machine.
 */
async function settled(method?: string, count = 1): Promise<void> {
  if (method) await harness.slack.waitForCalls(method, count, 20_000);
  await sleep(30);
  assert.equal(await harness.app.jobs.drain(20_000), true, 'background work did not finish');
}

interface PostedCard {
  channel: string;
  ts: string;
  threadTs: string | undefined;
  draftId: string;
  blocksJson: string;
}

/** Ticket cards posted so far (messages with the File button). */
function cards(): PostedCard[] {
  return harness.slack.callsTo('chat.postMessage').flatMap((call) => {
    const blocks = (call.params.blocks ?? []) as {
      type: string;
      elements?: { action_id?: string; value?: string }[];
    }[];
    const file = blocks
      .flatMap((block) => block.elements ?? [])
      .find((element) => element.action_id === ticketActionIds.file);
    if (!file?.value) return [];
    return [
      {
        channel: String(call.params.channel),
        ts: String(call.response?.ts),
        threadTs: call.params.thread_ts === undefined ? undefined : String(call.params.thread_ts),
        draftId: file.value,
        blocksJson: JSON.stringify(blocks),
      },
    ];
  });
}

function modelReply(overrides: Partial<Ticket>): string {
  return JSON.stringify(
    emptyTicket({ summary: 'A customer problem', category: 'missing_delivery', confidence: 0.8, ...overrides }),
  );
}

describe('tickets end to end over signed Slack requests', () => {
  test('/ticket → card with the invented order id stripped; double click and redelivery → one webhook, one triage post', async () => {
    harness.openai.enqueueChat({
      content: modelReply({
        summary: 'Order #48213 never arrived.',
        orderIds: ['#48213', 'ORD-99999'],
        customerEmail: 'dana@example.org',
      }),
    });
    const command = await harness.driver.send(
      slackPayloads.slashCommand({
        command: '/ticket',
        text: 'Customer says order #48213 never arrived, write to dana@example.org',
      }),
    );
    assert.equal(command.status, 200);
    await settled('chat.postMessage', 1);
    const [card] = cards();
    assert.ok(card, 'a card was posted');
    assert.match(card.blocksJson, /#48213/);
    assert.match(card.blocksJson, /Removed order id \\"ORD-99999\\"/);

    const click = slackPayloads.blockActions({
      actionId: ticketActionIds.file,
      value: card.draftId,
      channel: card.channel,
      messageTs: card.ts,
    });
    const [first, second] = await Promise.all([
      harness.driver.send(click),
      harness.driver.send(
        slackPayloads.blockActions({
          actionId: ticketActionIds.file,
          value: card.draftId,
          channel: card.channel,
          messageTs: card.ts,
        }),
      ),
    ]);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    await settled('chat.update', 1);
    await harness.driver.send(click, { retryNum: 1, retryReason: 'http_timeout' });
    await sleep(300);
    await settled();

    assert.equal(deliveries.length, 1, 'exactly one webhook delivery');
    assert.equal(deliveries[0]?.signatureValid, true);
    assert.equal(deliveries[0]?.idempotencyKey, card.draftId);
    const triage = harness.slack.callsTo('chat.postMessage').filter((call) => call.params.channel === 'C0TRIAGE');
    assert.equal(triage.length, 1, 'exactly one triage post');
    const updates = harness.slack.callsTo('chat.update').filter((call) => call.params.ts === card.ts);
    assert.match(String(updates.at(-1)?.params.text), /^Filed by <@W222> — reference HD-1$/);
    harness.slack.expectNoViolations();
  });

  test('the message shortcut, the ticket reaction and a thread mention each produce a card in the right thread', async () => {
    harness.openai.enqueueChat({ content: modelReply({ summary: 'Card not delivered', orderIds: ['771203'] }) });
    const shortcutTs = newMessageTs();
    await harness.driver.send(
      slackPayloads.messageAction({
        callbackId: 'create_ticket',
        messageText: 'My card never arrived, order 771203',
        messageTs: shortcutTs,
      }),
    );
    await settled('chat.postMessage', 1);

    harness.openai.enqueueChat({
      content: modelReply({ summary: 'Charged twice', category: 'billing', orderIds: ['TX-220914'] }),
    });
    const reacted = harness.slack.addMessage({
      channel: 'C111',
      user: 'W333',
      text: 'I was charged twice for TX-220914',
    });
    await harness.driver.send(slackPayloads.reactionAdded({ itemTs: reacted.ts, reaction: 'ticket' }));
    await settled('chat.postMessage', 2);

    harness.openai.enqueueChat({ content: modelReply({ summary: 'Parcel late', orderIds: ['#99120'] }) });
    const parent = harness.slack.addMessage({ channel: 'C111', user: 'W333', text: 'My parcel #99120 is late' });
    harness.slack.addMessage({ channel: 'C111', user: 'W333', text: 'I need it by Monday', threadTs: parent.ts });
    await harness.driver.send(slackPayloads.appMention({ text: '<@U0BOT> ticket this', threadTs: parent.ts }));
    await settled('chat.postMessage', 3);

    const posted = cards();
    assert.equal(
      posted.length,
      3,
      JSON.stringify(harness.slack.callsTo('chat.postEphemeral').map((call) => call.params.text)),
    );
    assert.deepEqual(
      posted.map((card) => card.threadTs),
      [shortcutTs, reacted.ts, parent.ts],
    );
    const threadPrompt = JSON.stringify(harness.openai.chatCalls().at(-1));
    assert.match(threadPrompt, /My parcel #99120 is late/);
    assert.match(threadPrompt, /I need it by Monday/);
    harness.slack.expectNoViolations();
  });

  test('with the model fake failing, the card is made by rules and says so', async () => {
    for (let attempt = 0; attempt < 6; attempt += 1) harness.openai.enqueueChat({ fault: 'server_error', status: 503 });
    await harness.driver.send(
      slackPayloads.slashCommand({ command: '/ticket', text: 'Order #55120 never arrived, please help by Friday' }),
    );
    await settled('chat.postMessage', 1);
    const [card] = cards();
    assert.ok(card, 'a card was posted');
    assert.match(card.blocksJson, /Extracted without the model/);
    assert.match(card.blocksJson, /#55120/);
  });

  test('Edit → pre-filled modal; an invalid submission shows errors in the modal; a valid one corrects the card', async () => {
    harness.openai.enqueueChat({ content: modelReply({ summary: 'Order missing', orderIds: ['#48213'] }) });
    await harness.driver.send(slackPayloads.slashCommand({ command: '/ticket', text: 'order #48213 missing' }));
    await settled('chat.postMessage', 1);
    const [card] = cards();
    assert.ok(card);

    await harness.driver.send(
      slackPayloads.blockActions({
        actionId: ticketActionIds.edit,
        value: card.draftId,
        channel: card.channel,
        messageTs: card.ts,
      }),
    );
    await settled('views.open', 1);
    const opened = harness.slack.callsTo('views.open')[0]?.params.view as {
      callback_id: string;
      private_metadata: string;
      blocks: { block_id: string; element: { initial_value?: string } }[];
    };
    assert.equal(opened.callback_id, ticketEditModalCallbackId);
    assert.equal(
      opened.blocks.find((block) => block.block_id === ticketEditBlockIds.summary)?.element.initial_value,
      'Order missing',
    );

    const input = (value: string) => ({ input: { type: 'plain_text_input', value } });
    const select = (value: string) => ({ input: { type: 'static_select', selected_option: { value } } });
    const values = (email: string) => ({
      [ticketEditBlockIds.summary]: input('Order #48213 lost in transit, customer wants a refund'),
      [ticketEditBlockIds.category]: select('billing'),
      [ticketEditBlockIds.urgency]: select('high'),
      [ticketEditBlockIds.orderIds]: input('#48213'),
      [ticketEditBlockIds.customerEmail]: input(email),
      [ticketEditBlockIds.language]: input('en'),
    });
    const invalid = await harness.driver.send(
      slackPayloads.viewSubmission({
        callbackId: ticketEditModalCallbackId,
        privateMetadata: opened.private_metadata,
        values: values('not an email'),
      }),
    );
    assert.equal(invalid.status, 200);
    const ack = JSON.parse(invalid.body) as { response_action: string; errors: Record<string, string> };
    assert.equal(ack.response_action, 'errors');
    assert.match(String(ack.errors[ticketEditBlockIds.customerEmail]), /email/);

    const valid = await harness.driver.send(
      slackPayloads.viewSubmission({
        callbackId: ticketEditModalCallbackId,
        privateMetadata: opened.private_metadata,
        values: values('dana@example.org'),
      }),
    );
    assert.equal(valid.status, 200);
    assert.equal(valid.body, '', 'an empty ack closes the modal');
    await settled('chat.update', 1);
    const update = harness.slack.callsTo('chat.update').find((call) => call.params.ts === card.ts);
    assert.ok(update, 'the card was updated');
    assert.match(JSON.stringify(update.params.blocks), /lost in transit, customer wants a refund/);
    assert.match(JSON.stringify(update.params.blocks), /Edited by <@W222>/);
    harness.slack.expectNoViolations();
  });
});
