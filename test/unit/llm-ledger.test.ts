import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import { Ledger, type LedgerEntry, readLedger, rebuildCounters } from '../../src/llm/ledger.ts';
import { deleteKeys } from '../integration/gateway-harness.ts';

const entry = (requestId: string, costMicroUsd: number): LedgerEntry => ({
  at: new Date().toISOString(),
  requestId,
  workspaceId: 'T1',
  channelId: 'C1',
  day: '2026-11-28',
  month: '2026-11',
  model: 'gpt-4o-mini',
  purpose: 'test',
  costMicroUsd,
  inputTokens: 10,
  outputTokens: 5,
});

describe('Ledger', () => {
  test('commits concurrent appends to one file per instance and resolves each once it is on disk', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-ledger-'));
    try {
      const ledger = new Ledger(dataDir);
      await Promise.all(Array.from({ length: 25 }, (_, index) => ledger.append(entry(`r${index}`, index))));
      const lines = (await readFile(ledger.file, 'utf8')).trim().split('\n');
      assert.equal(lines.length, 25);
      await ledger.append(entry('late', 1));
      await ledger.close();
      const other = new Ledger(dataDir);
      await other.append(entry('from-another-process', 2));
      await other.close();
      assert.equal((await readdir(ledger.directory)).length, 2);
      const { entries, badLines } = await readLedger(ledger.directory);
      assert.equal(entries.length, 27);
      assert.equal(badLines, 0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('close() commits entries still waiting for the group-commit window', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-ledger-'));
    try {
      const ledger = new Ledger(dataDir, { flushDelayMs: 10_000 });
      const appended = ledger.append(entry('waiting', 7));
      await ledger.close();
      await appended;
      assert.match(await readFile(ledger.file, 'utf8'), /"requestId":"waiting"/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('skips and counts lines that do not parse, such as a line torn by a crash', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-ledger-'));
    try {
      const ledger = new Ledger(dataDir);
      await ledger.append(entry('good', 3));
      await ledger.close();
      await appendFile(ledger.file, '{"requestId":"torn","costMicro');
      const { entries, badLines } = await readLedger(ledger.directory);
      assert.deepEqual(
        entries.map((item) => item.requestId),
        ['good'],
      );
      assert.equal(badLines, 1);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('rebuildCounters', () => {
  const keyPrefix = `test:${randomUUID()}:`;
  const redis = new Redis('redis://127.0.0.1:6379');
  const at = Date.UTC(2026, 10, 28, 12);
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
    now: () => at,
  });
  after(async () => {
    await deleteKeys(redis, keyPrefix);
    redis.disconnect();
  });

  const local = { model: 'llama3.1:8b', unpriced: 'local server' };
  const call = (requestId: string, channelId: string, day: string, fields: Partial<LedgerEntry>): LedgerEntry => ({
    ...entry(requestId, 0),
    workspaceId: 'T0REBUILD',
    channelId,
    day,
    month: day.slice(0, 7),
    ...fields,
  });

  test('restores token counters per model beside spend, only ever raising them', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-ledger-'));
    try {
      const first = new Ledger(dataDir);
      const second = new Ledger(dataDir);
      const today = call('r1', 'C1', '2026-11-28', { costMicroUsd: 100, inputTokens: 10, outputTokens: 5 });
      await first.append(today);
      await second.append(today); // the same request in two files counts once
      await first.append(call('r2', 'C1', '2026-11-03', { ...local, inputTokens: 1_000, outputTokens: 200 }));
      await first.append(call('r3', 'C2', '2026-11-28', { ...local, inputTokens: 50, outputTokens: 7 }));
      await first.append(call('r4', 'C1', '2026-10-30', { costMicroUsd: 900, inputTokens: 999, outputTokens: 9 }));
      await Promise.all([first.close(), second.close()]);
      // Redis already counts more of one model in C2 today than the ledger has seen, with another reason.
      const c2Day = budgets.keys('T0REBUILD', 'C2', budgets.windowsAt()).tokens[0] ?? '';
      await redis.hset(c2Day, 'in:llama3.1:8b', '9999', 'unpriced:llama3.1:8b', 'UNKNOWN_MODEL_PRICE is 0');

      for (let run = 0; run < 2; run += 1) {
        const rebuilt = await rebuildCounters(budgets, first.directory, at);
        assert.deepEqual(rebuilt, { entries: 4, channels: 2, badLines: 0 });
      }

      const c1 = await budgets.tokenUsage('T0REBUILD', 'C1');
      const gpt = { model: 'gpt-4o-mini', inputTokens: 10, outputTokens: 5 };
      assert.deepEqual(
        c1.windows.map((window) => [window.window, window.inputTokens, window.outputTokens, window.models]),
        [
          ['channel_daily', 10, 5, [gpt]],
          ['channel_monthly', 1_010, 205, [{ ...local, inputTokens: 1_000, outputTokens: 200 }, gpt]],
          ['workspace_daily', 60, 12, [{ ...local, inputTokens: 50, outputTokens: 7 }, gpt]],
          ['workspace_monthly', 1_060, 212, [{ ...local, inputTokens: 1_050, outputTokens: 207 }, gpt]],
        ],
      );
      const c2 = await budgets.tokenUsage('T0REBUILD', 'C2');
      assert.deepEqual(c2.windows[0]?.models, [
        { model: 'llama3.1:8b', inputTokens: 9_999, outputTokens: 7, unpriced: 'UNKNOWN_MODEL_PRICE is 0' },
      ]);
      const c1Month = budgets.keys('T0REBUILD', 'C1', budgets.windowsAt()).tokens[1] ?? '';
      assert.ok((await redis.ttl(c1Month)) > 0, 'a rebuilt hash expires like a settled one');
      const status = await budgets.status('T0REBUILD', 'C1');
      assert.deepEqual(
        status.windows.map((window) => window.spentMicroUsd),
        [100, 100, 100],
      );
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
