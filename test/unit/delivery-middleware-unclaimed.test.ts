/**
 * The delivery middleware on its own, with its de-duplication pointed at a closed port (7202) while everything
 * else would work: the listeners must not run, because work run without a claim is run again by the sweeper or
 * a redelivery (issue 17). An event is refused with `DeliveryUnclaimedError` (the receiver answers 503); a
 * command is acknowledged with the "try again" text.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { AllMiddlewareArgs, AnyMiddlewareArgs } from '@slack/bolt';
import { Redis } from 'ioredis';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { deliveryMiddleware } from '../../src/slack/delivery-middleware.ts';
import { unclaimedText } from '../../src/slack/unclaimed-delivery.ts';
import { DeliveryDeduplicator } from '../../src/work/dedupe.ts';
import { isDeliveryUnclaimed, isWorkNotStoredError } from '../../src/work/work-errors.ts';

const closed = new Redis({ port: 7202, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
closed.on('error', () => {});
after(() => closed.disconnect());

function middleware() {
  return deliveryMiddleware({
    dedupe: new DeliveryDeduplicator({ redis: closed, keyPrefix: 'test:unclaimed:' }),
    logger: createSilentLogger(),
    registry: createMetricsRegistry(),
  });
}

function argsOf(body: Record<string, unknown>, acks: unknown[], ran: { count: number }) {
  return {
    body,
    context: {},
    next: async () => {
      ran.count += 1;
    },
    ack: async (response?: unknown) => {
      acks.push(response);
    },
  } as unknown as AnyMiddlewareArgs & AllMiddlewareArgs;
}

test('an event whose claim fails runs no listener and is refused so that Slack redelivers it', async () => {
  const ran = { count: 0 };
  const acks: unknown[] = [];
  const handle = middleware();
  const body = { type: 'event_callback', event_id: 'Ev0UNCLAIMED', event: { type: 'app_mention' } };
  await assert.rejects(handle(argsOf(body, acks, ran)), (error: unknown) => {
    assert.ok(isDeliveryUnclaimed(error), 'refused as unclaimed');
    assert.ok(isWorkNotStoredError(error), 'which the app rethrows so the receiver does not send the ack');
    assert.equal((error as { code: string }).code, 'upstream_unavailable');
    return true;
  });
  assert.equal(ran.count, 0, 'no listener ran');
  assert.equal(handle.inFlight(), 0);
});

test('a command whose claim fails runs no listener and is acknowledged with "try again"', async () => {
  const ran = { count: 0 };
  const acks: unknown[] = [];
  await middleware()(argsOf({ command: '/ask', text: 'refunds?', user_id: 'W1', channel_id: 'C1' }, acks, ran));
  assert.equal(ran.count, 0, 'no listener ran');
  assert.deepEqual(acks, [{ response_type: 'ephemeral', text: unclaimedText }]);
});
