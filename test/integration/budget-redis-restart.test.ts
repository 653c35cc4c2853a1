/**
 * Caps and spend that survive a Redis restart without persistence (issue 17, item 2 and "caps are durable"), on a
 * Redis server of this test's own (port 7301, no RDB, no AOF) killed with SIGKILL and started again empty.
 *
 * Two "replicas" (two budget stores on their own connections, each with its own ledger file in one shared
 * `DATA_DIR/ledger`, as the README recommends) take 60 concurrent reservations against a small channel cap set by an
 * admin, before and after the restart. Before this change the restart left every channel on the default cap with zero
 * spend (3.45× the cap admitted in the issue's run); now the first reservation after it restores the spend and the
 * cap from the export (the spend record in Redis was lost too) before admitting anything: spend/cap stays ≤ 1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { isDeskhandError } from '../../src/errors.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import type { Reservation, RestoreNote } from '../../src/llm/budget-types.ts';
import { Ledger, reseedFromLedgerWhenMissing } from '../../src/llm/ledger.ts';
import { PriceTable } from '../../src/llm/prices.ts';
import { Settlement } from '../../src/llm/settlement.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { LocalRedisProcesses, type LocalServer, redisServerMissing } from './local-redis-topology.ts';

const port = 7301;
const workspaceId = 'T0RESTART';
const channelId = 'C0SMALLCAP';
const perCall = 10_000;
const cap = 100_000;

interface Replica {
  name: string;
  redis: Redis;
  budgets: BudgetStore;
  ledger: Ledger;
  settlement: Settlement;
  restores: RestoreNote[];
}

function replica(name: string, dataDir: string): Replica {
  const redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const budgets = new BudgetStore({
    redis,
    keyPrefix: 'dh:',
    timeZone: 'UTC',
    defaults: {
      channelDailyMicroUsd: 5_000_000,
      channelMonthlyMicroUsd: 50_000_000,
      workspaceDailyMicroUsd: 50_000_000,
    },
    reservationTtlMs: 60_000,
    commandTimeoutMs: 5_000,
    adminUserIds: ['U0ADMIN'],
  });
  const ledger = new Ledger(dataDir, { flushDelayMs: 5 });
  const restores: RestoreNote[] = [];
  reseedFromLedgerWhenMissing(budgets, ledger, (_workspace, note) => restores.push(note));
  const settlement = new Settlement({ budgets, prices: new PriceTable(), logger: createSilentLogger(), ledger });
  return { name, redis, budgets, ledger, settlement, restores };
}

/** 60 concurrent reservations of `perCall` spread over the replicas; each admitted one is settled at its amount. */
async function burst(replicas: readonly Replica[], round: string, channel = channelId) {
  const outcomes = await Promise.all(
    Array.from({ length: 60 }, async (_, index) => {
      const owner = replicas[index % replicas.length] as Replica;
      try {
        const reservation: Reservation = await owner.budgets.reserve({
          requestId: `${round}-${index}`,
          workspaceId,
          channelId: channel,
          amountMicroUsd: perCall,
        });
        await owner.settlement.settle(reservation, perCall, {
          model: 'gpt-4o-mini',
          purpose: 'burst',
          inputTokens: 10,
          outputTokens: 10,
        });
        return 'admitted';
      } catch (error) {
        if (isDeskhandError(error))
          return `${error.code}:${String(error.details.reason ?? error.details.window ?? '')}`;
        throw error;
      }
    }),
  );
  for (const each of replicas) await each.settlement.flush();
  const counts = new Map<string, number>();
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  return counts;
}

describe('caps and spend across a Redis restart without persistence', { skip: redisServerMissing() }, () => {
  const processes = new LocalRedisProcesses();
  let server: LocalServer;
  let dataDir: string;
  let replicas: Replica[];

  before(async () => {
    server = await processes.start(port, []);
    dataDir = await mkdtemp(join(tmpdir(), 'deskhand-restart-'));
    replicas = [replica('A', dataDir), replica('B', dataDir)];
  });
  after(async () => {
    for (const each of replicas) {
      await each.ledger.close();
      each.redis.disconnect();
    }
    await processes.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function restartEmpty(): Promise<void> {
    processes.kill(server);
    await new Promise((resolve) => server.process.once('exit', resolve));
    processes.servers.splice(processes.servers.indexOf(server), 1);
    server = await processes.start(port, []);
    for (const each of replicas) await each.redis.ping();
  }

  const spent = async () => (await replicas[0]?.budgets.status(workspaceId, channelId))?.windows[0];

  test('60 concurrent reservations against a small cap hold it before and after the restart (spend/cap ≤ 1)', async () => {
    const [a, b] = replicas as [Replica, Replica];
    await a.budgets.setChannelCap(workspaceId, channelId, 'daily', cap);
    const first = await burst(replicas, 'before');
    const before = (await spent())?.spentMicroUsd ?? 0;
    console.log(`before the restart: ${first.get('admitted')} of 60 admitted, spend/cap ${(before / cap).toFixed(2)}`);
    assert.equal(first.get('admitted'), cap / perCall);

    await restartEmpty();
    assert.equal(await a.redis.dbsize(), 0, 'Redis came back empty');
    const second = await burst(replicas, 'after');
    const window = await spent();
    const total = window?.spentMicroUsd ?? 0;
    console.log(
      `after the restart: ${second.get('admitted') ?? 0} of 60 admitted (${[...second].map(([k, v]) => `${k} ${v}`).join(', ')}), spend/cap ${(total / cap).toFixed(2)}, cap ${window?.capMicroUsd}`,
    );
    assert.equal(second.get('admitted') ?? 0, 0);
    assert.equal(window?.capMicroUsd, cap, 'the admin’s cap came back, not the $5 default');
    assert.equal(total, before, 'the spend came back');
    assert.ok(total / cap <= 1);
    // One restore across both replicas; the other waited for it.
    const notes = [...a.restores, ...b.restores].filter((note) => note.source !== 'new');
    assert.equal(notes.length, 1, JSON.stringify(notes));
    assert.deepEqual({ ...notes[0], at: 0 }, { at: 0, source: 'export', entries: cap / perCall, caps: 'restored' });
    assert.equal((await a.budgets.status(workspaceId, channelId)).restored?.source, 'export');
  });

  test('counters lost but the spend record kept (a failover, an eviction): restored from the record alone', async () => {
    const [a] = replicas as [Replica];
    const before = (await spent())?.spentMicroUsd ?? 0;
    const keep = (key: string) => key.endsWith(':budget:record') || key.endsWith(':budget:config');
    const keys = (await a.redis.keys('dh:*')).filter((key) => !keep(key));
    await a.redis.del(...keys);
    await rm(join(dataDir, 'ledger'), { recursive: true, force: true }); // not the export this time
    const window = await spent();
    assert.equal(window?.spentMicroUsd, before);
    assert.equal(window?.capMicroUsd, cap);
    const note = await a.budgets.restoreNote(workspaceId);
    assert.equal(note?.source, 'record');
    // The record now holds the restored calls too, so this restore needed no disk at all.
    assert.equal(note?.entries, cap / perCall);
  });

  test('caps recorded nowhere: refused with a reason naming the admins until an admin sets the cap again', async () => {
    const [a] = replicas as [Replica];
    // Redis loses everything and this replica's disk has the spend but no caps snapshot (e.g. written before the
    // export existed): falling back to the $5 default would admit 50× the admin's cap.
    const orphan = new Ledger(dataDir, { flushDelayMs: 1 });
    await orphan.append({
      at: new Date().toISOString(),
      requestId: 'orphan-1',
      workspaceId: 'T0ORPHAN',
      channelId,
      day: a.budgets.windowsAt().day,
      month: a.budgets.windowsAt().month,
      model: 'gpt-4o-mini',
      purpose: 'x',
      costMicroUsd: perCall,
      inputTokens: 1,
      outputTokens: 1,
    });
    await orphan.close();
    await a.redis.flushall();
    const refusal = await a.budgets
      .reserve({ requestId: 'orphan-2', workspaceId: 'T0ORPHAN', channelId, amountMicroUsd: perCall })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(isDeskhandError(refusal), String(refusal));
    assert.equal(refusal.code, 'budget_unenforceable');
    assert.equal(refusal.details.reason, 'caps_lost');
    assert.match(refusal.userMessage, /<@U0ADMIN>: set the caps again/);
    assert.equal((await a.budgets.restoreNote('T0ORPHAN'))?.caps, 'unknown');

    await a.budgets.setChannelCap('T0ORPHAN', channelId, 'daily', 2 * perCall);
    assert.equal((await a.budgets.restoreNote('T0ORPHAN'))?.caps, 'reset');
    const admitted = await a.budgets.reserve({
      requestId: 'orphan-3',
      workspaceId: 'T0ORPHAN',
      channelId,
      amountMicroUsd: perCall,
    });
    assert.equal(admitted.amountMicroUsd, perCall);
    const over = await a.budgets
      .reserve({ requestId: 'orphan-4', workspaceId: 'T0ORPHAN', channelId, amountMicroUsd: perCall })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(isDeskhandError(over) && over.code === 'over_budget', 'the restored spend counts against the new cap');
  });
});
