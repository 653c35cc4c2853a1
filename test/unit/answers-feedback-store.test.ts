import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { AnswerOutcome } from '../../src/capabilities/answers/answer-outcome.ts';
import { FeedbackStore, voteAcknowledgement } from '../../src/capabilities/answers/feedback-store.ts';
import { passage } from './answers-test-support.ts';

const prefix = `test:${randomUUID()}:`;
let redis: Redis;
let store: FeedbackStore;

function outcome(answerId: string): AnswerOutcome {
  const source = passage({ documentId: 'refunds', text: 'Refunds take 5 days.', chunkIndexes: [2, 3] });
  return {
    kind: 'answered',
    answerId,
    question: 'Refunds?',
    standaloneQuestion: 'Refunds?',
    rewritten: false,
    usage: { modelCalls: 1, cacheHits: 0, inputTokens: 10, outputTokens: 5, costMicroUsd: 42, savedMicroUsd: 0 },
    markdown: 'Five days [1].',
    mrkdwn: 'Five days [1].',
    cited: [{ number: 1, source }],
    sources: [source],
    grounded: true,
    truncated: false,
    fromCache: false,
    model: 'gpt-4o-mini',
    indexVersion: 4,
  };
}

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  store = new FeedbackStore(redis, { keyPrefix: prefix, ttlSeconds: 600 });
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('FeedbackStore', () => {
  test('records an answer with the chunks it cited, for later evaluation', async () => {
    const answerId = randomUUID();
    await store.recordAnswer(outcome(answerId), { workspaceId: 'T1', channelId: 'C1', userId: 'U1' });
    const record = await store.answer(answerId, 'T1');
    assert.equal(record?.question, 'Refunds?');
    assert.deepEqual(record?.cited, [
      { number: 1, documentId: 'refunds', title: 'Title of refunds', sectionPath: [], chunkIndexes: [2, 3] },
    ]);
    assert.equal(record?.indexVersion, 4);
    assert.equal(record?.costMicroUsd, 42);
  });

  test('counts one vote per user per answer; a repeated click changes nothing and a new vote replaces the old', async () => {
    const answerId = randomUUID();
    await store.recordAnswer(outcome(answerId), { workspaceId: 'T1', channelId: 'C1' });
    const vote = { answerId, workspaceId: 'T1', channelId: 'C1', userId: 'U1', helpful: true };
    assert.equal(await store.vote(vote), 'recorded');
    assert.equal(await store.vote(vote), 'unchanged');
    assert.equal(await store.vote({ ...vote, userId: 'U2' }), 'recorded');
    assert.deepEqual(await store.counts(answerId, 'T1'), { helpful: 2, notHelpful: 0 });
    assert.equal(await store.vote({ ...vote, helpful: false }), 'changed');
    assert.deepEqual(await store.counts(answerId, 'T1'), { helpful: 1, notHelpful: 1 });
  });

  test('concurrent clicks by the same user count once', async () => {
    const answerId = randomUUID();
    await store.recordAnswer(outcome(answerId), { workspaceId: 'T1', channelId: 'C1' });
    const vote = { answerId, workspaceId: 'T1', channelId: 'C1', userId: 'U7', helpful: true };
    const results = await Promise.all(Array.from({ length: 10 }, () => store.vote(vote)));
    assert.equal(results.filter((result) => result === 'recorded').length, 1);
    assert.deepEqual(await store.counts(answerId, 'T1'), { helpful: 1, notHelpful: 0 });
  });

  test('refuses votes for unknown answers, malformed ids and clicks from another channel or workspace', async () => {
    const answerId = randomUUID();
    await store.recordAnswer(outcome(answerId), { workspaceId: 'T1', channelId: 'C1' });
    const base = { answerId, workspaceId: 'T1', channelId: 'C1', userId: 'U1', helpful: true };
    assert.equal(await store.vote({ ...base, answerId: randomUUID() }), 'unknown_answer');
    assert.equal(await store.vote({ ...base, answerId: 'not-a-uuid*' }), 'unknown_answer');
    assert.equal(await store.vote({ ...base, channelId: 'C2' }), 'wrong_channel');
    // Another workspace's click finds no such answer among its own (answers are kept per workspace).
    assert.equal(await store.vote({ ...base, workspaceId: 'T2' }), 'unknown_answer');
    assert.deepEqual(await store.counts(answerId, 'T1'), { helpful: 0, notHelpful: 0 });
    assert.match(voteAcknowledgement('wrong_channel', true), /does not belong/);
  });

  test('exports voted answers with their votes', async () => {
    const answerId = randomUUID();
    await store.recordAnswer(outcome(answerId), { workspaceId: 'T1', channelId: 'C1' });
    const at = Date.now();
    await store.vote({ answerId, workspaceId: 'T1', channelId: 'C1', userId: 'U9', helpful: false }, at);
    const exported = await store.export('T1', at);
    const entry = exported.find((item) => item.record.answerId === answerId);
    assert.deepEqual(entry?.votes, [{ userId: 'U9', helpful: false, at }]);
  });
});
