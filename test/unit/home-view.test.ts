import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HomeData, Listed } from '../../src/capabilities/home/home-data.ts';
import { buildHomeView, fitBlocks, homeBlockLimit } from '../../src/capabilities/home/home-view.ts';
import { spendBar } from '../../src/capabilities/home/spend-bar.ts';
import { context } from '../../src/slack-kit/blocks.ts';
import { checkView } from '../fakes/slack-limits.ts';

const hostile = '<!channel> <@U0BOSS> <https://evil.example|click> & more';

function listed<T>(items: T[], total = items.length): { ok: true; value: Listed<T> } {
  return { ok: true, value: { items, total } };
}

function personData(): HomeData {
  return {
    userId: 'W0USER',
    modelConfigured: true,
    ticketReaction: 'ticket',
    tickets: listed([
      { id: 'DH-1', summary: hostile, status: 'filed', createdAt: Date.UTC(2026, 0, 2), channelId: 'C0SUPPORT' },
    ]),
    runs: listed([
      {
        runId: 'r1',
        goal: 'summarise billing complaints',
        status: 'ended',
        outcome: 'cost_limit',
        createdAt: Date.UTC(2026, 0, 3),
        channelId: 'C0SUPPORT',
        spentMicroUsd: 12_000,
      },
    ]),
  };
}

function adminData(overrides: Partial<NonNullable<HomeData['admin']>> = {}): HomeData {
  return {
    ...personData(),
    admin: {
      spend: listed([
        {
          channelId: 'C0SUPPORT',
          dailySpentMicroUsd: 400_000,
          dailyCapMicroUsd: 1_000_000,
          monthlySpentMicroUsd: 12_000_000,
          monthlyCapMicroUsd: 10_000_000,
        },
      ]),
      unanswered: listed([{ question: hostile, count: 3 }]),
      approvals: listed([
        {
          requestId: 'a1',
          summary: 'Post a message in #general',
          tool: 'post_message',
          requesterId: 'W0USER',
          channelId: 'C0SUPPORT',
          expiresAt: Date.UTC(2026, 0, 4),
          buttonValue: 'a1.hash',
        },
      ]),
      documents: listed([
        { documentId: 'd1', title: hostile, scope: 'workspace', chunkCount: 4, ingestedAt: '2026-01-01T00:00:00Z' },
        { documentId: 'd2', title: 'Refunds', scope: 'channel:C0SUPPORT', chunkCount: 2, ingestedAt: '2026-01-02' },
      ]),
      feedback: { ok: true, value: { helpful: 3, notHelpful: 1 } },
      ...overrides,
    },
  };
}

const text = (view: { blocks: unknown[] }) => JSON.stringify(view.blocks);
const actionIds = (view: { blocks: unknown[] }) =>
  [...text(view).matchAll(/"action_id":"([a-z_]+)"/g)].map((m) => m[1]);

describe('App Home view', () => {
  test('a non-admin sees help, their tickets and runs, and no admin block or button', () => {
    const view = buildHomeView(personData());
    assert.equal(checkView(view), undefined);
    assert.equal(view.type, 'home');
    assert.match(text(view), /\/ask <question>|\/ask &lt;question&gt;|`\/ask/);
    assert.match(text(view), /Your recent tickets/);
    assert.match(text(view), /DH-1/);
    assert.match(text(view), /summarise billing complaints/);
    assert.match(text(view), /cost limit/);
    assert.doesNotMatch(text(view), /Admin|Spend per channel|Pending approvals|Documents\*|Answer feedback/);
    assert.deepEqual(actionIds(view), []);
  });

  test('an admin also sees spend bars, unanswered questions, approvals with buttons, documents with Forget, the tally and Settings', () => {
    const view = buildHomeView(adminData());
    assert.equal(checkView(view), undefined);
    const all = text(view);
    assert.match(all, /▓▓▓▓░░░░░░ 40%/);
    assert.match(all, /▓▓▓▓▓▓▓▓▓▓ 120% :warning:/);
    assert.match(all, /\$0\.40 of \$1\.00/);
    assert.match(all, /3× /);
    assert.match(all, /Post a message in #general/);
    assert.match(all, /All channels/);
    assert.match(all, /Only in\* <#C0SUPPORT>/);
    assert.match(all, /3 helpful · :thumbsdown: 1 not helpful \(75% helpful\)/);
    assert.deepEqual(actionIds(view).sort(), [
      'approval_approve',
      'approval_reject',
      'home_forget_document',
      'home_forget_document',
      'settings_open',
    ]);
    assert.match(all, /"value":"a1\.hash"/);
  });

  test('text from people and models is escaped: no mention, broadcast or link survives', () => {
    const all = text(buildHomeView(adminData()));
    assert.doesNotMatch(all, /<!channel>|<@U0BOSS>|<https:\/\/evil/);
    assert.match(all, /&lt;!channel&gt; &lt;@U0BOSS&gt;/);
  });

  test('long lists stop at their limit and say how many more; the view stays within Block Kit limits', () => {
    const many = <T>(count: number, make: (index: number) => T) => Array.from({ length: count }, (_, i) => make(i));
    const long = 'x'.repeat(5_000);
    const data = adminData({
      documents: listed(
        many(12, (i) => ({
          documentId: `d${i}`,
          title: long,
          scope: `channel:C0CH${i}`,
          chunkCount: 1,
          ingestedAt: '2026-01-01',
        })),
        400,
      ),
      approvals: listed(
        many(5, (i) => ({
          requestId: `a${i}`,
          summary: long,
          tool: 'post_message',
          requesterId: 'W0USER',
          channelId: 'C0SUPPORT',
          expiresAt: 0,
          buttonValue: `a${i}.hash`,
        })),
        31,
      ),
      unanswered: listed(
        many(10, () => ({ question: long, count: 1 })),
        200,
      ),
    });
    data.tickets = listed(
      many(8, (i) => ({ id: `DH-${i}`, summary: long, status: 'draft' as const, createdAt: 0, channelId: 'C1' })),
      50,
    );
    const view = buildHomeView(data);
    assert.equal(checkView(view), undefined);
    assert.ok(view.blocks.length <= homeBlockLimit);
    const all = text(view);
    assert.match(all, /…and 42 more/);
    assert.match(all, /…and 388 more documents/);
    assert.match(all, /…and 26 more waiting/);
    assert.match(all, /…and 190 more/);
  });

  test('a section that could not be read says so and the rest is shown', () => {
    const data = adminData({ spend: { ok: false }, feedback: { ok: false } });
    data.tickets = { ok: false };
    const view = buildHomeView(data);
    assert.equal(checkView(view), undefined);
    assert.match(text(view), /Your recent tickets\*\\n_Could not be loaded/);
    assert.match(text(view), /Answer feedback could not be loaded/);
    assert.match(text(view), /Pending approvals/);
  });

  test('fitBlocks keeps at most 100 blocks and says what it left out', () => {
    const blocks = Array.from({ length: 130 }, (_, index) => context(`line ${index}`));
    const fitted = fitBlocks(blocks);
    assert.equal(fitted.length, homeBlockLimit);
    assert.match(JSON.stringify(fitted.at(-1)), /31 more blocks are not shown/);
  });
});

describe('spend bar', () => {
  test('is always ten cells, rounds down, and flags a spend past the cap', () => {
    assert.equal(spendBar(0, 1_000_000), '░░░░░░░░░░ 0%');
    assert.equal(spendBar(999_999, 1_000_000), '▓▓▓▓▓▓▓▓▓░ 99%');
    assert.equal(spendBar(1_000_000, 1_000_000), '▓▓▓▓▓▓▓▓▓▓ 100% :warning:');
    assert.equal(spendBar(5_000_000, 1_000_000), '▓▓▓▓▓▓▓▓▓▓ 500% :warning:');
    assert.equal(spendBar(1, 0), '░░░░░░░░░░ over (cap $0)');
  });
});
