import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { handleBudgetCommand, parseUsd } from '../../src/capabilities/budget/handle-budget-command.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import { deleteKeys } from '../integration/gateway-harness.ts';

describe('/budget', () => {
  const keyPrefix = `test:${randomUUID()}:`;
  const redis = new Redis('redis://127.0.0.1:6379');
  const budgets = new BudgetStore({
    redis,
    keyPrefix,
    timeZone: 'America/New_York',
    defaults: {
      channelDailyMicroUsd: 5_000_000,
      channelMonthlyMicroUsd: 50_000_000,
      workspaceDailyMicroUsd: 20_000_000,
    },
    reservationTtlMs: 60_000,
  });
  const dependencies = { budgets, adminUserIds: ['U0ADMIN'] };
  const base = { workspaceId: 'T0BUDGET', channelId: 'C0BUDGET' };
  after(async () => {
    await deleteKeys(redis, keyPrefix);
    redis.disconnect();
  });

  test('shows spend, remaining, savings and reset time for the channel and the workspace', async () => {
    const reservation = await budgets.reserve({ requestId: 'r1', ...base, amountMicroUsd: 2_000_000 });
    await budgets.settle(reservation, 1_250_000);
    await budgets.recordSavings(base.workspaceId, base.channelId, 300_000);
    const reply = await handleBudgetCommand({ text: '', userId: 'U0USER', ...base }, dependencies);
    assert.match(
      reply.text,
      /Channel, today\*: \$1\.25 of \$5\.00 \(default\) spent, \$3\.75 left, cache saved \$0\.30\. Resets \w{3} \d+ \w{3}, 00:00 E[SD]T/,
    );
    assert.match(reply.text, /Channel, this month\*: \$1\.25 of \$50\.00 \(default\) spent, \$48\.75 left/);
    assert.match(reply.text, /Workspace, today\*: \$1\.25 of \$20\.00 spent, \$18\.75 left/);
    assert.match(reply.text, /Admins who can change the caps: <@U0ADMIN>/);
    assert.ok(reply.blocks && reply.blocks.length === 2);
  });

  test('lets an admin set the channel’s monthly cap and shows it as set by an admin', async () => {
    const reply = await handleBudgetCommand({ text: 'set $120.50 monthly', userId: 'U0ADMIN', ...base }, dependencies);
    assert.match(reply.text, /monthly model budget for <#C0BUDGET> is now \$120\.50/);
    const status = await handleBudgetCommand({ text: '', userId: 'U0ADMIN', ...base }, dependencies);
    assert.match(status.text, /Channel, this month\*: \$1\.25 of \$120\.50 \(set by an admin\)/);
  });

  test('refuses /budget set from someone who is not an admin, naming the admins', async () => {
    const reply = await handleBudgetCommand({ text: 'set 1000', userId: 'U0USER', ...base }, dependencies);
    assert.equal(reply.text, 'Only admins can change budgets. Ask <@U0ADMIN>.');
    const status = await budgets.status(base.workspaceId, base.channelId);
    assert.equal(status.windows[0]?.capMicroUsd, 5_000_000);
  });

  test('explains each bad input specifically', async () => {
    const cases: Array<[string, RegExp]> = [
      ['set', /Tell me the new cap in dollars/],
      ['set ten', /`ten` is not a dollar amount/],
      ['set -5', /`-5` is not a dollar amount/],
      ['set 5 weekly', /`weekly` is not a budget window/],
      ['set 5 daily please', /did not expect `please`/],
      ['set 1000000', /above the largest cap/],
      ['reset', /I do not know `\/budget reset`/],
    ];
    for (const [text, expected] of cases) {
      const reply = await handleBudgetCommand({ text, userId: 'U0ADMIN', ...base }, dependencies);
      assert.match(reply.text, expected, text);
    }
  });

  test('answers with a clear message when the budget store is unavailable', async () => {
    const broken = {
      timeZone: 'UTC',
      status: async () => {
        throw new (await import('../../src/errors.ts')).DeskhandError('budget_unenforceable', 'redis down');
      },
      setChannelCap: async () => {},
    };
    const reply = await handleBudgetCommand(
      { text: '', userId: 'U0USER', ...base },
      { budgets: broken, adminUserIds: [] },
    );
    assert.match(reply.text, /cannot read the budget right now/);
  });

  test('parses dollar amounts strictly', () => {
    assert.equal(parseUsd('5'), 5);
    assert.equal(parseUsd('$12.50'), 12.5);
    assert.equal(parseUsd('1e3'), undefined);
    assert.equal(parseUsd('5.1234567'), undefined);
  });
});
