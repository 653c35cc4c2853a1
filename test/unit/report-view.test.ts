/**
 * The weekly report's view and its command: a full week at every list's largest size stays within Slack's message
 * limits (50 blocks, 3,000 per section, ~13,200 characters of block text) with "…and N more"; every recorded text is
 * escaped (no mention, broadcast or link can be made from a question, title, category or reason); an empty week and
 * an unreadable part say so; what one event changes (`changesOf`); and `/budget report` is shown to the workspace's
 * admins only, anyone else told who they are.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { handleBudgetCommand } from '../../src/capabilities/budget/handle-budget-command.ts';
import { type ActivityTotals, changesOf } from '../../src/capabilities/report/activity-store.ts';
import { weeklyReportMessage } from '../../src/capabilities/report/report-view.ts';
import type { WeeklyReport } from '../../src/capabilities/report/weekly-report.ts';
import { checkMessage } from '../fakes/slack-limits.ts';

const hostile = '<!channel> <@U0BOSS> <https://evil.example|click> & *bold*';

function totals(overrides: Partial<ActivityTotals> = {}): ActivityTotals {
  return {
    counters: {
      answers: 12,
      answered: 8,
      answered_cached: 3,
      passages: 1,
      no_sources: 2,
      not_answered: 1,
      tickets_drafted: 4,
      tickets_filed: 2,
      helpful: 5,
      not_helpful: 2,
    },
    unanswered: [{ member: 'Where is the VPN guide?', count: 2 }],
    cited: [{ member: 'doc-1', count: 6, title: 'Refund policy' }],
    drafted: [{ member: 'billing', count: 3 }],
    filed: [{ member: 'billing', count: 2 }],
    reasons: [{ member: 'missing_source', count: 2 }],
    distinct: { unanswered: 1, cited: 1, drafted: 1, filed: 1, reasons: 1 },
    ...overrides,
  };
}

function report(overrides: Partial<WeeklyReport> = {}): WeeklyReport {
  return {
    workspaceId: 'T111',
    from: '2026-03-04',
    to: '2026-03-10',
    timeZone: 'Europe/Berlin',
    activity: { ok: true, value: totals() },
    spend: {
      ok: true,
      value: {
        spentMicroUsd: 4_500_000,
        savedMicroUsd: 500_000,
        cacheHits: 7,
        topChannels: [
          { channelId: 'C0TWO', spentMicroUsd: 3_000_000 },
          { channelId: 'C0ONE', spentMicroUsd: 1_500_000 },
        ],
        channelCount: 2,
      },
    },
    ...overrides,
  };
}

const textOf = (message: { blocks: unknown[] }) => JSON.stringify(message.blocks);

describe('weekly report view', () => {
  test('shows every figure of the week', () => {
    const message = weeklyReportMessage(report());
    assert.equal(checkMessage(message.text, message.blocks), undefined);
    const text = textOf(message);
    assert.match(text, /2026-03-04 to 2026-03-10 \(Europe\/Berlin\)/);
    assert.match(text, /\*12\* questions: \*8\* answered by the model \(3 from the cache\)/);
    assert.match(text, /1 answered with quoted passages only, 2 found no sources, 1 not answered/);
    assert.match(text, /Spent \*\$4\.50\*; the response cache served \*7\* model calls and saved \*\$0\.50\*/);
    assert.match(text, /Top channels: <#C0TWO> \$3\.00, <#C0ONE> \$1\.50/);
    assert.match(text, /:thumbsup: 5 helpful · :thumbsdown: 2 not helpful \(71% helpful\)/);
    assert.match(text, /Reasons for :thumbsdown:: missing source 2/);
    assert.match(text, /2× Where is the VPN guide\?/);
    assert.match(text, /6× \*Refund policy\*/);
    assert.match(text, /Drafted: \*4\* \(billing 3\)/);
    assert.match(text, /Filed: \*2\* \(billing 2\)/);
    assert.match(message.text, /12 questions, 3 answered from the cache; 4 tickets drafted, 2 filed/);
  });

  test('the largest week stays within Slack’s message limits, each list ending with …and N more', () => {
    const long = (prefix: string, index: number) => `${prefix} ${index} ${'<&>'.repeat(80)}`;
    const many = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, index) => ({ member: long(prefix, index), count: 100 - index }));
    const message = weeklyReportMessage(
      report({
        activity: {
          ok: true,
          value: totals({
            unanswered: many('question', 10),
            cited: many('doc', 10).map((entry) => ({ ...entry, title: long('title', entry.count) })),
            drafted: many('category', 10).map((entry) => ({ ...entry, member: entry.member.slice(0, 40) })),
            filed: many('category', 10).map((entry) => ({ ...entry, member: entry.member.slice(0, 40) })),
            reasons: many('reason', 10).map((entry) => ({ ...entry, member: entry.member.slice(0, 40) })),
            distinct: { unanswered: 100, cited: 1_400, drafted: 50, filed: 50, reasons: 20 },
          }),
        },
        spend: {
          ok: true,
          value: {
            spentMicroUsd: 1,
            savedMicroUsd: 0,
            cacheHits: 0,
            topChannels: Array.from({ length: 5 }, (_, index) => ({ channelId: `C0${index}`, spentMicroUsd: 1 })),
            channelCount: 400,
          },
        },
      }),
    );
    assert.equal(checkMessage(message.text, message.blocks), undefined);
    assert.ok(message.blocks.length <= 12);
    const text = textOf(message);
    assert.match(text, /…and 90 more/);
    assert.match(text, /…and 1390 more/);
    assert.match(text, /…and 395 more/);
    assert.match(text, /…and 40 more/);
    assert.doesNotMatch(text, /&am…|&l…|&g…/, 'no escape sequence is cut in half');
  });

  test('escapes every recorded text', () => {
    const message = weeklyReportMessage(
      report({
        activity: {
          ok: true,
          value: totals({
            unanswered: [{ member: hostile, count: 1 }],
            cited: [{ member: 'doc-1', count: 1, title: hostile }],
            drafted: [{ member: '<!here>', count: 1 }],
            reasons: [{ member: '<@U0X>', count: 1 }],
          }),
        },
      }),
    );
    const text = textOf(message);
    assert.doesNotMatch(text, /<!channel>|<!here>|<@U0BOSS>|<@U0X>|<https:/);
    assert.match(text, /&lt;!channel&gt; &lt;@U0BOSS&gt;/);
    assert.match(text, /&lt;!here&gt; 1/);
  });

  test('an empty week says what will appear', () => {
    const empty = totals({
      counters: Object.fromEntries(
        Object.keys(totals().counters).map((name) => [name, 0]),
      ) as ActivityTotals['counters'],
      unanswered: [],
      cited: [],
      drafted: [],
      filed: [],
      reasons: [],
      distinct: { unanswered: 0, cited: 0, drafted: 0, filed: 0, reasons: 0 },
    });
    const message = weeklyReportMessage(
      report({
        activity: { ok: true, value: empty },
        spend: {
          ok: true,
          value: { spentMicroUsd: 0, savedMicroUsd: 0, cacheHits: 0, topChannels: [], channelCount: 0 },
        },
      }),
    );
    assert.equal(checkMessage(message.text, message.blocks), undefined);
    const text = textOf(message);
    for (const expected of [
      /No questions this week/,
      /No votes this week/,
      /None this week: every question found a source/,
      /No answer cited a document this week/,
      /No tickets this week/,
      /Spent \*\$0\.00\*/,
    ]) {
      assert.match(text, expected);
    }
    assert.doesNotMatch(text, /Top channels|Reasons for/);
  });

  test('a part that could not be read says so and the rest is still shown', () => {
    const noSpend = textOf(weeklyReportMessage(report({ spend: { ok: false } })));
    assert.match(noSpend, /Model spend\*\\n_Could not be read just now/);
    assert.match(noSpend, /Documents cited most/);
    const noActivity = weeklyReportMessage(report({ activity: { ok: false } }));
    assert.match(textOf(noActivity), /Answers\*\\n_Could not be read just now/);
    assert.match(textOf(noActivity), /Spent \*\$4\.50\*/);
    assert.equal(checkMessage(noActivity.text, noActivity.blocks), undefined);
  });
});

describe('what one event records', () => {
  test('an answer counts its kind, the cache, its question without sources and each cited document once', () => {
    const cached = changesOf({
      kind: 'answer',
      workspaceId: 'T1',
      outcome: 'answered',
      fromCache: true,
      question: 'q',
      cited: [
        { documentId: 'd1', title: 'One' },
        { documentId: 'd1', title: 'One again' },
        { documentId: 'd2', title: '  Two\n\n titles ' },
      ],
    });
    assert.deepEqual(cached.counters, [
      ['answers', 1],
      ['answered', 1],
      ['answered_cached', 1],
    ]);
    assert.deepEqual(cached.entries, [
      { list: 'cited', member: 'd1', title: 'One' },
      { list: 'cited', member: 'd2', title: 'Two titles' },
    ]);
    const unanswered = changesOf({
      kind: 'answer',
      workspaceId: 'T1',
      outcome: 'no_sources',
      fromCache: false,
      question: `  ${'long '.repeat(10_000)}`,
      cited: [],
    });
    assert.equal(unanswered.entries[0]?.list, 'unanswered');
    assert.equal(unanswered.entries[0]?.member.length, 200);
  });

  test('a changed vote takes one from the other side; a ticket without a category is uncategorised', () => {
    assert.deepEqual(changesOf({ kind: 'vote', workspaceId: 'T1', helpful: true, replaced: true }).counters, [
      ['helpful', 1],
      ['not_helpful', -1],
    ]);
    assert.deepEqual(changesOf({ kind: 'ticket_filed', workspaceId: 'T1', category: '   ' }).entries, [
      { list: 'filed', member: 'uncategorised' },
    ]);
  });
});

describe('/budget report', () => {
  const base = { workspaceId: 'T111', channelId: 'C111' };
  const budgets = {
    timeZone: 'UTC',
    status: async () => {
      throw new Error('not used');
    },
    setChannelCap: async () => {},
  };
  let asked: string[] = [];
  const dependencies = {
    budgets,
    adminUserIds: [],
    adminsOf: async (workspaceId: string) => (workspaceId === 'T111' ? ['U0ADMIN'] : []),
    weeklyReport: async (workspaceId: string) => {
      asked.push(workspaceId);
      return weeklyReportMessage(report({ workspaceId }));
    },
  };

  test('shows the workspace’s admin the report of that workspace', async () => {
    asked = [];
    const reply = await handleBudgetCommand({ ...base, text: 'report', userId: 'U0ADMIN' }, dependencies);
    assert.deepEqual(asked, ['T111']);
    assert.match(reply.text, /^Weekly report, 2026-03-04 to 2026-03-10/);
  });

  test('refuses anyone else, naming the admins, without reading the report', async () => {
    asked = [];
    const reply = await handleBudgetCommand({ ...base, text: 'REPORT', userId: 'U0MEMBER' }, dependencies);
    assert.equal(reply.text, 'Only this workspace’s admins can see the weekly report: <@U0ADMIN>.');
    const elsewhere = await handleBudgetCommand(
      { workspaceId: 'T222', channelId: 'C1', text: 'report', userId: 'U0ADMIN' },
      dependencies,
    );
    assert.match(elsewhere.text, /none are configured/, 'an admin of one workspace is not an admin of another');
    assert.deepEqual(asked, []);
  });

  test('takes no options and says so when the report is not wired', async () => {
    const extra = await handleBudgetCommand({ ...base, text: 'report last-month', userId: 'U0ADMIN' }, dependencies);
    assert.match(extra.text, /takes no options/);
    const { weeklyReport: _omitted, ...without } = dependencies;
    const missing = await handleBudgetCommand({ ...base, text: 'report', userId: 'U0ADMIN' }, without);
    assert.match(missing.text, /not available/);
  });
});
