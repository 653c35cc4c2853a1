import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { App, ReceiverEvent } from '@slack/bolt';
import { deferSocketModeAcks } from '../../src/slack/receiver.ts';
import { EnvelopeReceiver } from '../support/envelope-receiver.ts';

function envelope(log: string[]): ReceiverEvent {
  return {
    body: { type: 'event_callback', event_id: 'Ev1' },
    retryNum: undefined,
    retryReason: undefined,
    customProperties: {},
    ack: async (response?: unknown) => {
      log.push(`ack:${JSON.stringify(response ?? null)}`);
    },
  } as unknown as ReceiverEvent;
}

describe('deferSocketModeAcks', () => {
  test('sends the envelope ack only after the listeners have finished, with the body they acked', async () => {
    const log: string[] = [];
    const receiver = deferSocketModeAcks(new EnvelopeReceiver());
    receiver.init({
      processEvent: async (event: ReceiverEvent) => {
        await event.ack({ response_action: 'clear' });
        log.push('acked by listener');
        await sleep(50);
        log.push('listener stored its work');
      },
    } as unknown as App);
    await receiver.deliver(envelope(log));
    assert.deepEqual(log, ['acked by listener', 'listener stored its work', 'ack:{"response_action":"clear"}']);
  });

  test('does not ack when processing fails, so the envelope is redelivered', async () => {
    const log: string[] = [];
    const receiver = deferSocketModeAcks(new EnvelopeReceiver());
    receiver.init({
      processEvent: async (event: ReceiverEvent) => {
        await event.ack();
        throw new Error('work item could not be stored');
      },
    } as unknown as App);
    await assert.rejects(receiver.deliver(envelope(log)), /could not be stored/);
    assert.deepEqual(log, []);
  });
});
