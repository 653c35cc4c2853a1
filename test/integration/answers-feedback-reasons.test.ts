/**
 * The 👎 reasons and the feedback export on the real Redis: who may set a reason (only a voter whose current vote
 * is 👎, on an answer of that workspace), idempotent resubmits, a changed vote dropping the reason, the key under
 * the uninstall purge's prefixes; the export's workspace filter, `since`, and its page-at-a-time walk (every answer
 * once, across pages and equal vote times); and the handlers' fallback when the picker cannot open.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { AnswerOutcome } from '../../src/capabilities/answers/answer-outcome.ts';
import { exportFeedback, type FeedbackExportRow } from '../../src/capabilities/answers/feedback-export.ts';
import { createFeedbackHandlers } from '../../src/capabilities/answers/feedback-handlers.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { workspaceKeyPrefixes } from '../../src/slack/installations/workspace-purge.ts';
import { answerActionIds } from '../../src/slack-kit/answer-ids.ts';
import { passage } from '../unit/answers-test-support.ts';

const prefix = `test:${randomUUID()}:`;
let redis: Redis;
let store: FeedbackStore;

function outcome(answerId: string, question = 'Refunds?'): AnswerOutcome {
  const source = {
    ...passage({ documentId: 'refunds', text: 'Refunds take 5 days.', chunkIndexes: [2, 3] }),
    sectionPath: ['Refund policy', 'Timing'],
  };
  return {
    kind: 'answered',
    answerId,
    question,
    standaloneQuestion: `${question} (standalone)`,
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

async function answered(workspaceId = 'T1', channelId = 'C1', question?: string): Promise<string> {
  const answerId = randomUUID();
  await store.recordAnswer(outcome(answerId, question), { workspaceId, channelId });
  return answerId;
}

const vote = (answerId: string, userId: string, helpful: boolean, workspaceId = 'T1', at?: number) =>
  store.vote({ answerId, workspaceId, channelId: 'C1', userId, helpful }, at);

async function collect(workspaceId: string, options: Parameters<typeof exportFeedback>[2] = {}) {
  const rows: FeedbackExportRow[] = [];
  for await (const row of exportFeedback(store, workspaceId, options)) rows.push(row);
  return rows;
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

describe('reasons', () => {
  test('only a voter whose vote is 👎 sets a reason; a resubmit changes nothing, a new reason replaces it', async () => {
    const answerId = await answered();
    const reason = { answerId, workspaceId: 'T1', userId: 'U1', reason: 'outdated' as const, text: 'Now 10 days.' };
    assert.equal(await store.setReason(reason), 'not_your_vote', 'no vote yet');
    await vote(answerId, 'U1', true);
    assert.equal(await store.setReason(reason), 'not_your_vote', 'a 👍 cannot carry a reason');
    await vote(answerId, 'U1', false);
    assert.equal(await store.setReason(reason, 1_000), 'recorded');
    assert.equal(await store.setReason(reason, 2_000), 'unchanged');
    assert.deepEqual(await store.reasonOf(answerId, 'T1', 'U1'), {
      reason: 'outdated',
      text: 'Now 10 days.',
      at: 1_000,
    });
    assert.equal(
      await store.setReason({ answerId, workspaceId: 'T1', userId: 'U1', reason: 'wrong' }, 3_000),
      'updated',
    );
    assert.deepEqual(await store.reasonOf(answerId, 'T1', 'U1'), { reason: 'wrong', at: 3_000 });
    assert.equal(await store.setReason({ ...reason, userId: 'U2' }), 'not_your_vote', 'another person');
    assert.equal(await store.setReason({ ...reason, workspaceId: 'T2' }), 'unknown_answer', 'another workspace');
    assert.equal(await store.setReason({ ...reason, answerId: randomUUID() }), 'unknown_answer');
    assert.equal(await store.setReason({ ...reason, answerId: 'x}*' }), 'unknown_answer');
  });

  test('changing the vote to 👍 drops the reason; the note is cut to 500 characters', async () => {
    const answerId = await answered();
    await vote(answerId, 'U3', false);
    assert.equal(
      await store.setReason({ answerId, workspaceId: 'T1', userId: 'U3', reason: 'other', text: 'x'.repeat(900) }),
      'recorded',
    );
    assert.equal((await store.reasonOf(answerId, 'T1', 'U3'))?.text?.length, 500);
    await vote(answerId, 'U3', true);
    assert.equal(await store.reasonOf(answerId, 'T1', 'U3'), undefined);
  });

  test('the reasons key is hash-tagged by workspace and deleted by the uninstall purge', async () => {
    const answerId = await answered('T7');
    await vote(answerId, 'U1', false, 'T7');
    await store.setReason({ answerId, workspaceId: 'T7', userId: 'U1', reason: 'wrong' });
    const keys = (await redis.keys(`${prefix}*reasons*`)).filter((key) => key.includes(answerId));
    assert.deepEqual(keys, [`${prefix}{T7}:answers:reasons:${answerId}`]);
    const covering = workspaceKeyPrefixes('T7').find((entry) => keys[0]?.startsWith(`${prefix}${entry.prefix}`));
    assert.equal(covering?.label, 'answer_feedback', 'the purge deletes it under its own label');
  });
});

describe('export', () => {
  test('one row per vote with the reason of a 👎, only the workspace asked for, and since filters on the vote', async () => {
    const exportStore = new FeedbackStore(redis, { keyPrefix: `${prefix}export:`, ttlSeconds: 600 });
    const own = randomUUID();
    await exportStore.recordAnswer(outcome(own, 'Own question'), { workspaceId: 'T5', channelId: 'C5' });
    const foreign = randomUUID();
    await exportStore.recordAnswer(outcome(foreign, 'Foreign question'), { workspaceId: 'T6', channelId: 'C6' });
    await exportStore.vote({ answerId: own, workspaceId: 'T5', channelId: 'C5', userId: 'U1', helpful: false }, 1_000);
    await exportStore.vote({ answerId: own, workspaceId: 'T5', channelId: 'C5', userId: 'U2', helpful: true }, 5_000);
    await exportStore.vote(
      { answerId: foreign, workspaceId: 'T6', channelId: 'C6', userId: 'U1', helpful: true },
      2_000,
    );
    await exportStore.setReason({
      answerId: own,
      workspaceId: 'T5',
      userId: 'U1',
      reason: 'missing_source',
      text: 'No doc',
    });
    const rows: FeedbackExportRow[] = [];
    for await (const row of exportFeedback(exportStore, 'T5')) rows.push(row);
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[0], {
      workspace: 'T5',
      channel: 'C5',
      answerId: own,
      question: 'Own question',
      standaloneQuestion: 'Own question (standalone)',
      answer: 'Five days [1].',
      cited: [
        {
          number: 1,
          documentId: 'refunds',
          title: 'Title of refunds',
          sectionPath: ['Refund policy', 'Timing'],
          chunkIds: ['refunds#2', 'refunds#3'],
        },
      ],
      vote: 'not_helpful',
      reason: 'missing_source',
      text: 'No doc',
      at: new Date(1_000).toISOString(),
      answeredAt: rows[0]?.answeredAt,
      indexVersion: 4,
    });
    assert.equal(rows[1]?.vote, 'helpful');
    assert.equal(rows[1]?.reason, undefined);
    const since: FeedbackExportRow[] = [];
    for await (const row of exportFeedback(exportStore, 'T5', { sinceMs: 3_000 })) since.push(row);
    assert.deepEqual(
      since.map((row) => row.vote),
      ['helpful'],
    );
  });

  test('the walk reads a page at a time and yields every answer once, across pages and equal vote times', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 23; i += 1) {
      const answerId = await answered('T9', 'C1', `Question ${i}`);
      ids.push(answerId);
      // Seven answers share each vote time, so pages end in the middle of a tie.
      await vote(answerId, 'U1', true, 'T9', 10_000 + Math.floor(i / 7));
    }
    const pages: number[] = [];
    for await (const page of store.votedAnswerIds('T9', 10_000, 20_000, 5)) pages.push(page.length);
    assert.ok(
      pages.every((size) => size <= 5),
      'no page larger than asked',
    );
    const rows = await collect('T9', { pageSize: 5, sinceMs: 10_000, untilMs: 20_000 });
    assert.equal(rows.length, 23);
    assert.deepEqual(new Set(rows.map((row) => row.answerId)), new Set(ids));
  });
});

describe('handlers', () => {
  const logger = createSilentLogger();
  test('👎 opens the picker with the trigger id; when Slack refuses, the vote counts and “Tell us why” is offered', async () => {
    const answerId = await answered();
    const opened: string[] = [];
    let fail = false;
    const handlers = createFeedbackHandlers({
      feedback: store,
      logger,
      messenger: {
        openView: async (triggerId, view) => {
          if (fail) throw new Error('expired_trigger_id');
          opened.push(`${triggerId}:${String(view.callback_id)}`);
          return { viewId: 'V1' };
        },
      },
    });
    const click = { actionId: answerActionIds.notHelpful, value: answerId, workspaceId: 'T1', channelId: 'C1' };
    const first = await handlers.vote({ ...click, userId: 'U1', triggerId: 'trig-1' });
    assert.deepEqual(opened, ['trig-1:answer_feedback_reason']);
    assert.equal(first.kind === 'reply' && first.blocks, undefined, 'no fallback button when the picker opened');

    fail = true;
    const second = await handlers.vote({ ...click, userId: 'U2', triggerId: 'trig-2' });
    assert.equal(await store.voteOf(answerId, 'T1', 'U2'), 'not_helpful', 'the vote counted');
    assert.match(JSON.stringify(second), /"action_id":"answer_feedback_reason","text":\{[^}]*"Tell us why"/);

    const helpful = await handlers.vote({ ...click, actionId: answerActionIds.helpful, userId: 'U3', triggerId: 't3' });
    assert.equal(opened.length, 1, 'a 👍 opens nothing');
    assert.match(JSON.stringify(helpful), /noted as helpful/);

    const refused = await handlers.reopen({
      ...click,
      actionId: answerActionIds.reason,
      userId: 'U3',
      triggerId: 't4',
    });
    assert.match(JSON.stringify(refused), /Only people whose vote on this answer is 👎/);
  });
});
