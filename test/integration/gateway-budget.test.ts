import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { DeskhandError } from '../../src/errors.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import { rebuildCounters } from '../../src/llm/ledger.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { createHarness, deleteKeys, type Harness, scope, userMessage } from './gateway-harness.ts';

const workerPath = new URL('./gateway-load-worker.ts', import.meta.url).pathname;

function runWorker(input: Record<string, unknown>): Promise<Array<{ ok: boolean; cost?: number; code?: string }>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [workerPath, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '[]'));
    });
  });
}

describe('budget enforcement across processes', () => {
  let fake: FakeOpenAIServer;
  let dataDir: string;
  const keyPrefix = `test:${randomUUID()}:`;
  const redis = new Redis('redis://127.0.0.1:6379');

  before(async () => {
    fake = await FakeOpenAIServer.start();
    dataDir = await mkdtemp(join(tmpdir(), 'deskhand-load-'));
  });
  after(async () => {
    await deleteKeys(redis, keyPrefix);
    redis.disconnect();
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  // Each call reserves ~603 µ$ (≈20 input tokens + 1000 output at gpt-4o-mini prices) and is charged the same, so
  // a cap of 6000 µ$ fits at most 9 calls however the 50 calls interleave.
  const caps = { channelDaily: 6_000, channelMonthly: 1_000_000, workspaceDaily: 1_000_000 };

  async function fireFiftyCalls(workspaceId: string, channelId: string) {
    fake.enqueueChat(
      ...Array.from({ length: 60 }, () => ({ content: 'x', usage: { completionTokens: 1000 }, delayMs: 30 })),
    );
    const common = { baseURL: fake.baseURL, keyPrefix, dataDir, workspaceId, channelId, caps };
    const results = await Promise.all([
      runWorker({ ...common, count: 17 }),
      runWorker({ ...common, count: 17 }),
      runWorker({ ...common, count: 16 }),
    ]);
    return results.flat();
  }

  const store = () =>
    new BudgetStore({
      redis,
      keyPrefix,
      timeZone: 'Europe/Berlin',
      defaults: {
        channelDailyMicroUsd: caps.channelDaily,
        channelMonthlyMicroUsd: caps.channelMonthly,
        workspaceDailyMicroUsd: caps.workspaceDaily,
      },
      reservationTtlMs: 60_000,
    });

  test('50 concurrent calls from three processes on a brand-new channel never settle more than the cap', async () => {
    const outcomes = await fireFiftyCalls('T0LOADNEW', 'C0BRANDNEW');
    assert.equal(outcomes.length, 50);
    const succeeded = outcomes.filter((outcome) => outcome.ok);
    const refused = outcomes.filter((outcome) => outcome.code === 'over_budget');
    assert.equal(
      succeeded.length + refused.length,
      50,
      JSON.stringify(outcomes.filter((o) => !o.ok && o.code !== 'over_budget')),
    );
    assert.ok(succeeded.length >= 1 && succeeded.length <= 9, `succeeded ${succeeded.length}`);
    const status = await store().status('T0LOADNEW', 'C0BRANDNEW');
    const daily = status.windows.find((window) => window.window === 'channel_daily');
    assert.ok(daily);
    assert.ok(daily.spentMicroUsd <= caps.channelDaily, `spent ${daily.spentMicroUsd} > cap`);
    assert.equal(
      daily.spentMicroUsd,
      succeeded.reduce((sum, outcome) => sum + (outcome.cost ?? 0), 0),
    );
    assert.equal(daily.reservedMicroUsd, 0);
  });

  test('the same holds on a channel that already has spend', async () => {
    const budgets = store();
    const prior = await budgets.reserve({
      requestId: 'prior',
      workspaceId: 'T0LOADOLD',
      channelId: 'C0OLD',
      amountMicroUsd: 3_000,
    });
    await budgets.settle(prior, 3_000);
    const outcomes = await fireFiftyCalls('T0LOADOLD', 'C0OLD');
    const succeeded = outcomes.filter((outcome) => outcome.ok);
    assert.ok(succeeded.length >= 1 && succeeded.length <= 4, `succeeded ${succeeded.length}`);
    const daily = (await budgets.status('T0LOADOLD', 'C0OLD')).windows[0];
    assert.ok(daily && daily.spentMicroUsd <= caps.channelDaily);
    assert.equal(daily.spentMicroUsd, 3_000 + succeeded.reduce((sum, outcome) => sum + (outcome.cost ?? 0), 0));
  });
});

describe('budget store', () => {
  let harness: Harness;
  before(async () => {
    harness = await createHarness({
      caps: { channelDaily: 10_000, channelMonthly: 100_000, workspaceDaily: 100_000 },
      reservationTtlMs: 1_000,
      adminUserIds: ['U0ADMIN1', 'U0ADMIN2'],
    });
  });
  after(async () => harness.cleanup());

  test('windows are calendar days and months in the configured time zone', () => {
    // 2026-03-31 23:30 UTC is already 1 April 01:30 in Berlin (CEST, UTC+2).
    const windows = harness.budgets.windowsAt(Date.UTC(2026, 2, 31, 23, 30));
    assert.equal(windows.day, '2026-04-01');
    assert.equal(windows.month, '2026-04');
    assert.equal(new Date(windows.dayResetsAt).toISOString(), '2026-04-01T22:00:00.000Z');
    assert.equal(new Date(windows.monthResetsAt).toISOString(), '2026-04-30T22:00:00.000Z');
  });

  test('settling the same request twice charges it once', async () => {
    const reservation = await harness.budgets.reserve({
      requestId: 'twice',
      workspaceId: 'T1',
      channelId: 'C1',
      amountMicroUsd: 500,
    });
    assert.equal((await harness.budgets.settle(reservation, 400)).charged, true);
    assert.equal((await harness.budgets.settle(reservation, 400)).charged, false);
    const status = await harness.budgets.status('T1', 'C1');
    assert.equal(status.windows[0]?.spentMicroUsd, 400);
    assert.equal(status.windows[0]?.reservedMicroUsd, 0);
  });

  test('a reservation whose owner crashed is freed after its expiry, with no phantom refusal', async () => {
    await harness.budgets.reserve({ requestId: 'crashed', workspaceId: 'T2', channelId: 'C2', amountMicroUsd: 8_000 });
    await assert.rejects(
      harness.budgets.reserve({ requestId: 'blocked', workspaceId: 'T2', channelId: 'C2', amountMicroUsd: 5_000 }),
      (error: unknown) => error instanceof DeskhandError && error.code === 'over_budget',
    );
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const next = await harness.budgets.reserve({
      requestId: 'after',
      workspaceId: 'T2',
      channelId: 'C2',
      amountMicroUsd: 5_000,
    });
    assert.equal(next.amountMicroUsd, 5_000);
    const status = await harness.budgets.status('T2', 'C2');
    assert.equal(status.windows[0]?.reservedMicroUsd, 5_000);
  });

  test('a refusal names the reset time and the admins who can raise the cap', async () => {
    const error = await harness.budgets
      .reserve({ requestId: 'big', workspaceId: 'T3', channelId: 'C3', amountMicroUsd: 20_000 })
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof DeskhandError);
    assert.equal(error.code, 'over_budget');
    assert.match(error.userMessage, /resets \w{3} \d+ \w{3}, 00:00/);
    assert.match(error.userMessage, /<@U0ADMIN1>, <@U0ADMIN2> can raise it with `\/budget set`/);
    assert.equal(error.details.window, 'channel_daily');
  });

  test('a channel cap override set by an admin replaces the default', async () => {
    await harness.budgets.setChannelCap('T4', 'C4', 'daily', 30_000);
    const reservation = await harness.budgets.reserve({
      requestId: 'raised',
      workspaceId: 'T4',
      channelId: 'C4',
      amountMicroUsd: 20_000,
    });
    assert.equal(reservation.amountMicroUsd, 20_000);
    const daily = (await harness.budgets.status('T4', 'C4')).windows[0];
    assert.equal(daily?.capMicroUsd, 30_000);
    assert.equal(daily?.overridden, true);
  });

  test('passing 80 % of a cap warns once per window through onBudgetWarning', async () => {
    const before = harness.warnings.length;
    harness.fake?.enqueueChat(
      { content: 'a', usage: { promptTokens: 10, completionTokens: 14_000 } },
      { content: 'b', usage: { promptTokens: 10, completionTokens: 10 } },
    );
    const request = {
      purpose: 'warn',
      promptVersion: '1',
      messages: userMessage('hello'),
      maxOutputTokens: 15_000,
      cache: { enabled: false },
    };
    await harness.gateway.chat(request, scope('C5', 'T5'));
    await harness.gateway.chat({ ...request, maxOutputTokens: 100 }, scope('C5', 'T5'));
    await harness.gateway.flush();
    const warnings = harness.warnings.slice(before);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.window, 'channel_daily');
    assert.ok((warnings[0]?.spentMicroUsd ?? 0) >= 8_000);
  });

  test('calls made one after another never meet a phantom refusal while their settlements are in flight', async () => {
    // Each call reserves 6,000+ µ$ of worst case against a 10,000 µ$ cap but spends ~10 µ$. The gateway returns
    // before Redis answers the settle; the next reservation must still see the previous one settled, or the second
    // call would be refused with real spend far below the cap.
    const request = {
      purpose: 'sequence',
      promptVersion: '1',
      messages: userMessage('next step'),
      maxOutputTokens: 10_000,
      cache: { enabled: false },
    };
    const results = [];
    for (let step = 0; step < 5; step += 1) {
      harness.fake?.enqueueChat({ content: `step ${step}`, usage: { promptTokens: 9, completionTokens: 10 } });
      results.push(await harness.gateway.chat(request, scope('C9', 'T9')));
    }
    assert.deepEqual(
      results.map((result) => result.text),
      ['step 0', 'step 1', 'step 2', 'step 3', 'step 4'],
    );
    await harness.gateway.flush();
    const reader = new Redis('redis://127.0.0.1:6379');
    try {
      const other = new BudgetStore({
        redis: reader,
        keyPrefix: harness.keyPrefix,
        timeZone: 'Europe/Berlin',
        defaults: { channelDailyMicroUsd: 10_000, channelMonthlyMicroUsd: 100_000, workspaceDailyMicroUsd: 100_000 },
        reservationTtlMs: 1_000,
      });
      const daily = (await other.status('T9', 'C9')).windows[0];
      const spent = results.reduce((sum, result) => sum + result.costMicroUsd, 0);
      assert.ok(spent > 0);
      assert.equal(daily?.spentMicroUsd, spent, 'after flush() another connection sees every settlement');
      assert.equal(daily?.reservedMicroUsd, 0);
    } finally {
      reader.disconnect();
    }
  });

  test('an upstream error releases the reservation and charges nothing', async () => {
    harness.fake?.enqueueChat({ fault: 'bad_request', message: 'nope' });
    await assert.rejects(
      harness.gateway.chat(
        { purpose: 'x', promptVersion: '1', messages: userMessage('hi'), maxOutputTokens: 100 },
        scope('C6', 'T6'),
      ),
    );
    const daily = (await harness.budgets.status('T6', 'C6')).windows[0];
    assert.equal(daily?.spentMicroUsd, 0);
    assert.equal(daily?.reservedMicroUsd, 0);
  });

  test('an interrupted stream is charged at least its input, never $0', async () => {
    harness.fake?.enqueueChat({
      fault: 'interrupted_stream',
      afterChunks: 3,
      content: 'partial reply that breaks off',
    });
    const request = {
      purpose: 'stream',
      promptVersion: '1',
      messages: userMessage('Tell me a story'),
      maxOutputTokens: 200,
      onTextDelta: () => {},
    };
    const inputCost = harness.prices.cost('gpt-4o-mini', {
      inputTokens: harness.gateway.countChatTokens(request),
      outputTokens: 0,
    });
    const error = await harness.gateway.chat(request, scope('C7', 'T7')).catch((caught: unknown) => caught);
    assert.ok(error instanceof DeskhandError);
    assert.equal(error.details.interrupted, true);
    const daily = (await harness.budgets.status('T7', 'C7')).windows[0];
    assert.ok(
      (daily?.spentMicroUsd ?? 0) >= inputCost && inputCost > 0,
      `spent ${daily?.spentMicroUsd} < ${inputCost}`,
    );
    assert.equal(daily?.reservedMicroUsd, 0);
  });

  test('the ledger rebuild restores counters after Redis lost them', async () => {
    harness.fake?.enqueueChat({ content: 'one' }, { content: 'two' });
    const request = {
      purpose: 'ledger',
      promptVersion: '1',
      messages: userMessage('count me'),
      maxOutputTokens: 50,
      cache: { enabled: false },
    };
    const first = await harness.gateway.chat(request, scope('C8', 'T8'));
    const second = await harness.gateway.chat(request, scope('C8', 'T8'));
    const expected = first.costMicroUsd + second.costMicroUsd;
    await harness.gateway.flush();
    await harness.ledger.close();
    const keys = harness.budgets.keys('T8', 'C8', harness.budgets.windowsAt());
    await harness.redis.del(keys.spentChannelDay, keys.spentChannelMonth, keys.spentWorkspaceDay);
    assert.equal((await harness.budgets.status('T8', 'C8')).windows[0]?.spentMicroUsd, 0);
    const rebuilt = await rebuildCounters(harness.budgets, harness.ledger.directory);
    assert.ok(rebuilt.entries >= 2);
    const status = await harness.budgets.status('T8', 'C8');
    assert.deepEqual(
      status.windows.map((window) => window.spentMicroUsd),
      [expected, expected, expected],
    );
  });
});

describe('budget store without Redis', () => {
  test('refuses the call with a clear message and never calls the model unmetered', async () => {
    const harness = await createHarness({ redisUrl: 'redis://127.0.0.1:1' });
    harness.redis.on('error', () => {});
    try {
      const error = await harness.gateway
        .chat(
          {
            purpose: 'x',
            promptVersion: '1',
            messages: userMessage('hi'),
            maxOutputTokens: 10,
            cache: { enabled: false },
          },
          scope(),
        )
        .catch((caught: unknown) => caught);
      assert.ok(error instanceof DeskhandError);
      assert.equal(error.code, 'budget_unenforceable');
      assert.match(error.userMessage, /cannot check the budget/);
      assert.equal(harness.fake?.chatCalls().length, 0);
    } finally {
      harness.redis.disconnect();
      await harness.fake?.close();
    }
  });
});
