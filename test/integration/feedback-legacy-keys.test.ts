/**
 * Answer feedback stored before its keys carried the workspace's hash tag (`answers:answer:<id>`, `answers:votes:<id>`,
 * `answers:voted`) stays usable after the upgrade: a lookup, a vote, a reason or an export moves it under the
 * workspace's keys (src/capabilities/answers/feedback-legacy-keys.ts), and only its own workspace can.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';

const prefix = `test:${randomUUID()}:`;
let redis: Redis;
let store: FeedbackStore;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  store = new FeedbackStore(redis, { keyPrefix: prefix });
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** Writes an answer and one 👎 vote in the layout of before the workspace tag, as the previous version did. */
async function legacyAnswer(workspaceId: string, votedAt = 1_000): Promise<string> {
  const answerId = randomUUID();
  const record = { answerId, workspaceId, channelId: 'C1', kind: 'answered', question: 'Refunds?', cited: [] };
  await redis.set(`${prefix}answers:answer:${answerId}`, JSON.stringify(record), 'EX', 3_600);
  await redis.hset(`${prefix}answers:votes:${answerId}`, 'U1', `d:${votedAt}`);
  await redis.zadd(`${prefix}answers:voted`, votedAt, answerId);
  return answerId;
}

describe('feedback kept before the workspace hash tag', () => {
  test('a lookup moves the answer and its votes under the workspace, keeping the time left to live', async () => {
    const answerId = await legacyAnswer('T0LEGACY1');
    assert.equal((await store.answer(answerId, 'T0LEGACY1'))?.question, 'Refunds?');
    assert.equal(await redis.exists(`${prefix}answers:answer:${answerId}`), 0, 'the old key is gone');
    assert.deepEqual(await store.votesOf(answerId, 'T0LEGACY1'), [{ userId: 'U1', helpful: false, at: 1_000 }]);
    const ttl = await redis.ttl(`${prefix}{T0LEGACY1}:answers:answer:${answerId}`);
    assert.ok(ttl > 3_500 && ttl <= 3_600, `kept its remaining lifetime, not a fresh 90 days (${ttl} s)`);
  });

  test('a vote and a reason on an answer given before the upgrade are accepted', async () => {
    const answerId = await legacyAnswer('T0LEGACY2');
    assert.equal(
      await store.setReason({ answerId, workspaceId: 'T0LEGACY2', userId: 'U1', reason: 'wrong' }),
      'recorded',
    );
    const vote = { answerId, workspaceId: 'T0LEGACY2', channelId: 'C1', userId: 'U2', helpful: true };
    assert.equal(await store.vote(vote), 'recorded');
    assert.deepEqual(await store.counts(answerId, 'T0LEGACY2'), { helpful: 1, notHelpful: 1 });
  });

  test("an export adopts its workspace's old answers only; another workspace cannot take them", async () => {
    const mine = await legacyAnswer('T0LEGACY3', 5_000);
    const theirs = await legacyAnswer('T0OTHER3', 5_000);
    assert.equal(await store.answer(theirs, 'T0LEGACY3'), undefined, 'not adoptable by another workspace');
    const exported = await store.export('T0LEGACY3', 0);
    assert.deepEqual(
      exported.map((entry) => entry.record.answerId),
      [mine],
    );
    assert.equal(await redis.exists(`${prefix}answers:answer:${theirs}`), 1, "the other workspace's answer stays put");
    const ids: string[] = [];
    for await (const page of store.votedAnswerIds('T0OTHER3')) ids.push(...page);
    assert.deepEqual(ids, [theirs], 'and is adopted by its own workspace when listed');
  });
});
