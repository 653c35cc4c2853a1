import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TicketDelivery, TicketSink } from '../../src/capabilities/tickets/sinks/ticket-sink.ts';
import { fileTicketThroughSinks } from '../../src/composition/file-ticket-through-sinks.ts';

function recordingSink(): TicketSink & { deliveries: TicketDelivery[] } {
  const deliveries: TicketDelivery[] = [];
  return {
    name: 'recording',
    deliveries,
    async deliver(delivery) {
      deliveries.push(delivery);
      return {};
    },
  };
}

const request = (idempotencyKey: string) => ({
  ticket: {
    summary: 'Two orders the customer did not place',
    category: 'account_access',
    urgency: 'critical' as const,
    description: '',
    orderIds: ['LK-530018'],
    customerEmail: null,
  },
  workspaceId: 'T1',
  channelId: 'C1',
  threadTs: '1700000000.000100',
  requesterId: 'U1',
  approvedBy: 'U2',
  idempotencyKey,
  signal: AbortSignal.timeout(1_000),
});

describe("the agent's file_ticket through the sinks", () => {
  test('files under a DH- id like a card, the same id for a re-run of the same call, another for another call', async () => {
    const sink = recordingSink();
    const first = await fileTicketThroughSinks(request('run-1:call-3'), [sink], 'en');
    const again = await fileTicketThroughSinks(request('run-1:call-3'), [sink], 'en');
    const other = await fileTicketThroughSinks(request('run-2:call-1'), [sink], 'en');
    assert.match(first.reference, /^DH-[0-9A-HJKMNP-TV-Z]{10}$/);
    assert.equal(again.reference, first.reference);
    assert.notEqual(other.reference, first.reference);
    assert.deepEqual(
      sink.deliveries.map((delivery) => delivery.ticketId),
      [first.reference, first.reference, other.reference],
    );
    assert.equal(sink.deliveries[0]?.filedBy, 'U2');
  });

  test('without a sink it says what to configure', async () => {
    await assert.rejects(fileTicketThroughSinks(request('run-1'), [], 'en'), /no ticket sink configured/);
  });
});
