import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { extractTicket } from '../../src/capabilities/tickets/extract-ticket.ts';
import { ruleBasedTextBudget } from '../../src/capabilities/tickets/rule-based-extractor.ts';
import { buildTicketCard } from '../../src/capabilities/tickets/ticket-card.ts';
import { ticketPromptVersion } from '../../src/capabilities/tickets/ticket-prompt.ts';
import { defaultTicketCategories, emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { DeskhandError } from '../../src/errors.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';
import { tsOf } from './tickets-fakes.ts';

const configuration = { categories: defaultTicketCategories, teamLanguage: 'en' };
const input = {
  text: 'Hi, my order #48213 never arrived, I need it by Friday. <mailto:dana.w@example.org|dana.w@example.org>',
  messageTs: tsOf('2026-11-24T09:00:00Z'),
  workspaceId: 'T1',
  channelId: 'C1',
  userId: 'U1',
  timeZone: 'Europe/Berlin',
};
const modelTicket = emptyTicket({
  summary: 'Order #48213 not delivered; needed by Friday.',
  category: 'missing_delivery',
  urgency: 'high',
  orderIds: ['#48213', 'ORD-55555'],
  customerEmail: 'dana.w@example.org',
  deadline: '2026-11-27',
  language: 'en',
  confidence: 0.9,
});

describe('extractTicket', () => {
  test('calls the gateway with the schema, temperature 0, the prompt version and the channel scope', async () => {
    const gateway = new ScriptedModel().enqueue({ value: modelTicket });
    const outcome = await extractTicket(input, { gateway, configuration });
    assert.equal(outcome.kind, 'extracted');
    const [call] = gateway.calls;
    assert.equal(call?.request.temperature, 0);
    assert.equal(call?.request.purpose, 'ticket');
    assert.equal(call?.request.promptVersion, ticketPromptVersion);
    assert.equal(call?.request.schemaName, 'support_ticket');
    assert.deepEqual(
      { workspaceId: call?.scope.workspaceId, channelId: call?.scope.channelId, userId: call?.scope.userId },
      { workspaceId: 'T1', channelId: 'C1', userId: 'U1' },
    );
    // Slack's mailto markup was decoded before the model saw the text.
    assert.match(String(call?.request.messages.at(-1)?.content), /dana\.w@example\.org/);
    assert.doesNotMatch(String(call?.request.messages.at(-1)?.content), /mailto/);
  });

  test('strips an order id the model invented and flags it; keeps the grounded email', async () => {
    const gateway = new ScriptedModel().enqueue({ value: modelTicket });
    const outcome = await extractTicket(input, { gateway, configuration });
    assert.equal(outcome.kind, 'extracted');
    if (outcome.kind !== 'extracted') return;
    assert.deepEqual(outcome.ticket.orderIds, ['#48213']);
    assert.equal(outcome.ticket.customerEmail, 'dana.w@example.org');
    assert.deepEqual(
      outcome.flags.map((flag) => [flag.kind, flag.value]),
      [['ungrounded_order_id', 'ORD-55555']],
    );
  });

  for (const code of [
    'upstream_unavailable',
    'over_budget',
    'budget_unenforceable',
    'upstream_quota_exhausted',
    'configuration',
  ] as const) {
    test(`falls back to the rule-based extractor when the gateway throws ${code}`, async () => {
      const gateway = new ScriptedModel().enqueue({ error: new DeskhandError(code, 'scripted') });
      const outcome = await extractTicket(input, { gateway, configuration });
      assert.equal(outcome.kind, 'degraded');
      if (outcome.kind !== 'degraded') return;
      assert.equal(outcome.reason, code);
      assert.deepEqual(outcome.ticket.orderIds, ['#48213']);
      assert.equal(outcome.ticket.customerEmail, 'dana.w@example.org');
      assert.equal(outcome.ticket.deadline, '2026-11-27');
      assert.equal(outcome.flags[0]?.kind, 'extracted_without_model');
    });
  }

  test('a twice-malformed reply becomes a rule-based ticket that says why, not a refusal and not a guess', async () => {
    const gateway = new ScriptedModel().enqueue({
      error: new DeskhandError('upstream_invalid_response', 'twice invalid'),
    });
    const outcome = await extractTicket(input, { gateway, configuration });
    assert.equal(outcome.kind, 'degraded');
    if (outcome.kind !== 'degraded') return;
    assert.equal(outcome.reason, 'upstream_invalid_response');
    assert.match(outcome.reasonMessage, /twice returned a ticket I could not validate/);
    assert.deepEqual(outcome.flags[0], {
      kind: 'extracted_without_model',
      value: 'upstream_invalid_response',
      message: outcome.reasonMessage,
    });
    assert.deepEqual(outcome.ticket.orderIds, ['#48213'], 'only what the message says');
  });

  test('with no model configured the rules make the ticket and the gateway is never called', async () => {
    const gateway = new ScriptedModel();
    const outcome = await extractTicket(input, { gateway, configuration, modelConfigured: false });
    assert.equal(outcome.kind, 'degraded');
    if (outcome.kind !== 'degraded') return;
    assert.equal(outcome.reason, 'configuration');
    assert.equal(outcome.reasonMessage, 'No language model is configured.');
    assert.deepEqual(outcome.ticket.orderIds, ['#48213']);
    assert.equal(gateway.calls.length, 0);
  });

  test('the rules path says on the card when it read only the first part of a long message', async () => {
    const gateway = new ScriptedModel();
    const long = `Order #48213 never arrived.${' The parcel tracker shows nothing new.'.repeat(400)}`;
    assert.ok(long.length > ruleBasedTextBudget);
    const outcome = await extractTicket({ ...input, text: long }, { gateway, configuration, modelConfigured: false });
    assert.equal(outcome.kind, 'degraded');
    if (outcome.kind !== 'degraded') return;
    assert.equal(outcome.truncated, true);
    const flag = outcome.flags.find((candidate) => candidate.kind === 'input_truncated');
    assert.equal(flag?.value, String(long.length));
    assert.equal(
      flag?.message,
      `The message was too long (${long.length} characters); only the first ${ruleBasedTextBudget} were read.`,
    );
    const card = buildTicketCard({ draftId: 'd1', ticket: outcome.ticket, flags: outcome.flags, mode: 'rules' });
    assert.match(JSON.stringify(card.blocks), /only the first 12000 were read/);
    const short = await extractTicket(input, { gateway, configuration, modelConfigured: false });
    assert.equal(
      short.kind === 'degraded' && short.flags.some((candidate) => candidate.kind === 'input_truncated'),
      false,
    );
  });

  test('a cancelled extraction ends without a card (there is no one left to show it to)', async () => {
    const gateway = new ScriptedModel().enqueue({ error: new DeskhandError('cancelled', 'shutdown') });
    const outcome = await extractTicket(input, { gateway, configuration });
    assert.equal(outcome.kind, 'failed');
    assert.equal(outcome.kind === 'failed' && outcome.code, 'cancelled');
  });

  test('flags a repaired reply and reports cache hits', async () => {
    const gateway = new ScriptedModel().enqueue({
      value: { ...modelTicket, orderIds: ['#48213'] },
      repaired: true,
      fromCache: true,
    });
    const outcome = await extractTicket(input, { gateway, configuration });
    assert.equal(outcome.kind, 'extracted');
    if (outcome.kind !== 'extracted') return;
    assert.equal(outcome.fromCache, true);
    assert.equal(outcome.repaired, true);
    assert.deepEqual(
      outcome.flags.map((flag) => flag.kind),
      ['repaired_output'],
    );
  });

  test('rejects empty text, a file-only message and a mention-only message with specific messages', async () => {
    const gateway = new ScriptedModel();
    const empty = await extractTicket({ ...input, text: '   ' }, { gateway, configuration });
    assert.deepEqual(empty.kind === 'rejected' && empty.reason, 'empty');
    const image = await extractTicket(
      { ...input, text: '', files: [{ name: 'crash.png', mimetype: 'image/png' }] },
      { gateway, configuration },
    );
    assert.equal(image.kind, 'rejected');
    if (image.kind === 'rejected') {
      assert.equal(image.reason, 'only_files');
      assert.match(image.message, /only has an image/);
    }
    const mention = await extractTicket({ ...input, text: '<@U0DESKHAND> :ticket:' }, { gateway, configuration });
    assert.equal(mention.kind === 'rejected' && mention.reason, 'unreadable');
    assert.equal(gateway.calls.length, 0, 'no model call for input that has no text');
  });

  test('truncates text over the token limit and says so on the ticket', async () => {
    const gateway = new ScriptedModel().enqueue({
      value: { ...modelTicket, orderIds: [], customerEmail: null },
    });
    const long = `${'My card keeps getting declined at the supermarket. '.repeat(300)}`;
    const outcome = await extractTicket(
      { ...input, text: long },
      { gateway, configuration: { ...configuration, maxInputTokens: 100 } },
    );
    assert.equal(outcome.kind, 'extracted');
    if (outcome.kind !== 'extracted') return;
    assert.equal(outcome.truncated, true);
    assert.equal(outcome.flags[0]?.kind, 'input_truncated');
    assert.match(String(outcome.flags[0]?.message), /only the first 100 tokens were read/);
  });

  test('an unexpected error of the model call still ends in a rule-based ticket', async () => {
    const gateway = new ScriptedModel().enqueue({ error: new DeskhandError('internal', 'boom') });
    const outcome = await extractTicket(input, { gateway, configuration });
    assert.equal(outcome.kind, 'degraded');
    assert.equal(outcome.kind === 'degraded' && outcome.reasonMessage, 'The model call failed unexpectedly.');
  });
});
