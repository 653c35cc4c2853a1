/**
 * `/budget` says when a workspace's figures were restored after Redis lost them, and from what (issue 17 item 2):
 * the wording per source, the time in the workspace's time zone, the caps-unknown warning, and the line in a real
 * reply after a loss (local Redis, own prefix) — but never for a workspace that was only seeded new.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import type { RestoreNote } from '../../src/llm/budget-types.ts';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { budgetHandler, restoredText } from '../../src/router/budget-handler.ts';
import { deleteKeys } from '../integration/gateway-harness.ts';

const at = Date.UTC(2026, 11, 5, 13, 7);
const note = (fields: Partial<RestoreNote>): RestoreNote => ({
  at,
  source: 'record',
  entries: 3,
  caps: 'restored',
  ...fields,
});

describe('/budget restored line', () => {
  test('names the time in the workspace’s zone and the source', () => {
    assert.equal(
      restoredText(note({}), 'Europe/Berlin'),
      ':information_source: Figures restored from the spend record at 14:07 (Redis had lost them).',
    );
    assert.match(restoredText(note({ source: 'export' }), 'UTC'), /local ledger export at 13:07 .*may be missing/);
    assert.match(
      restoredText(note({ source: 'record+export' }), 'UTC'),
      /from the spend record and this instance's local ledger export at 13:07/,
    );
  });

  test('warns that calls are refused while the caps are unknown', () => {
    assert.match(restoredText(note({ caps: 'unknown' }), 'UTC'), /refused until an admin sets them again/);
    assert.doesNotMatch(restoredText(note({ caps: 'reset' }), 'UTC'), /refused/);
  });

  describe('in the reply', () => {
    const keyPrefix = `test:${randomUUID()}:`;
    const redis = new Redis('redis://127.0.0.1:6379');
    const budgets = new BudgetStore({
      redis,
      keyPrefix,
      timeZone: 'UTC',
      defaults: {
        channelDailyMicroUsd: 5_000_000,
        channelMonthlyMicroUsd: 50_000_000,
        workspaceDailyMicroUsd: 50_000_000,
      },
      reservationTtlMs: 60_000,
    });
    after(async () => {
      await deleteKeys(redis, keyPrefix);
      redis.disconnect();
    });
    const request: CapabilityRequest = {
      origin: 'command',
      route: 'budget',
      workspaceId: 'T0LINE',
      channelId: 'C0LINE',
      userId: 'U0USER',
      text: '',
      requestId: randomUUID(),
      threadContext: [],
    };
    const handler = budgetHandler({ budgets, adminUserIds: ['U0ADMIN'] });
    const reply = async () => {
      const outcome = await handler(request);
      assert.equal(outcome.kind, 'reply');
      return outcome.kind === 'reply' ? outcome : undefined;
    };

    test('absent for a new workspace, present after its counters were lost and restored', async () => {
      const reservation = await budgets.reserve({
        requestId: 'l-1',
        workspaceId: 'T0LINE',
        channelId: 'C0LINE',
        amountMicroUsd: 500,
      });
      await budgets.settle(reservation, 400);
      assert.doesNotMatch((await reply())?.text ?? '', /restored/);

      const kept = new Set([`${keyPrefix}{T0LINE}:budget:record`, `${keyPrefix}{T0LINE}:budget:config`]);
      const lost = (await redis.keys(`${keyPrefix}*`)).filter((key) => !kept.has(key));
      await redis.del(...lost);
      const after = await reply();
      assert.match(after?.text ?? '', /Figures restored from the spend record at \d\d:\d\d/);
      assert.match(after?.text ?? '', /Channel, today\*: \$0\.0004 of \$5\.00/, 'the restored spend is shown');
      const blocks = after?.blocks ?? [];
      const restoredIndex = blocks.findIndex((block) => JSON.stringify(block).includes('Figures restored'));
      assert.ok(restoredIndex > 0, 'a block of its own after the figures');
      assert.equal(blocks.at(-1)?.type, 'context', 'the admins footer stays last');
    });
  });
});
