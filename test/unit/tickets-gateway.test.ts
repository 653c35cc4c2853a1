/**
 * extractTicket through the real gateway (OpenAIGateway + Redis budgets and cache) against the spec-validating
 * FakeOpenAIServer: the wire schema, one repair round then a clear failure, grounding of a model's invention,
 * caching, and degraded mode when the model is down or the budget is spent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { extractTicket } from '../../src/capabilities/tickets/extract-ticket.ts';
import { defaultTicketCategories, emptyTicket, ticketFields } from '../../src/capabilities/tickets/ticket-schema.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { createHarness, type Harness } from '../integration/gateway-harness.ts';
import { tsOf } from './tickets-fakes.ts';

const configuration = { categories: defaultTicketCategories, teamLanguage: 'en' };
let counter = 0;
function input(text = 'My order #48213 never arrived, please help by Friday. dana.w@example.org') {
  counter += 1;
  return {
    text,
    // A distinct message per test, so response-cache hits only happen where a test asks for them.
    messageTs: (Number(tsOf('2026-11-24T09:00:00Z')) + counter).toFixed(6),
    workspaceId: 'T0TICKETS',
    channelId: `C0TICKETS${counter}`,
    userId: 'U0AGENT',
    timeZone: 'Europe/Berlin',
  };
}
const reply = (overrides = {}) =>
  JSON.stringify(
    emptyTicket({
      summary: 'Order #48213 has not arrived; needed by Friday.',
      category: 'missing_delivery',
      urgency: 'high',
      orderIds: ['#48213'],
      customerEmail: 'dana.w@example.org',
      deadline: '2026-11-27',
      confidence: 0.9,
      ...overrides,
    }),
  );

describe('extractTicket through the gateway and the OpenAI fake', () => {
  let harness: Harness;
  let fake: FakeOpenAIServer;
  before(async () => {
    harness = await createHarness({ fakeOptions: { whenEmpty: 'error' } });
    fake = harness.fake as FakeOpenAIServer;
  });
  after(async () => harness.cleanup());

  test('sends a strict json_schema response format: type object with every ticket property, temperature 0', async () => {
    fake.reset();
    fake.enqueueChat({ content: reply() });
    const outcome = await extractTicket(input(), { gateway: harness.gateway, configuration });
    assert.equal(outcome.kind, 'extracted');
    const [body] = fake.chatCalls() as {
      temperature?: number;
      response_format: { type: string; json_schema: { strict: boolean; schema: Record<string, unknown> } };
    }[];
    assert.equal(body?.temperature, 0);
    assert.equal(body?.response_format.type, 'json_schema');
    const schema = body?.response_format.json_schema.schema as {
      type: string;
      properties: Record<string, unknown>;
      required: string[];
      additionalProperties: boolean;
    };
    assert.equal(schema.type, 'object');
    assert.deepEqual(Object.keys(schema.properties).sort(), [...ticketFields].sort());
    assert.deepEqual([...schema.required].sort(), [...ticketFields].sort());
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(fake.violations, []);
  });

  test('an order id the model invents is stripped and flagged', async () => {
    fake.reset();
    fake.enqueueChat({ content: reply({ orderIds: ['#48213', 'ORD-77777'] }) });
    const outcome = await extractTicket(input(), { gateway: harness.gateway, configuration });
    assert.equal(outcome.kind, 'extracted');
    if (outcome.kind !== 'extracted') return;
    assert.deepEqual(outcome.ticket.orderIds, ['#48213']);
    assert.deepEqual(
      outcome.flags.map((flag) => `${flag.kind}:${flag.value}`),
      ['ungrounded_order_id:ORD-77777'],
    );
  });

  test('malformed model JSON is repaired once', async () => {
    fake.reset();
    fake.enqueueChat({ content: '{"summary": "Order missing", "category": "missing_delivery"' });
    fake.enqueueChat({ content: reply() });
    const outcome = await extractTicket(input(), { gateway: harness.gateway, configuration });
    assert.equal(outcome.kind, 'extracted');
    if (outcome.kind !== 'extracted') return;
    assert.equal(outcome.repaired, true);
    assert.ok(outcome.flags.some((flag) => flag.kind === 'repaired_output'));
    assert.equal(fake.chatCalls().length, 2);
  });

  test('a second malformed reply becomes a rule-based ticket that says why, with no third call', async () => {
    fake.reset();
    fake.enqueueChat({ content: 'Sure! Here is the ticket: summary = order missing' });
    fake.enqueueChat({ content: reply({ category: 'shipping_problem' }) });
    const outcome = await extractTicket(input(), { gateway: harness.gateway, configuration });
    assert.equal(outcome.kind, 'degraded');
    if (outcome.kind === 'degraded') {
      assert.equal(outcome.reason, 'upstream_invalid_response');
      assert.match(outcome.reasonMessage, /twice returned a ticket I could not validate/);
      assert.deepEqual(outcome.ticket.orderIds, ['#48213']);
    }
    assert.equal(fake.chatCalls().length, 2);
  });

  test('the same message twice is served from the response cache', async () => {
    fake.reset();
    fake.enqueueChat({ content: reply() });
    const same = input();
    const first = await extractTicket(same, { gateway: harness.gateway, configuration });
    const second = await extractTicket(same, { gateway: harness.gateway, configuration });
    assert.equal(first.kind === 'extracted' && first.fromCache, false);
    assert.equal(second.kind === 'extracted' && second.fromCache, true);
    assert.equal(fake.chatCalls().length, 1);
  });
});

describe('degraded mode through the gateway', () => {
  test('with the model fake down, the rule-based extractor fills the card', async () => {
    const stopped = await FakeOpenAIServer.start();
    const baseURL = stopped.baseURL;
    await stopped.close();
    const harness = await createHarness({ baseURL, timeoutMs: 2000 });
    try {
      const outcome = await extractTicket(input(), { gateway: harness.gateway, configuration });
      assert.equal(outcome.kind, 'degraded');
      if (outcome.kind !== 'degraded') return;
      assert.equal(outcome.reason, 'upstream_unavailable');
      assert.deepEqual(outcome.ticket.orderIds, ['#48213']);
      assert.equal(outcome.ticket.customerEmail, 'dana.w@example.org');
      assert.equal(outcome.ticket.deadline, '2026-11-27');
    } finally {
      await harness.cleanup();
    }
  });

  test('with the channel budget spent, the model is not called and the card is rule-based', async () => {
    const harness = await createHarness({ caps: { channelDaily: 1 }, fakeOptions: { whenEmpty: 'error' } });
    try {
      const outcome = await extractTicket(input(), { gateway: harness.gateway, configuration });
      assert.equal(outcome.kind, 'degraded');
      if (outcome.kind === 'degraded') assert.equal(outcome.reason, 'over_budget');
      assert.equal(harness.fake?.chatCalls().length, 0);
    } finally {
      await harness.cleanup();
    }
  });
});
