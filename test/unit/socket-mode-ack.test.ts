/**
 * Socket Mode gets the same inbound guard as HTTP (issue 14): what no listener acknowledged is acknowledged,
 * and a malformed envelope — which has no 400 to get — is acknowledged and dropped instead of redelivered.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { App, ReceiverEvent } from '@slack/bolt';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { deferSocketModeAcks } from '../../src/slack/receiver.ts';
import { EnvelopeReceiver } from '../support/envelope-receiver.ts';

function envelope(body: unknown, log: string[]): ReceiverEvent {
  return {
    body,
    retryNum: undefined,
    retryReason: undefined,
    customProperties: {},
    ack: async (response?: unknown) => {
      log.push(`ack:${JSON.stringify(response ?? null)}`);
    },
  } as unknown as ReceiverEvent;
}

function guardedReceiver(processed: unknown[]) {
  const receiver = deferSocketModeAcks(new EnvelopeReceiver(), {
    logger: createSilentLogger(),
    registry: createMetricsRegistry(),
  });
  // Like Bolt with no matching listener: processes, acknowledges nothing.
  receiver.init({ processEvent: async (event: ReceiverEvent) => void processed.push(event.body) } as unknown as App);
  return receiver;
}

describe('deferSocketModeAcks with the inbound guard', () => {
  test('an interaction no listener acknowledged is acknowledged', async () => {
    const log: string[] = [];
    const processed: unknown[] = [];
    const body = { type: 'view_closed', user: { id: 'W1' }, view: { id: 'V1', callback_id: 'old' } };
    await guardedReceiver(processed).deliver(envelope(body, log));
    assert.equal(processed.length, 1);
    assert.deepEqual(log, ['ack:null']);
  });

  test('a malformed envelope is acknowledged and never reaches Bolt', async () => {
    const log: string[] = [];
    const processed: unknown[] = [];
    await guardedReceiver(processed).deliver(envelope({ type: 'block_actions', actions: [] }, log));
    assert.deepEqual(processed, []);
    assert.deepEqual(log, ['ack:null']);
  });
});
