import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { handleBudgetCommand, parseUsd } from '../../src/capabilities/budget/handle-budget-command.ts';
import { DeskhandError } from '../../src/errors.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { budgetHandler } from '../../src/router/budget-handler.ts';
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

describe('/budget token counts', () => {
  const keyPrefix = `test:${randomUUID()}:`;
  const redis = new Redis('redis://127.0.0.1:6379');
  const budgets = new BudgetStore({
    redis,
    keyPrefix,
    timeZone: 'UTC',
    defaults: {
      channelDailyMicroUsd: 5_000_000,
      channelMonthlyMicroUsd: 50_000_000,
      workspaceDailyMicroUsd: 20_000_000,
    },
    reservationTtlMs: 60_000,
  });
  after(async () => {
    await deleteKeys(redis, keyPrefix);
    redis.disconnect();
  });
  const request = (workspaceId: string, channelId: string, text = ''): CapabilityRequest => ({
    origin: 'command',
    route: 'budget',
    workspaceId,
    channelId,
    userId: 'U0ADMIN',
    text,
    requestId: randomUUID(),
    threadContext: [],
  });
  const textOf = (outcome: Awaited<ReturnType<ReturnType<typeof budgetHandler>>>) => {
    assert.equal(outcome.kind, 'reply');
    return outcome.kind === 'reply' ? outcome.text : '';
  };

  test('settle counts a call’s tokens once per request id, per model and window; a release counts none', async () => {
    const first = await budgets.reserve({
      requestId: 't1',
      workspaceId: 'T0TOK',
      channelId: 'C0TOK',
      amountMicroUsd: 0,
    });
    const tokens = { model: 'llama3.1:8b', inputTokens: 900, outputTokens: 100, unpriced: 'local server' };
    assert.equal((await budgets.settle(first, 0, undefined, tokens)).charged, true);
    assert.equal((await budgets.settle(first, 0, undefined, tokens)).charged, false);
    const second = await budgets.reserve({
      requestId: 't2',
      workspaceId: 'T0TOK',
      channelId: 'C0TOK',
      amountMicroUsd: 50,
    });
    await budgets.settle(second, 40, undefined, { model: 'gpt-4o-mini', inputTokens: 200, outputTokens: 50 });
    const released = await budgets.reserve({
      requestId: 't3',
      workspaceId: 'T0TOK',
      channelId: 'C0TOK',
      amountMicroUsd: 0,
    });
    await budgets.release(released);
    const elsewhere = await budgets.reserve({
      requestId: 't4',
      workspaceId: 'T0TOK',
      channelId: 'C0ELSE',
      amountMicroUsd: 0,
    });
    await budgets.settle(elsewhere, 0, undefined, { ...tokens, inputTokens: 7, outputTokens: 3 });

    const usage = await budgets.tokenUsage('T0TOK', 'C0TOK');
    const byWindow = Object.fromEntries(usage.windows.map((window) => [window.window, window]));
    for (const name of ['channel_daily', 'channel_monthly'] as const) {
      assert.deepEqual(byWindow[name]?.models, [
        { model: 'llama3.1:8b', inputTokens: 900, outputTokens: 100, unpriced: 'local server' },
        { model: 'gpt-4o-mini', inputTokens: 200, outputTokens: 50 },
      ]);
      assert.equal(byWindow[name]?.inputTokens, 1_100);
    }
    for (const name of ['workspace_daily', 'workspace_monthly'] as const) {
      assert.equal(byWindow[name]?.inputTokens, 1_107);
      assert.equal(byWindow[name]?.outputTokens, 153);
    }
    const status = await budgets.status('T0TOK', 'C0TOK');
    assert.equal(status.windows[0]?.spentMicroUsd, 40);
    assert.equal(status.windows[0]?.reservedMicroUsd, 0, 'the $0 reservations left nothing behind');
  });

  test('a $0 reservation is refused once a window is used up, and under a cap of $0', async () => {
    await budgets.setChannelCap('T0CAP', 'C0CAP', 'daily', 0);
    await assert.rejects(
      budgets.reserve({ requestId: 'z1', workspaceId: 'T0CAP', channelId: 'C0CAP', amountMicroUsd: 0 }),
      (error: unknown) => error instanceof DeskhandError && error.code === 'over_budget',
    );
    await budgets.setChannelCap('T0CAP', 'C0CAP', 'daily', 100);
    const full = await budgets.reserve({
      requestId: 'z2',
      workspaceId: 'T0CAP',
      channelId: 'C0CAP',
      amountMicroUsd: 100,
    });
    await budgets.settle(full, 100);
    await assert.rejects(
      budgets.reserve({ requestId: 'z3', workspaceId: 'T0CAP', channelId: 'C0CAP', amountMicroUsd: 0 }),
      (error: unknown) => error instanceof DeskhandError && error.code === 'over_budget',
    );
  });

  test('the status reply lists tokens per window and each unpriced model, before the admins footer', async () => {
    const reply = await budgetHandler({ budgets, adminUserIds: ['U0ADMIN'] })(request('T0TOK', 'C0TOK'));
    const text = textOf(reply);
    assert.match(text, /Channel, today\*: < \$0\.0001 of \$5\.00/);
    assert.match(
      text,
      /\*Tokens used\* \(counted for every model, priced or not\)\n• \*Channel, today\*: 1,250 tokens \(1,100 in, 150 out\)/,
    );
    assert.match(text, /Workspace, this month\*: 1,260 tokens \(1,107 in, 153 out\)/);
    assert.match(
      text,
      /Model `llama3\.1:8b` is unpriced \(local server\): spend shows \$0; 1,000 tokens used today in this channel \(1,010 in the workspace\)\./,
    );
    assert.doesNotMatch(text, /`gpt-4o-mini` is unpriced/);
    assert.ok(reply.kind === 'reply' && reply.blocks);
    assert.deepEqual(
      reply.blocks.map((block) => block.type),
      ['section', 'section', 'context'],
    );
  });

  test('other verbs, stores without token counters and unreadable counters leave the reply as it was', async () => {
    const setReply = textOf(
      await budgetHandler({ budgets, adminUserIds: ['U0ADMIN'] })(request('T0TOK', 'C0TOK', 'set 7')),
    );
    assert.doesNotMatch(setReply, /Tokens used/);
    const withoutTokens = {
      timeZone: budgets.timeZone,
      status: budgets.status.bind(budgets),
      setChannelCap: budgets.setChannelCap.bind(budgets),
    };
    const plain = textOf(await budgetHandler({ budgets: withoutTokens, adminUserIds: [] })(request('T0TOK', 'C0TOK')));
    assert.match(plain, /Channel, today\*: < \$0\.0001 of \$7\.00/);
    assert.doesNotMatch(plain, /Tokens used/);
    const failing = {
      ...withoutTokens,
      tokenUsage: async () => {
        throw new DeskhandError('budget_unenforceable', 'redis down');
      },
    };
    const degraded = textOf(await budgetHandler({ budgets: failing, adminUserIds: [] })(request('T0TOK', 'C0TOK')));
    assert.match(degraded, /Channel, today\*: < \$0\.0001 of \$7\.00/);
    assert.doesNotMatch(degraded, /Tokens used/);
  });
});
