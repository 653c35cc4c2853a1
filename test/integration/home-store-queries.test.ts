/**
 * The store queries the App Home added, against the real Redis: each is bounded, reads one workspace (and, for a
 * person's lists, one person) only, and is kept by the same write that records the thing it lists.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ApprovalStore } from '../../src/capabilities/agent/approval-store.ts';
import { newRunState, RunStateStore } from '../../src/capabilities/agent/run-state.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { UnansweredQuestions } from '../../src/capabilities/answers/unanswered-questions.ts';
import { UploaderStore } from '../../src/capabilities/answers/uploader-store.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { TicketStore } from '../../src/capabilities/tickets/ticket-store.ts';
import { channelsByMonthSpendKey } from '../../src/llm/budget-keys.ts';
import { readChannelsBySpend } from '../../src/llm/budget-status.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
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

/** Every key the test wrote for `workspaceId` is one the uninstall purge deletes. */
async function assertPurgeable(workspaceId: string): Promise<void> {
  const keys = (await redis.keys(`${prefix}*${workspaceId}*`)).map((key) => key.slice(prefix.length));
  assert.ok(keys.length > 0);
  for (const key of keys) {
    assert.ok(
      workspaceKeyPrefixes(workspaceId).some((entry) => key.startsWith(entry.prefix)),
      `${key} is not covered by workspaceKeyPrefixes`,
    );
  }
}

describe('App Home store queries', () => {
  test("a person's recent drafts: newest first, their own only, capped at 50", async () => {
    const store = new TicketStore(redis, { keyPrefix: prefix });
    const draft = (user: string, index: number, workspaceId = 'T0TICKETS') => ({
      id: `DH-${randomUUID().slice(0, 10)}`,
      workspaceId,
      channelId: 'C1',
      messageTs: `1700000000.${String(index).padStart(6, '0')}`,
      requestedBy: user,
      createdAt: new Date(Date.UTC(2026, 0, 1) + index * 1000).toISOString(),
      ticket: emptyTicket({ summary: `ticket ${index}` }),
      flags: [],
      mode: 'rules' as const,
    });
    for (let index = 0; index < 55; index += 1) await store.create(draft('W0ALICE', index));
    await store.create(draft('W0BOB', 99));
    await store.create(draft('W0ALICE', 100, 'T0OTHER'));
    const { drafts, total } = await store.recentDrafts('T0TICKETS', 'W0ALICE', 3);
    assert.deepEqual(
      drafts.map((entry) => entry.ticket.summary),
      ['ticket 54', 'ticket 53', 'ticket 52'],
    );
    assert.equal(total, 50, 'the list keeps the last 50');
    assert.equal((await store.recentDrafts('T0TICKETS', 'W0BOB', 10)).drafts.length, 1);
    assert.equal((await store.recentDrafts('T0TICKETS', 'not a user', 10)).total, 0);
    await assertPurgeable('T0TICKETS');
  });

  test("a person's recent runs: the run's first checkpoint lists it", async () => {
    const store = new RunStateStore({ redis, keyPrefix: prefix });
    const run = (user: string, goal: string, now: number) =>
      newRunState({ workspaceId: 'T0RUNS', channelId: 'C1', threadTs: undefined, requesterId: user, goal, now });
    await store.saveNew(run('W0ALICE', 'first', 1));
    await store.saveNew(run('W0ALICE', 'second', 2));
    await store.saveNew(run('W0BOB', 'bob', 3));
    const { runs, total } = await store.recentRuns('T0RUNS', 'W0ALICE', 10);
    assert.deepEqual(
      runs.map((entry) => entry.goal),
      ['second', 'first'],
    );
    assert.equal(total, 2);
    assert.equal((await store.recentRuns('T0OTHER', 'W0ALICE', 10)).total, 0);
    await assertPurgeable('T0RUNS');
  });

  test("a workspace's pending approvals: decided and expired ones drop out, other workspaces are not read", async () => {
    let now = Date.UTC(2026, 0, 1);
    const store = new ApprovalStore({
      redis,
      keyPrefix: prefix,
      ttlSeconds: 60,
      policy: { approverUserIds: ['W0APPROVER'], allowSelfApproval: false },
      now: () => now,
    });
    const request = (workspaceId: string, summary: string) =>
      store.create({
        runId: randomUUID(),
        workspaceId,
        channelId: 'C1',
        threadTs: undefined,
        requesterId: 'W0ASKER',
        kind: 'write',
        tool: 'post_message',
        canonicalArguments: '{}',
        target: 'channel:C1',
        summary,
        toolCallId: 'call_1',
      });
    const first = await request('T0APPROVALS', 'first');
    await request('T0APPROVALS', 'second');
    await request('T0ELSEWHERE', 'elsewhere');
    const decided = await store.decide({
      workspaceId: 'T0APPROVALS',
      requestId: first.requestId,
      hash: first.hash,
      decision: 'approved',
      userId: 'W0APPROVER',
    });
    assert.equal(decided.kind, 'decided');
    const pending = await store.pendingRequests('T0APPROVALS', 10);
    assert.deepEqual(
      pending.requests.map((entry) => entry.summary),
      ['second'],
    );
    assert.equal(pending.total, 1);
    now += 61_000;
    assert.equal((await store.pendingRequests('T0APPROVALS', 10)).total, 0, 'expired requests drop out');
    await assertPurgeable('T0APPROVALS');
  });

  test('channels by this month’s spend: kept by the settle script, most spent first', async () => {
    const budgets = new BudgetStore({
      redis,
      keyPrefix: prefix,
      timeZone: 'UTC',
      defaults: { channelDailyMicroUsd: 1e9, channelMonthlyMicroUsd: 1e9, workspaceDailyMicroUsd: 1e9 },
      reservationTtlMs: 60_000,
    });
    for (const [channelId, cost] of [
      ['C0SMALL', 100],
      ['C0BIG', 5_000],
      ['C0SMALL', 200],
    ] as const) {
      const reservation = await budgets.reserve({
        requestId: randomUUID(),
        workspaceId: 'T0SPEND',
        channelId,
        amountMicroUsd: 10_000,
      });
      await budgets.settle(reservation, cost);
    }
    const key = channelsByMonthSpendKey(prefix, 'T0SPEND', budgets.windowsAt().month);
    assert.deepEqual(await readChannelsBySpend(redis, key, 10), { channelIds: ['C0BIG', 'C0SMALL'], total: 2 });
    assert.deepEqual(await readChannelsBySpend(redis, key, 1), { channelIds: ['C0BIG'], total: 2 });
    await assertPurgeable('T0SPEND');
  });

  test('unanswered questions: counted, most asked first, capped with the least asked dropped', async () => {
    const store = new UnansweredQuestions(redis, { keyPrefix: prefix, cap: 3 });
    await store.record('T0QUESTIONS', '  Where is   the holiday policy? ');
    await store.record('T0QUESTIONS', 'Where is the holiday policy?');
    await store.record('T0QUESTIONS', 'Who approves refunds?');
    await store.record('T0QUESTIONS', 'Who approves refunds?');
    await store.record('T0QUESTIONS', 'Once');
    await store.record('T0QUESTIONS', 'Newest');
    await store.record('T0QUESTIONS', 'x'.repeat(100_000));
    const top = await store.top('T0QUESTIONS', 10);
    assert.equal(top.total, 3);
    assert.deepEqual(top.questions.slice(0, 2), [
      { question: 'Who approves refunds?', count: 2 },
      { question: 'Where is the holiday policy?', count: 2 },
    ]);
    assert.equal(top.questions[2]?.question.length, 200, 'a long question is kept cut to 200 characters');
    assert.equal((await store.top('T0OTHER', 10)).total, 0);
    await assertPurgeable('T0QUESTIONS');
  });

  test('the feedback tally moves a changed vote from one side to the other and counts a repeat once', async () => {
    const store = new FeedbackStore(redis, { keyPrefix: prefix, ttlSeconds: 600 });
    const answerId = randomUUID();
    await redis.set(
      `${prefix}{T0VOTES}:answers:answer:${answerId}`,
      JSON.stringify({ answerId, workspaceId: 'T0VOTES', channelId: 'C1' }),
    );
    const vote = { answerId, workspaceId: 'T0VOTES', channelId: 'C1', userId: 'W1', helpful: true };
    await store.vote(vote);
    await store.vote(vote);
    await store.vote({ ...vote, userId: 'W2' });
    assert.deepEqual(await store.tally('T0VOTES'), { helpful: 2, notHelpful: 0 });
    await store.vote({ ...vote, helpful: false });
    assert.deepEqual(await store.tally('T0VOTES'), { helpful: 1, notHelpful: 1 });
    await store.vote({ ...vote, workspaceId: 'T0OTHER' });
    assert.deepEqual(await store.tally('T0OTHER'), { helpful: 0, notHelpful: 0 }, 'a foreign click counts nowhere');
  });

  test('documents added in Slack: bounded, with the total', async () => {
    const store = new UploaderStore(redis, { keyPrefix: prefix });
    for (let index = 0; index < 30; index += 1) await store.recordFirst('T0DOCS', `doc${index}`, 'W1');
    const listed = await store.documentIds('T0DOCS', 12);
    assert.equal(listed.documentIds.length, 12);
    assert.equal(new Set(listed.documentIds).size, 12);
    assert.equal(listed.total, 30);
    assert.deepEqual(await store.documentIds('T0OTHER', 12), { documentIds: [], total: 0 });
  });
});
