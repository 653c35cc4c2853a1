import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { TicketDelivery } from '../../src/capabilities/tickets/sinks/ticket-sink.ts';
import {
  signWebhookBody,
  verifyWebhookSignature,
  WebhookTicketSink,
} from '../../src/capabilities/tickets/sinks/webhook-sink.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { isDeskhandError } from '../../src/errors.ts';

const secret = 'whsec_test_0123456789';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  signatureValid: boolean;
}

/** A webhook receiver on 127.0.0.1 that verifies signatures and answers from a script. */
let server: Server;
let url: string;
const received: Received[] = [];
let responses: { status: number; body?: string; headers?: Record<string, string>; destroy?: boolean }[] = [];

before(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signatureHeader = request.headers['x-deskhand-signature'];
      const timestampHeader = request.headers['x-deskhand-timestamp'];
      received.push({
        headers: request.headers,
        body,
        signatureValid: verifyWebhookSignature({
          secret,
          body,
          signature: typeof signatureHeader === 'string' ? signatureHeader : undefined,
          timestamp: typeof timestampHeader === 'string' ? timestampHeader : undefined,
        }),
      });
      const next = responses.shift() ?? { status: 200, body: '{}' };
      if (next.destroy) {
        request.socket.destroy();
        return;
      }
      response.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      response.end(next.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/tickets`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received.length = 0;
  responses = [];
});

const delivery: TicketDelivery = {
  ticketId: 'DH-TESTTICKET01',
  workspaceId: 'T1',
  ticket: emptyTicket({ summary: 'Parcel missing', category: 'missing_delivery', orderIds: ['#48213'] }),
  source: { channelId: 'C1', messageTs: '1764000000.000100' },
  filedBy: 'U1',
  filedAt: '2026-11-28T08:00:00.000Z',
  extractedWithoutModel: false,
};

function sinkWithRecordedSleeps(overrides: Partial<ConstructorParameters<typeof WebhookTicketSink>[0]> = {}) {
  const sleeps: number[] = [];
  const sink = new WebhookTicketSink({
    url,
    secret,
    random: () => 1,
    sleep: async (milliseconds) => {
      sleeps.push(milliseconds);
    },
    timeoutMs: 2000,
    ...overrides,
  });
  return { sink, sleeps };
}

describe('webhook sink', () => {
  test('posts the ticket as JSON, HMAC-signed over timestamp and body, with the ticket id as idempotency key', async () => {
    responses.push({ status: 201, body: JSON.stringify({ reference: 'HD-4411' }) });
    const { sink } = sinkWithRecordedSleeps();
    const result = await sink.deliver(delivery);
    assert.deepEqual(result, { reference: 'HD-4411' });
    assert.equal(received.length, 1);
    const [request] = received;
    assert.equal(request?.signatureValid, true);
    assert.equal(request?.headers['idempotency-key'], 'DH-TESTTICKET01');
    assert.equal(request?.headers['content-type'], 'application/json');
    const body = JSON.parse(String(request?.body)) as { id: string; type: string; ticket: { orderIds: string[] } };
    assert.equal(body.id, 'DH-TESTTICKET01');
    assert.equal(body.type, 'ticket.filed');
    assert.deepEqual(body.ticket.orderIds, ['#48213']);
  });

  test('a receiver accepts the genuine signature and rejects a tampered body, a wrong secret or a stale timestamp', () => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const body = '{"id":"DH-1"}';
    const signature = signWebhookBody(secret, timestamp, body);
    assert.equal(verifyWebhookSignature({ secret, timestamp, body, signature }), true);
    assert.equal(verifyWebhookSignature({ secret, timestamp, body: '{"id":"DH-2"}', signature }), false);
    assert.equal(verifyWebhookSignature({ secret: 'another-secret', timestamp, body, signature }), false);
    const stale = String(Number(timestamp) - 600);
    assert.equal(
      verifyWebhookSignature({ secret, timestamp: stale, body, signature: signWebhookBody(secret, stale, body) }),
      false,
    );
  });

  test('retries 5xx and network errors with exponential backoff, same body and key every time', async () => {
    responses.push({ status: 503 }, { status: 0, destroy: true }, { status: 502 }, { status: 200, body: 'ok' });
    const { sink, sleeps } = sinkWithRecordedSleeps({ baseDelayMs: 100, maxAttempts: 5 });
    const result = await sink.deliver(delivery);
    assert.deepEqual(result, {});
    assert.equal(received.length, 4);
    assert.deepEqual(sleeps, [100, 200, 400]);
    assert.equal(new Set(received.map((request) => request.body)).size, 1);
    assert.ok(
      received.every((request) => request.headers['idempotency-key'] === 'DH-TESTTICKET01' && request.signatureValid),
    );
  });

  test('does not retry a 4xx and reports it clearly', async () => {
    responses.push({ status: 400, body: '{"error":"bad"}' });
    const { sink, sleeps } = sinkWithRecordedSleeps();
    await assert.rejects(sink.deliver(delivery), (error: unknown) => {
      assert.ok(isDeskhandError(error));
      assert.equal(error.retryable, false);
      assert.match(error.userMessage, /rejected the ticket \(HTTP 400\)/);
      return true;
    });
    assert.equal(received.length, 1);
    assert.deepEqual(sleeps, []);
  });

  test('honours Retry-After on 429 and gives up after the last attempt', async () => {
    responses.push({ status: 429, headers: { 'retry-after': '1' } }, { status: 500 }, { status: 500 });
    const { sink, sleeps } = sinkWithRecordedSleeps({ maxAttempts: 3, baseDelayMs: 100 });
    await assert.rejects(sink.deliver(delivery), (error: unknown) => {
      assert.ok(isDeskhandError(error));
      assert.equal(error.retryable, true);
      assert.match(error.message, /after 3 attempts: HTTP 500/);
      return true;
    });
    assert.equal(received.length, 3);
    assert.deepEqual(sleeps, [1000, 200]);
  });

  test('backoff doubles and is capped, with jitter in the upper half', () => {
    const { sink } = sinkWithRecordedSleeps({ baseDelayMs: 500, maxDelayMs: 4000, random: () => 0 });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => sink.backoffMs(attempt)),
      [250, 500, 1000, 2000, 2000],
    );
  });
});
