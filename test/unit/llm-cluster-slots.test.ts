import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { workspaceSettingsKey } from '../../src/llm/budget-keys.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import { ResponseCache } from '../../src/llm/response-cache.ts';

// The slot function ioredis's own Cluster client routes with (a dependency of ioredis; it ships no types).
const keySlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

describe('Redis Cluster compatibility', () => {
  // Never connects: these tests only compute key names.
  const redis = new Redis({ lazyConnect: true });
  const budgets = new BudgetStore({
    redis,
    keyPrefix: 'dh:',
    timeZone: 'UTC',
    defaults: { channelDailyMicroUsd: 1, channelMonthlyMicroUsd: 1, workspaceDailyMicroUsd: 1 },
    reservationTtlMs: 1000,
  });

  test('every key a budget script touches for a workspace is in one hash slot', () => {
    for (const [workspaceId, channelId] of [
      ['T0123ABCD', 'C0456EFGH'],
      ['E0999ZZZZ', 'D0AAAA111'],
    ] as const) {
      const keys = budgets.keys(workspaceId, channelId, { day: '2026-11-28', month: '2026-11' });
      const names = [
        keys.reservations,
        keys.reservationRecords,
        keys.reserved,
        keys.spentChannelDay,
        keys.spentChannelMonth,
        keys.spentWorkspaceDay,
        keys.savedChannelDay,
        keys.savedChannelMonth,
        keys.savedWorkspaceDay,
        keys.channelCaps,
        keys.warnChannelDay,
        keys.warnChannelMonth,
        keys.warnWorkspaceDay,
        keys.request('request-1'),
        ...keys.tokens,
        // The spend record, config stream, restore lock and sentinel, and the settings hash a restore writes back.
        keys.record,
        keys.config,
        keys.rebuilding,
        keys.seeded,
        workspaceSettingsKey('dh:', workspaceId),
      ];
      assert.equal(keys.tokens.length, 4);
      const slots = new Set(names.map(keySlot));
      assert.equal(slots.size, 1, `${workspaceId}: ${[...slots].join(', ')}`);
      assert.ok(names.every((name) => name.startsWith(`dh:{${workspaceId}}:`)));
    }
  });

  test('different workspaces land in their own slots (keys are not all forced into one)', () => {
    const slots = new Set(
      ['T01', 'T02', 'T03', 'T04', 'T05'].map((workspaceId) =>
        keySlot(budgets.keys(workspaceId, 'C1', { day: 'd', month: 'm' }).reserved),
      ),
    );
    assert.ok(slots.size > 1);
  });

  test('cache keys carry the workspace hash tag', () => {
    const cache = new ResponseCache({ redis, keyPrefix: 'dh:', ttlSeconds: 1, timeSensitiveTtlSeconds: 1 });
    const key = cache.keyFor(
      { purpose: 'p', promptVersion: '1', messages: [{ role: 'user', content: 'hi' }], maxOutputTokens: 1 },
      'gpt-4o-mini',
      { workspaceId: 'T0123ABCD', channelId: 'C1' },
    );
    assert.equal(keySlot(key), keySlot(budgets.keys('T0123ABCD', 'C1', { day: 'd', month: 'm' }).reserved));
  });

  test('rejects ids that could break out of the hash tag', () => {
    assert.throws(() => budgets.keys('T1}x{', 'C1', { day: 'd', month: 'm' }), /Invalid workspace id/);
  });
});
