/**
 * The labelled ticket examples on the real Redis: the cap evicts the oldest, re-recording replaces and renews,
 * delete and clear, keys hash-tagged by workspace and covered by the uninstall purge, and the in-memory indexes
 * following every change without mixing workspaces.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { type TicketExample, ticketExampleOf } from '../../src/capabilities/tickets/learning/ticket-example.ts';
import { TicketExampleStore } from '../../src/capabilities/tickets/learning/ticket-example-store.ts';
import { WorkspaceExampleIndexes } from '../../src/capabilities/tickets/learning/workspace-example-indexes.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { workspaceKeyPrefixes } from '../../src/slack/installations/workspace-purge.ts';

const prefix = `test:${randomUUID()}:`;
let redis: Redis;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function example(id: string, text: string, category = 'billing', urgency: 'low' | 'high' = 'low'): TicketExample {
  return ticketExampleOf({
    id,
    text,
    ticket: emptyTicket({ summary: text, category, urgency }),
    messageTs: '1795510800.000000',
    timeZone: 'UTC',
    origin: 'corrected',
    recordedBy: 'W1',
    recordedAt: '2026-12-05T00:00:00.000Z',
  });
}

describe('ticket example store', () => {
  test('keeps at most cap examples per workspace, evicting the oldest; re-recording renews an example', async () => {
    const store = new TicketExampleStore(redis, { keyPrefix: prefix, cap: 3 });
    const workspace = 'T0CAP';
    for (const id of ['e1', 'e2', 'e3']) assert.equal(await store.record(workspace, example(id, `text ${id}`)), 0);
    await store.record(workspace, example('e1', 'text e1 again', 'bug'));
    assert.equal(await store.record(workspace, example('e4', 'text e4')), 1, 'one evicted');
    const { ids } = await store.snapshot(workspace);
    assert.deepEqual(ids, ['e3', 'e1', 'e4'], 'e2 was the oldest once e1 was recorded again');
    const [renewed] = await store.read(workspace, ['e1']);
    assert.equal(renewed?.category, 'bug');
    assert.equal(renewed?.text, 'text e1 again');
    const listed = await store.list(workspace, 2);
    assert.equal(listed.total, 3);
    assert.deepEqual(
      listed.examples.map((item) => item.id),
      ['e4', 'e1'],
      'newest first',
    );
  });

  test('deletes one example and all of a workspace, leaving other workspaces alone', async () => {
    const store = new TicketExampleStore(redis, { keyPrefix: prefix });
    await store.record('T0DELA', example('a1', 'card not arrived'));
    await store.record('T0DELA', example('a2', 'charged twice'));
    await store.record('T0DELB', example('b1', 'charged twice'));
    const before = await store.version('T0DELA');
    assert.equal(await store.delete('T0DELA', 'a1'), true);
    assert.equal(await store.delete('T0DELA', 'a1'), false, 'a second delete finds nothing');
    assert.equal(await store.delete('T0DELA', 'b1'), false, "B's example is not reachable from A");
    assert.ok((await store.version('T0DELA')) > before);
    assert.deepEqual((await store.snapshot('T0DELA')).ids, ['a2']);
    assert.equal(await store.clear('T0DELA'), 1);
    assert.deepEqual((await store.snapshot('T0DELA')).ids, []);
    assert.deepEqual((await store.snapshot('T0DELB')).ids, ['b1']);
  });

  test('keys carry the workspace hash tag and the uninstall purge covers them', async () => {
    const store = new TicketExampleStore(redis, { keyPrefix: prefix });
    await store.record('T0KEYS', example('k1', 'text'));
    const keys = await redis.keys(`${prefix}*T0KEYS*`);
    assert.equal(keys.length, 3);
    const kinds = workspaceKeyPrefixes('T0KEYS');
    for (const key of keys) {
      assert.ok(key.includes('{T0KEYS}'), key);
      const kind = kinds.find((candidate) => key.startsWith(`${prefix}${candidate.prefix}`));
      assert.equal(kind?.label, 'ticket_examples', key);
    }
  });

  test('skips a damaged stored example instead of failing the read', async () => {
    const store = new TicketExampleStore(redis, { keyPrefix: prefix });
    await store.record('T0BAD', example('good', 'charged twice'));
    await redis.hset(`${prefix}ticket-examples:{T0BAD}:items`, 'bad', '{"id":"bad"');
    await redis.zadd(`${prefix}ticket-examples:{T0BAD}:order`, 99, 'bad');
    const read = await store.read('T0BAD', ['good', 'bad', 'missing']);
    assert.deepEqual(
      read.map((item) => item.id),
      ['good'],
    );
  });
});

describe('workspace example indexes', () => {
  test('follow records, relabels, deletes and clears, and never answer with another workspace’s examples', async () => {
    const store = new TicketExampleStore(redis, { keyPrefix: prefix });
    const indexes = new WorkspaceExampleIndexes(store);
    const nearestCategory = async (workspace: string, text: string) =>
      (await indexes.nearest(workspace, text, 5)).neighbours[0]?.example.category;

    assert.equal(await nearestCategory('T0IDXA', 'my card was swallowed by the machine'), undefined);
    await store.record('T0IDXA', example('x1', 'The ATM swallowed my card', 'other', 'high'));
    await store.record('T0IDXB', example('y1', 'The ATM swallowed my card', 'bug', 'low'));
    assert.equal(await nearestCategory('T0IDXA', 'my card was swallowed by the machine'), 'other');
    assert.equal(await nearestCategory('T0IDXB', 'my card was swallowed by the machine'), 'bug');

    await store.record('T0IDXA', example('x1', 'The ATM swallowed my card', 'account_access', 'high'));
    assert.equal(await nearestCategory('T0IDXA', 'my card was swallowed by the machine'), 'account_access');

    await store.record('T0IDXA', example('x2', 'charged twice for a coffee'));
    await store.delete('T0IDXA', 'x1');
    const ids = (await indexes.nearest('T0IDXA', 'my card was swallowed by the machine', 5)).neighbours.map(
      (found) => found.example.id,
    );
    assert.deepEqual(ids, ['x2'], 'the deleted example is gone');
    assert.equal(await nearestCategory('T0IDXA', 'charged twice'), 'billing');
    await store.clear('T0IDXA');
    assert.deepEqual(await indexes.nearest('T0IDXA', 'charged twice', 5), { neighbours: [], examples: 0 });
    assert.equal(await nearestCategory('T0IDXB', 'my card was swallowed by the machine'), 'bug');
  });

  test('a second process sees a correction made through another (shared Redis, separate memory)', async () => {
    const writer = new TicketExampleStore(redis, { keyPrefix: prefix });
    const first = new WorkspaceExampleIndexes(new TicketExampleStore(redis, { keyPrefix: prefix }));
    const second = new WorkspaceExampleIndexes(new TicketExampleStore(redis, { keyPrefix: prefix }));
    await writer.record('T0TWO', example('z1', 'the app froze on login', 'app_crash'));
    assert.equal((await first.nearest('T0TWO', 'app froze', 1)).neighbours[0]?.example.category, 'app_crash');
    await writer.record('T0TWO', example('z1', 'the app froze on login', 'account_access'));
    assert.equal((await second.nearest('T0TWO', 'app froze', 1)).neighbours[0]?.example.category, 'account_access');
    assert.equal((await first.nearest('T0TWO', 'app froze', 1)).neighbours[0]?.example.category, 'account_access');
  });

  test('concurrent first queries of a workspace build its index once and agree', async () => {
    const store = new TicketExampleStore(redis, { keyPrefix: prefix });
    for (let number = 0; number < 300; number += 1)
      await store.record('T0MANY', example(`m${number}`, `payment ${number} was declined at the shop`, 'bug'));
    let reads = 0;
    const counting = {
      version: (workspace: string) => store.version(workspace),
      snapshot: (workspace: string) => store.snapshot(workspace),
      read: (workspace: string, ids: readonly string[]) => {
        reads += ids.length;
        return store.read(workspace, ids);
      },
    };
    const indexes = new WorkspaceExampleIndexes(counting);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => indexes.nearest('T0MANY', 'payment declined', 3)),
    );
    assert.equal(reads, 300, 'each example read once');
    for (const result of results) assert.equal(result.neighbours.length, 3);
  });
});
