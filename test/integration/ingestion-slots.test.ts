/**
 * The per-workspace cap on concurrent ingestions (issue 14, "Bounded work"), on real Redis: a third ingestion in a
 * workspace with two running is refused naming the limit, across two "replicas" (two clients); a slot frees on
 * release, when the ingestion throws, and when a crashed holder's lease expires; a running ingestion keeps its
 * lease alive past `leaseMs` by renewing it; other workspaces are not affected.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { IngestionSlots } from '../../src/capabilities/documents/ingestion/ingestion-slots.ts';
import { DeskhandError } from '../../src/errors.ts';

const keyPrefix = `test:ingestion-slots:${randomUUID()}:`;
let redis: Redis;
let replica: Redis;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  replica = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});
after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  replica.disconnect();
});

async function refusal(promise: Promise<unknown>): Promise<DeskhandError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  assert.ok(error instanceof DeskhandError, `expected a refusal, got ${String(error)}`);
  return error;
}

describe('per-workspace ingestion slots', () => {
  test('the third concurrent ingestion is refused naming the limit, also from another replica; release frees it', async () => {
    const first = new IngestionSlots(redis, { keyPrefix });
    const second = new IngestionSlots(replica, { keyPrefix });
    const leases = [await first.tryAcquire('T1'), await second.tryAcquire('T1')];
    assert.ok(leases.every((lease) => lease !== undefined));
    for (const slots of [first, second]) {
      const error = await refusal(slots.run('T1', async () => 'read'));
      assert.equal(error.code, 'not_available_yet');
      assert.equal(
        error.userMessage,
        'Deskhand is already reading 2 documents for this workspace; share this one again when they are done.',
      );
      assert.deepEqual(error.details, { reason: 'ingestions_in_progress', limit: 2 });
    }
    assert.equal(await first.run('T2', async () => 'other workspace'), 'other workspace');
    await leases[0]?.release();
    assert.equal(await second.run('T1', async () => 'after release'), 'after release');
    await leases[1]?.release();
  });

  test('a slot frees when the ingestion throws', async () => {
    const slots = new IngestionSlots(redis, { keyPrefix, limit: 1 });
    await assert.rejects(
      slots.run('T3', async () => {
        throw new Error('parse failed');
      }),
      /parse failed/,
    );
    assert.equal(await slots.run('T3', async () => 'free again'), 'free again');
  });

  test("a crashed holder's lease expires by itself; a live one is renewed past leaseMs", async () => {
    const slots = new IngestionSlots(redis, { keyPrefix, limit: 1, leaseMs: 300 });
    // A holder that acquired and then vanished (never released, never renewed).
    await redis.eval(
      "redis.call('ZADD', KEYS[1], ARGV[1], 'crashed') return 1",
      1,
      `${keyPrefix}ingestion:slots:{T4}`,
      Date.now() + 300,
    );
    await refusal(slots.run('T4', async () => 'blocked'));
    await sleep(450);
    const live = await slots.tryAcquire('T4');
    assert.ok(live);
    await sleep(700); // more than two lease lengths: only renewal keeps it
    const error = await refusal(slots.run('T4', async () => 'blocked'));
    assert.match(error.userMessage, /already reading a document for this workspace/);
    await live.release();
    assert.equal(await slots.run('T4', async () => 'done'), 'done');
  });
});
