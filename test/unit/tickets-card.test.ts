import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TicketFlag } from '../../src/capabilities/tickets/grounding.ts';
import {
  buildDiscardedCard,
  buildFiledCard,
  buildTicketCard,
  buildTriageMessage,
  slackLimits,
  withoutModelNote,
} from '../../src/capabilities/tickets/ticket-card.ts';
import {
  buildEditModal,
  parseEditSubmission,
  type ViewStateValues,
} from '../../src/capabilities/tickets/ticket-edit-modal.ts';
import { defaultTicketCategories, emptyTicket, type Ticket } from '../../src/capabilities/tickets/ticket-schema.ts';
import type { Block } from '../../src/ports/messenger.ts';
import {
  ticketActionIds,
  ticketEditBlockIds,
  ticketEditInputActionId,
  ticketEditModalCallbackId,
} from '../../src/slack-kit/ticket-ids.ts';
import { checkMessage, checkView } from '../fakes/slack-limits.ts';

const ticket: Ticket = emptyTicket({
  summary: 'Order #48213 has not arrived; needed by Friday.',
  category: 'missing_delivery',
  urgency: 'high',
  urgencyReason: 'needs it by Friday',
  orderIds: ['#48213'],
  customerEmail: 'dana.w@example.org',
  deadline: '2026-11-27',
  questionsToAsk: ['Which address?'],
  confidence: 0.9,
});

/** Checks the Slack limits from docs/platform-facts.md on a list of blocks. */
function assertWithinLimits(blocks: Block[]): void {
  assert.ok(blocks.length <= slackLimits.blocksPerMessage, `${blocks.length} blocks`);
  for (const block of blocks) {
    const text = (block.text as { text?: string } | undefined)?.text;
    if (text !== undefined) assert.ok(text.length <= slackLimits.sectionText, `section text ${text.length}`);
    const fields = (block.fields as { text: string }[] | undefined) ?? [];
    assert.ok(fields.length <= slackLimits.fieldsPerSection);
    for (const item of fields) assert.ok(item.text.length <= slackLimits.sectionField, `field ${item.text.length}`);
    const elements = (block.elements as { action_id?: string; text?: unknown }[] | undefined) ?? [];
    const actionIds = elements.flatMap((element) => (element.action_id ? [element.action_id] : []));
    assert.equal(new Set(actionIds).size, actionIds.length, 'action_id unique within a block');
    if (block.type === 'context') {
      assert.ok(elements.length <= slackLimits.contextElements);
      for (const element of elements) assert.ok(String((element as { text: string }).text).length <= 3000);
    }
  }
  assert.equal(checkMessage('fallback', blocks), undefined, 'the Slack fake accepts the message');
}

describe('ticket card', () => {
  test('shows fields, confidence, what is missing, and File / Edit / Discard carrying the draft id', () => {
    const card = buildTicketCard({ draftId: 'DH-ABC', ticket, flags: [], mode: 'model' });
    assertWithinLimits(card.blocks);
    const json = JSON.stringify(card.blocks);
    assert.match(json, /#48213/);
    assert.match(json, /90 %/);
    assert.match(json, /\*Missing:\* Customer, Product/);
    assert.match(json, /Which address\?/);
    const actions = card.blocks.find((block) => block.type === 'actions') as unknown as {
      elements: { action_id: string; value: string }[];
    };
    assert.deepEqual(
      actions.elements.map((element) => element.action_id),
      [ticketActionIds.file, ticketActionIds.edit, ticketActionIds.discard],
    );
    assert.ok(actions.elements.every((element) => element.value === 'DH-ABC'));
    assert.doesNotMatch(json, /without the model/);
  });

  test('says "extracted without the model" in degraded mode and lists grounding flags', () => {
    const flags: TicketFlag[] = [
      {
        kind: 'ungrounded_order_id',
        value: 'ORD-1',
        message: 'Removed order id "ORD-1": it does not appear in the message.',
      },
    ];
    const card = buildTicketCard({ draftId: 'DH-ABC', ticket, flags, mode: 'rules' });
    const json = JSON.stringify(card.blocks);
    assert.ok(json.includes(JSON.stringify(withoutModelNote).slice(1, -1)));
    assert.match(json, /Removed order id/);
  });

  test('escapes customer and model text so it cannot ping @channel or fake a link', () => {
    const hostile = {
      ...ticket,
      summary: 'Hi <!channel> see <https://evil.example|your bank>',
      customerName: '<@U999>',
    };
    const json = JSON.stringify(buildTicketCard({ draftId: 'D', ticket: hostile, flags: [], mode: 'model' }).blocks);
    assert.doesNotMatch(json, /<!channel>/);
    assert.doesNotMatch(json, /<https:\/\/evil/);
    assert.doesNotMatch(json, /<@U999>/);
    assert.match(json, /&lt;!channel&gt;/);
  });

  test('stays within Slack limits with maximal content', () => {
    const huge: Ticket = {
      ...ticket,
      summary: 'x'.repeat(300),
      urgencyReason: '&'.repeat(200),
      orderIds: Array.from({ length: 20 }, (_, index) => `${'9'.repeat(60)}${index}`),
      customerName: 'n'.repeat(120),
      product: 'p'.repeat(120),
      questionsToAsk: Array.from({ length: 5 }, () => 'q'.repeat(200)),
    };
    const flags = Array.from({ length: 25 }, (_, index) => ({
      kind: 'ungrounded_order_id' as const,
      value: String(index),
      message: 'm'.repeat(400),
    }));
    assertWithinLimits(buildTicketCard({ draftId: 'D', ticket: huge, flags, mode: 'rules', editedBy: 'U1' }).blocks);
    assertWithinLimits(
      buildFiledCard({ ticket: huge, filedBy: 'U1', reference: 'DH-1', mode: 'rules', links: ['https://x'] }).blocks,
    );
    assertWithinLimits(buildTriageMessage({ ticketId: 'DH-1', ticket: huge, filedBy: 'U1', mode: 'model' }).blocks);
    assertWithinLimits(buildDiscardedCard({ ticket: huge, discardedBy: 'U1' }).blocks);
  });

  test('the filed card names who filed it and the reference, without buttons', () => {
    const card = buildFiledCard({ ticket, filedBy: 'U123', reference: 'HD-777', mode: 'model' });
    assert.equal(card.text, 'Filed by <@U123> — reference HD-777');
    assert.equal(
      card.blocks.some((block) => block.type === 'actions'),
      false,
    );
  });
});

function submission(overrides: Partial<Record<keyof typeof ticketEditBlockIds, unknown>> = {}): ViewStateValues {
  const ids = ticketEditBlockIds;
  const defaults: Record<string, unknown> = {
    summary: { type: 'plain_text_input', value: 'Parcel missing' },
    category: { type: 'static_select', selected_option: { value: 'missing_delivery' } },
    urgency: { type: 'static_select', selected_option: { value: 'high' } },
    urgencyReason: { type: 'plain_text_input', value: null },
    orderIds: { type: 'plain_text_input', value: '#48213, ORD-7' },
    customerName: { type: 'plain_text_input', value: 'Dana' },
    customerEmail: { type: 'plain_text_input', value: 'dana@example.org' },
    product: { type: 'plain_text_input', value: null },
    deadline: { type: 'datepicker', selected_date: '2026-11-27' },
    frequency: { type: 'static_select', selected_option: null },
    language: { type: 'plain_text_input', value: 'EN' },
    questionsToAsk: { type: 'plain_text_input', value: 'Which address?\n\nWhen did you order?' },
  };
  const values: ViewStateValues = {};
  for (const [name, blockId] of Object.entries(ids)) {
    values[blockId] = { [ticketEditInputActionId]: (overrides[name as keyof typeof ids] ?? defaults[name]) as never };
  }
  return values;
}

describe('edit modal', () => {
  test('is pre-filled with the draft and carries its id and version', () => {
    const view = buildEditModal({
      ticket,
      categories: defaultTicketCategories,
      metadata: { workspaceId: 'T1', draftId: 'DH-ABC', version: 3, channel: 'C1', ts: '1.2' },
    }) as { callback_id: string; private_metadata: string; blocks: Block[]; title: { text: string } };
    assert.equal(view.callback_id, ticketEditModalCallbackId);
    assert.deepEqual(JSON.parse(view.private_metadata), {
      workspaceId: 'T1',
      draftId: 'DH-ABC',
      version: 3,
      channel: 'C1',
      ts: '1.2',
    });
    assert.ok(view.title.text.length <= slackLimits.modalTitle);
    const byId = new Map(
      view.blocks.map((block) => [block.block_id as string, block.element as Record<string, unknown>]),
    );
    assert.equal(byId.get(ticketEditBlockIds.summary)?.initial_value, ticket.summary);
    assert.deepEqual(byId.get(ticketEditBlockIds.category)?.initial_option, {
      text: { type: 'plain_text', text: 'missing delivery' },
      value: 'missing_delivery',
    });
    assert.equal(byId.get(ticketEditBlockIds.orderIds)?.initial_value, '#48213');
    assert.equal(byId.get(ticketEditBlockIds.deadline)?.initial_date, '2026-11-27');
    assert.equal(byId.get(ticketEditBlockIds.customerName)?.initial_value, undefined);
    assert.ok(view.blocks.length <= 100);
    assert.equal(checkView(view), undefined, 'the Slack fake accepts the view');
  });

  test('a valid submission becomes the corrected ticket', () => {
    const result = parseEditSubmission(submission(), ticket, defaultTicketCategories);
    assert.equal(result.ok, true);
    if (!result.ok) return;
    assert.deepEqual(result.ticket.orderIds, ['#48213', 'ORD-7']);
    assert.equal(result.ticket.language, 'en');
    assert.equal(result.ticket.frequency, null);
    assert.deepEqual(result.ticket.questionsToAsk, ['Which address?', 'When did you order?']);
    assert.equal(result.ticket.confidence, ticket.confidence);
  });

  test('invalid fields come back as response_action errors keyed by block id', () => {
    const result = parseEditSubmission(
      submission({
        customerEmail: { type: 'plain_text_input', value: 'not-an-email' },
        language: { type: 'plain_text_input', value: 'english' },
        summary: { type: 'plain_text_input', value: '   ' },
        questionsToAsk: { type: 'plain_text_input', value: 'a\nb\nc\nd\ne\nf' },
      }),
      ticket,
      defaultTicketCategories,
    );
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.response.response_action, 'errors');
    assert.deepEqual(
      Object.keys(result.response.errors).sort(),
      [
        ticketEditBlockIds.customerEmail,
        ticketEditBlockIds.language,
        ticketEditBlockIds.questionsToAsk,
        ticketEditBlockIds.summary,
      ].sort(),
    );
    assert.match(String(result.response.errors[ticketEditBlockIds.customerEmail]), /email/);
  });

  test('rejects a category that is not configured', () => {
    const result = parseEditSubmission(
      submission({ category: { type: 'static_select', selected_option: { value: 'refund' } } }),
      ticket,
      defaultTicketCategories,
    );
    assert.equal(result.ok, false);
    if (!result.ok) assert.ok(result.response.errors[ticketEditBlockIds.category]);
  });
});
