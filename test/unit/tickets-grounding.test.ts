import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { groundTicket } from '../../src/capabilities/tickets/grounding.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { tsOf } from './tickets-fakes.ts';

const context = { messageTs: tsOf('2026-11-24T09:00:00Z'), timeZone: 'Europe/Berlin' };

describe('grounding', () => {
  test('strips an order id the model invented and flags it, keeping the real one', () => {
    const ticket = emptyTicket({ summary: 's', orderIds: ['#48213', 'ORD-99812'] });
    const result = groundTicket(ticket, { ...context, sourceText: 'My order #48213 has not arrived' });
    assert.deepEqual(result.ticket.orderIds, ['#48213']);
    assert.equal(result.flags.length, 1);
    assert.equal(result.flags[0]?.kind, 'ungrounded_order_id');
    assert.equal(result.flags[0]?.value, 'ORD-99812');
    assert.match(String(result.flags[0]?.message), /does not appear in the message/);
  });

  test('compares ids normalised: case, spaces, dashes and # do not matter, an extra digit does', () => {
    const sourceText = 'ref ord 2291 x and order 48213';
    const result = groundTicket(emptyTicket({ summary: 's', orderIds: ['ORD-2291-X', '#48213', '482130', '4821'] }), {
      ...context,
      sourceText,
    });
    assert.deepEqual(result.ticket.orderIds, ['ORD-2291-X', '#48213']);
    assert.deepEqual(
      result.flags.map((flag) => flag.value),
      ['482130', '4821'],
    );
  });

  test('removes an email and a name that are not in the text', () => {
    const result = groundTicket(
      emptyTicket({ summary: 's', customerEmail: 'dana@example.org', customerName: 'Dana Smith' }),
      {
        ...context,
        sourceText: 'Hi, Dana here. Reach me at dana.w@example.org',
      },
    );
    assert.equal(result.ticket.customerEmail, null);
    assert.equal(result.ticket.customerName, null);
    assert.deepEqual(
      result.flags.map((flag) => flag.kind),
      ['ungrounded_email', 'ungrounded_name'],
    );
  });

  test('keeps an email that differs only in case, and a name in another script', () => {
    const result = groundTicket(
      emptyTicket({ summary: 's', customerEmail: 'Dana.W@Example.org', customerName: '山田太郎' }),
      {
        ...context,
        sourceText: '山田太郎です。dana.w@example.org まで連絡ください',
      },
    );
    assert.equal(result.ticket.customerEmail, 'Dana.W@Example.org');
    assert.equal(result.ticket.customerName, '山田太郎');
    assert.deepEqual(result.flags, []);
  });

  test('removes a deadline before the message day or more than a year after it', () => {
    const before = groundTicket(emptyTicket({ summary: 's', deadline: '2026-11-23' }), { ...context, sourceText: 'x' });
    assert.equal(before.ticket.deadline, null);
    assert.equal(before.flags[0]?.kind, 'deadline_before_message');
    const far = groundTicket(emptyTicket({ summary: 's', deadline: '2028-01-01' }), { ...context, sourceText: 'x' });
    assert.equal(far.ticket.deadline, null);
    assert.equal(far.flags[0]?.kind, 'deadline_too_far');
    const sameDay = groundTicket(emptyTicket({ summary: 's', deadline: '2026-11-24' }), {
      ...context,
      sourceText: 'x',
    });
    assert.equal(sameDay.ticket.deadline, '2026-11-24');
  });

  test('judges "before the message" in the workspace zone, not in UTC', () => {
    // 23:30 UTC on the 26th is already the 27th in Tokyo: the 26th is in the past there.
    const ts = tsOf('2026-11-26T23:30:00Z');
    const tokyo = groundTicket(emptyTicket({ summary: 's', deadline: '2026-11-26' }), {
      messageTs: ts,
      timeZone: 'Asia/Tokyo',
      sourceText: 'x',
    });
    const newYork = groundTicket(emptyTicket({ summary: 's', deadline: '2026-11-26' }), {
      messageTs: ts,
      timeZone: 'America/New_York',
      sourceText: 'x',
    });
    assert.equal(tokyo.ticket.deadline, null);
    assert.equal(newYork.ticket.deadline, '2026-11-26');
  });
});
