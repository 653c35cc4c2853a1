/**
 * The weekly report's records on the real Redis, with explicit instants instead of the wall clock: the activity
 * store's day keys (names, 35-day TTL, the budget time zone deciding the day), a week as the sum of its seven day keys
 * (the eighth day back left out), caps on each day's lists, workspace isolation, a changed vote; the budget store's
 * new day counters (cache hits, spend per channel per day) and `readWorkspaceDays` summing them; the composition
 * wrappers counting a ticket drafted and filed once; and every key written covered by the uninstall purge.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ActivityStore } from '../../src/capabilities/report/activity-store.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { ReportingTicketStore } from '../../src/composition/report-recording.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import { readWorkspaceDays } from '../../src/llm/budget-week.ts';
import { workspaceKeyPrefixes } from '../../src/slack/installations/workspace-purge.ts';
import { deleteKeys } from './gateway-harness.ts';

const keyPrefix = `test:${randomUUID()}:`;
const redis = new Redis('redis://127.0.0.1:6379');
const timeZone = 'Europe/Berlin';
const team = 'T0REPORT';
const other = 'T0OTHER';
/** Noon in Berlin on 2026-03-10 (a Tuesday), and whole days before it. */
const noon = Date.parse('2026-03-10T11:00:00Z');
const daysBefore = (days: number) => noon - days * 86_400_000;

after(async () => {
  await deleteKeys(redis, keyPrefix);
  redis.disconnect();
});

function activityStore(): ActivityStore {
  return new ActivityStore(redis, { keyPrefix, timeZone, now: () => noon });
}

describe('activity store', () => {
  test('writes one hash-tagged key per workspace and day in the budget time zone, kept 35 days', async () => {
    const store = activityStore();
    // 23:30 UTC on the 10th is already the 11th in Berlin.
    await store.record({ kind: 'vote', workspaceId: team, helpful: true }, Date.parse('2026-03-10T23:30:00Z'));
    const key = `${keyPrefix}{${team}}:report:counts:d:2026-03-11`;
    assert.deepEqual(await redis.hgetall(key), { helpful: '1' });
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 34 * 86_400 && ttl <= 35 * 86_400, `ttl ${ttl}`);
    assert.deepEqual(store.lastDays(3), ['2026-03-10', '2026-03-09', '2026-03-08']);
    await redis.del(key);
  });

  test('a week is the sum of its seven days: the eighth day back and another workspace are left out', async () => {
    const store = activityStore();
    const answer = (workspaceId: string, at: number, outcome: 'answered' | 'no_sources', fromCache = false) =>
      store.record(
        {
          kind: 'answer',
          workspaceId,
          outcome,
          fromCache,
          question: outcome === 'no_sources' ? '  Where is   the VPN guide? ' : 'How do refunds work?',
          cited: outcome === 'answered' ? [{ documentId: 'doc-refunds', title: 'Refund policy' }] : [],
        },
        at,
      );
    await answer(team, noon, 'answered', true);
    await answer(team, daysBefore(3), 'answered');
    await answer(team, daysBefore(6), 'no_sources');
    await answer(team, daysBefore(7), 'answered');
    await answer(team, daysBefore(7), 'no_sources');
    await answer(other, noon, 'no_sources');
    await store.record({ kind: 'ticket_drafted', workspaceId: team, category: 'billing' }, daysBefore(1));
    await store.record({ kind: 'ticket_drafted', workspaceId: team, category: 'billing' }, daysBefore(2));
    await store.record({ kind: 'ticket_drafted', workspaceId: team, category: 'login' }, daysBefore(8));
    await store.record({ kind: 'ticket_filed', workspaceId: team, category: 'billing' }, daysBefore(1));
    await store.record({ kind: 'not_helpful_reason', workspaceId: team, reason: 'outdated' }, noon);

    const week = await store.totals(team, store.lastDays(7), 10);
    assert.equal(week.counters.answers, 3);
    assert.equal(week.counters.answered, 2);
    assert.equal(week.counters.answered_cached, 1);
    assert.equal(week.counters.no_sources, 1);
    assert.deepEqual(week.unanswered, [{ member: 'Where is the VPN guide?', count: 1 }]);
    assert.deepEqual(week.cited, [{ member: 'doc-refunds', count: 2, title: 'Refund policy' }]);
    assert.deepEqual(week.drafted, [{ member: 'billing', count: 2 }]);
    assert.deepEqual(week.filed, [{ member: 'billing', count: 1 }]);
    assert.equal(week.counters.tickets_drafted, 2);
    assert.equal(week.counters.tickets_filed, 1);
    assert.deepEqual(week.reasons, [{ member: 'outdated', count: 1 }]);

    // Eight days cover the one left out; the other workspace sees only its own question.
    const eight = await store.totals(team, store.lastDays(8), 10);
    assert.equal(eight.counters.answers, 5);
    assert.equal(eight.unanswered[0]?.count, 2);
    const theirs = await store.totals(other, store.lastDays(7), 10);
    assert.equal(theirs.counters.answers, 1);
    assert.equal(theirs.cited.length, 0);
    assert.equal(theirs.drafted.length, 0);
  });

  test('each day keeps at most 100 questions without sources, dropping the least asked', async () => {
    const store = new ActivityStore(redis, { keyPrefix, timeZone, now: () => noon });
    const workspaceId = 'T0CAPPED';
    const ask = (question: string) =>
      store.record({ kind: 'answer', workspaceId, outcome: 'no_sources', fromCache: false, question, cited: [] });
    await ask('the most asked question');
    await ask('the most asked question');
    for (let index = 0; index < 120; index += 1) await ask(`question number ${index}`);
    assert.equal(await redis.zcard(`${keyPrefix}{${workspaceId}}:report:unanswered:d:2026-03-10`), 100);
    const week = await store.totals(workspaceId, store.lastDays(7), 5);
    assert.deepEqual(week.unanswered[0], { member: 'the most asked question', count: 2 });
    assert.equal(week.unanswered.length, 5);
    assert.equal(week.distinct.unanswered, 100);
    assert.equal(week.counters.no_sources, 122, 'the count is exact even when the list is full');
  });

  test('a changed vote moves a count; a week never shows a negative tally', async () => {
    const store = activityStore();
    const workspaceId = 'T0VOTES';
    await store.record({ kind: 'vote', workspaceId, helpful: false }, daysBefore(9));
    await store.record({ kind: 'vote', workspaceId, helpful: true, replaced: true }, daysBefore(1));
    await store.record({ kind: 'vote', workspaceId, helpful: false }, noon);
    await store.record({ kind: 'vote', workspaceId, helpful: true, replaced: true }, noon);
    const week = await store.totals(workspaceId, store.lastDays(7), 10);
    assert.equal(week.counters.helpful, 2);
    assert.equal(week.counters.not_helpful, 0);
  });

  test('a malformed workspace id records and reads nothing', async () => {
    const store = activityStore();
    await store.record({ kind: 'vote', workspaceId: 'T0}:x', helpful: true });
    assert.deepEqual(await redis.keys(`${keyPrefix}*T0}:x*`), []);
    assert.equal((await store.totals('not-a-team', store.lastDays(7), 10)).counters.helpful, 0);
  });
});

describe('budget day counters', () => {
  const budgetsAt = (at: number) =>
    new BudgetStore({
      redis,
      keyPrefix,
      timeZone,
      defaults: {
        channelDailyMicroUsd: 50_000_000,
        channelMonthlyMicroUsd: 500_000_000,
        workspaceDailyMicroUsd: 90_000_000,
      },
      reservationTtlMs: 60_000,
      now: () => at,
    });
  const spend = async (at: number, channelId: string, micro: number) => {
    const store = budgetsAt(at);
    const reservation = await store.reserve({
      requestId: randomUUID(),
      workspaceId: team,
      channelId,
      amountMicroUsd: micro,
    });
    await store.settle(reservation, micro);
  };

  test('spend per channel per day, cache hits and savings are summed over the week only', async () => {
    await spend(noon, 'C0ONE', 1_000_000);
    await spend(daysBefore(2), 'C0TWO', 3_000_000);
    await spend(daysBefore(6), 'C0ONE', 500_000);
    await spend(daysBefore(7), 'C0THREE', 9_000_000);
    await spend(noon, 'C0ZERO', 0);
    // A cache hit today in C0ONE: the entry's cost is what it saved.
    const cacheKey = `${keyPrefix}{${team}}:cache:entry-1`;
    await redis.set(cacheKey, JSON.stringify({ text: 'cached', costMicroUsd: 250_000 }));
    for (let hit = 0; hit < 2; hit += 1) {
      const served = await budgetsAt(noon).reserveOrServeCached({
        requestId: randomUUID(),
        workspaceId: team,
        channelId: 'C0ONE',
        amountMicroUsd: 100,
        cacheKey,
      });
      assert.ok('kind' in served && served.kind === 'cache_hit');
    }
    const hitsKey = `${keyPrefix}{${team}}:budget:hits:ws:d:2026-03-10`;
    assert.equal(await redis.get(hitsKey), '2');
    const ttl = await redis.ttl(`${keyPrefix}{${team}}:budget:channels:d:2026-03-10`);
    assert.ok(ttl > 39 * 86_400 && ttl <= 40 * 86_400, `ttl ${ttl}`);

    const days = activityStore().lastDays(7);
    const week = await readWorkspaceDays(redis, keyPrefix, team, days, 5);
    assert.equal(week.spentMicroUsd, 4_500_000);
    assert.equal(week.savedMicroUsd, 500_000);
    assert.equal(week.cacheHits, 2);
    assert.deepEqual(week.topChannels, [
      { channelId: 'C0TWO', spentMicroUsd: 3_000_000 },
      { channelId: 'C0ONE', spentMicroUsd: 1_500_000 },
    ]);
    assert.equal(week.channelCount, 2, 'a channel that spent nothing is not listed');
    const top1 = await readWorkspaceDays(redis, keyPrefix, team, days, 1);
    assert.equal(top1.topChannels.length, 1);
    assert.equal(top1.channelCount, 2);
    const theirs = await readWorkspaceDays(redis, keyPrefix, other, days, 5);
    assert.deepEqual(theirs, { spentMicroUsd: 0, savedMicroUsd: 0, cacheHits: 0, topChannels: [], channelCount: 0 });
  });
});

describe('ticket counts from the ticket store', () => {
  test('a draft is counted when stored and filed once, whoever files it', async () => {
    const activity = activityStore();
    const workspaceId = 'T0TICKETS';
    const tickets = new ReportingTicketStore(redis, { keyPrefix }, activity);
    const draft = {
      id: `DH-${randomUUID().slice(0, 8).toUpperCase()}`,
      workspaceId,
      channelId: 'C0TICKETS',
      messageTs: '1700000000.000100',
      requestedBy: 'W0ASKER',
      createdAt: new Date(noon).toISOString(),
      ticket: emptyTicket({ summary: 'Refund missing', category: 'billing' }),
      flags: [],
      mode: 'rules' as const,
    };
    assert.equal(await tickets.create(draft), true);
    assert.equal(await tickets.create(draft), false, 'the same id is not stored (or counted) twice');
    const lease = await tickets.acquireFilingLease(workspaceId, draft.id, 10_000);
    assert.ok(lease);
    const filed = { by: 'W0ADMIN', at: new Date(noon).toISOString(), reference: draft.id, deliveries: {} };
    assert.equal((await tickets.markFiled(workspaceId, draft.id, lease, filed)).ok, true);
    assert.equal((await tickets.markFiled(workspaceId, draft.id, lease, filed)).ok, false);
    const week = await activity.totals(workspaceId, activity.lastDays(7), 10);
    assert.equal(week.counters.tickets_drafted, 1);
    assert.equal(week.counters.tickets_filed, 1);
    assert.deepEqual(week.filed, [{ member: 'billing', count: 1 }]);
  });
});

test('every key the report and the budget day counters write is deleted with its workspace', async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  const ours = keys.filter((key) => key.includes(':report:') || /:budget:(hits|channels):/.test(key));
  assert.ok(ours.length >= 10, `expected report keys, saw ${ours.length}`);
  for (const key of ours) {
    const workspaceId = /\{([^}]+)\}/.exec(key)?.[1] ?? '';
    const covered = workspaceKeyPrefixes(workspaceId).some((kind) => key.startsWith(`${keyPrefix}${kind.prefix}`));
    assert.ok(covered, `${key} is not covered by the purge`);
  }
});
