/**
 * The hand-over store on the real Redis: the claim is a compare-and-set (30 concurrent claims, one winner, the
 * others told who), a record is cut to its bounds and expires, the winner alone can complete or release its
 * claim, a record stays in its workspace, and its key sits under the uninstall purge's hand-over prefix.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { HandOverStore } from '../../src/capabilities/tickets/hand-over-store.ts';
import { type HandOverRecord, handOverLimits } from '../../src/ports/hand-over.ts';
import { workspaceKeyPrefixes } from '../../src/slack/installations/workspace-purge.ts';

const keyPrefix = `test:${randomUUID()}:`;
let redis: Redis;
let store: HandOverStore;

before(() => {
  redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
  store = new HandOverStore(redis, { keyPrefix, ttlSeconds: 600 });
});

after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function record(overrides: Partial<HandOverRecord> = {}): HandOverRecord {
  return {
    id: randomUUID(),
    kind: 'answer',
    workspaceId: 'T111',
    channelId: 'C111',
    askerId: 'U0ASKER',
    question: 'How long do refunds take?',
    answer: 'Within 5 business days [1].',
    outcome: 'answered',
    sources: [{ title: 'Refund policy', location: 'Timing', link: 'https://wiki.example.com/refunds' }],
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

test('of 30 concurrent claims exactly one wins and the 29 others are told who', async () => {
  const entry = record();
  await store.record(entry);
  const users = Array.from({ length: 30 }, (_, index) => `U0USER${index}`);
  const claims = await Promise.all(users.map((user) => store.claim('T111', entry.id, user, new Date())));
  const won = claims.flatMap((claim, index) => (claim.kind === 'won' ? [users[index]] : []));
  assert.equal(won.length, 1);
  const taken = claims.filter((claim) => claim.kind === 'taken');
  assert.equal(taken.length, 29);
  for (const claim of taken) assert.equal(claim.kind === 'taken' && claim.by, won[0]);

  assert.equal(await store.complete('T111', entry.id, 'U0USER-NOT-WINNER', { ticketId: 'DH-X', where: 'x' }), false);
  assert.equal(
    await store.complete('T111', entry.id, won[0] ?? '', { ticketId: 'DH-1', where: 'sent to triage' }),
    true,
  );
  const later = await store.claim('T111', entry.id, 'U0LATE', new Date());
  assert.deepEqual(later.kind === 'taken' && later.destination, { ticketId: 'DH-1', where: 'sent to triage' });
  // A completed hand-over cannot be released, so nobody files it again.
  await store.release('T111', entry.id, won[0] ?? '');
  assert.equal((await store.claim('T111', entry.id, 'U0AGAIN', new Date())).kind, 'taken');
});

test('a failed winner releases its claim (only its own), and the next click wins; deliveries are remembered', async () => {
  const entry = record();
  await store.record(entry);
  assert.equal((await store.claim('T111', entry.id, 'U0FIRST', new Date())).kind, 'won');
  await store.markDelivered('T111', entry.id, 'U0FIRST', 'triage_channel', {
    link: 'https://x.slack.com/archives/C1/p1',
  });
  await store.markDelivered('T111', entry.id, 'U0OTHER', 'webhook', {});
  await store.release('T111', entry.id, 'U0OTHER');
  assert.equal((await store.claim('T111', entry.id, 'U0SECOND', new Date())).kind, 'taken');
  await store.release('T111', entry.id, 'U0FIRST');
  assert.equal((await store.claim('T111', entry.id, 'U0SECOND', new Date())).kind, 'won');
  assert.deepEqual(await store.deliveries('T111', entry.id), {
    triage_channel: { link: 'https://x.slack.com/archives/C1/p1' },
  });
});

test('a record is cut to its bounds, expires, stays in its workspace, and re-recording keeps the claim', async () => {
  const long = record({
    question: 'q'.repeat(50_000),
    answer: 'a'.repeat(50_000),
    sources: Array.from({ length: 40 }, (_, index) => ({
      title: `T${index}`,
      link: `https://e.example/${'x'.repeat(2_000)}`,
    })),
  });
  await store.record(long);
  const stored = await store.get('T111', long.id);
  assert.ok(stored);
  assert.ok(stored.question.length <= handOverLimits.question);
  assert.ok(stored.answer.length <= handOverLimits.answer);
  assert.equal(stored.sources.length, handOverLimits.sources);
  assert.equal(stored.sources[0]?.link, undefined, 'an over-long link is dropped');
  const ttl = await redis.ttl(store.key('T111', long.id));
  assert.ok(ttl > 0 && ttl <= 600, `ttl ${ttl}`);
  assert.equal(await store.get('T999', long.id), undefined, 'another workspace sees nothing');
  assert.equal((await store.claim('T999', long.id, 'U0X', new Date())).kind, 'missing');
  assert.equal(await store.get('T111', '../../etc'), undefined, 'a malformed id is refused');

  assert.equal((await store.claim('T111', long.id, 'U0WIN', new Date())).kind, 'won');
  await store.record(long);
  assert.equal((await store.claim('T111', long.id, 'U0LATE', new Date())).kind, 'taken');
});

test('hand-over keys sit under the uninstall purge’s hand-over prefix', () => {
  const prefix = workspaceKeyPrefixes('T111').find((entry) => entry.label === 'hand_overs')?.prefix ?? '';
  assert.ok(prefix);
  assert.ok(store.key('T111', 'abc').startsWith(`${keyPrefix}${prefix}`));
});
