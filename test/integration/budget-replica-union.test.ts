/**
 * Spend that stays exact across an outage and a Redis wipe with several replicas (issue 17, the fault test's
 * "spend/cap 1.29, counters ≠ record"), on the local Redis with a key prefix of this test's own:
 *
 * - a settlement during an outage (the settings unreadable, the settle script failing, or applied with its reply
 *   lost) is counted exactly once when Redis answers again — before, it was only logged and never counted;
 * - three replicas (three budget stores on their own connections, each with its own DATA_DIR) settle calls, every
 *   key of the prefix is deleted (the wipe), then 30 concurrent reservations from all three against the channel's
 *   cap: the restore is the union of the three exports, so admitted spend stays ≤ the cap and the counters equal
 *   the sum of the exports and the spend record — before, the restorer merged its own export only and admitted
 *   twice the room that was left;
 * - a fourth replica that was down during the restore contributes when it starts: the counters rise by exactly its
 *   calls, and never a second time;
 * - a settlement acknowledged and then lost in a failover is found by its recheck and counted once;
 * - a reservation in flight during the wipe is put back by its replica before anything else is admitted.
 * Each fails without its part of the change (checked by disabling that part).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/adapters/redis-client.ts';
import { isDeskhandError } from '../../src/errors.ts';
import { workspaceRecordKeys } from '../../src/llm/budget-keys.ts';
import { BudgetStore, type BudgetStoreOptions } from '../../src/llm/budget-store.ts';
import type { RestoreNote } from '../../src/llm/budget-types.ts';
import { Ledger, readLedger, reseedFromLedgerWhenMissing } from '../../src/llm/ledger.ts';
import { PriceTable } from '../../src/llm/prices.ts';
import { Settlement } from '../../src/llm/settlement.ts';
import { readSpendRecord } from '../../src/llm/spend-record.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { deleteKeys } from './gateway-harness.ts';

const keyPrefix = `test:${randomUUID()}:`;
const connections: Redis[] = [];
const directories: string[] = [];
const perCall = 10_000;
const cap = 200_000;
const call = { model: 'gpt-4o-mini', purpose: 'test', inputTokens: 10, outputTokens: 5 };

function connection(): Redis {
  const redis = new Redis('redis://127.0.0.1:6379');
  connections.push(redis);
  return redis;
}

function store(redis: RedisClient, options: Partial<BudgetStoreOptions> = {}): BudgetStore {
  return new BudgetStore({
    redis,
    keyPrefix,
    timeZone: 'UTC',
    defaults: {
      channelDailyMicroUsd: 5_000_000,
      channelMonthlyMicroUsd: 50_000_000,
      workspaceDailyMicroUsd: 50_000_000,
    },
    reservationTtlMs: 60_000,
    commandTimeoutMs: 5_000,
    ...options,
  });
}

interface Replica {
  name: string;
  budgets: BudgetStore;
  ledger: Ledger;
  settlement: Settlement;
  restores: RestoreNote[];
  stop?: () => void;
}

async function replica(name: string, options: { coordinate: boolean }): Promise<Replica> {
  const dataDir = await mkdtemp(join(tmpdir(), `deskhand-union-${name}-`));
  directories.push(dataDir);
  const budgets = store(connection());
  const ledger = new Ledger(dataDir, { flushDelayMs: 5 });
  const restores: RestoreNote[] = [];
  reseedFromLedgerWhenMissing(budgets, ledger, (_workspace, note) => restores.push(note));
  const settlement = new Settlement({ budgets, prices: new PriceTable(), logger: createSilentLogger(), ledger });
  const made: Replica = { name, budgets, ledger, settlement, restores };
  if (options.coordinate) await coordinate(made);
  return made;
}

async function coordinate(made: Replica): Promise<void> {
  const { stop } = await made.budgets.coordinateRestores({
    replicaId: made.name,
    intervalMs: 200,
    peerWaitMs: 3_000,
  });
  made.stop = stop;
}

/** Reserves and settles `count` calls of `perCall` through the replica's settlement (ledger line included). */
async function spend(made: Replica, workspaceId: string, channelId: string, count: number): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    const reservation = await made.budgets.reserve({
      requestId: `${made.name}-${randomUUID()}`,
      workspaceId,
      channelId,
      amountMicroUsd: perCall,
    });
    await made.settlement.settle(reservation, perCall, call);
  }
  await made.settlement.flush();
}

/** Distinct calls (by request id) and their total in the spend record. */
async function recordTotal(redis: Redis, workspaceId: string): Promise<{ calls: number; total: number }> {
  const { entries } = await readSpendRecord(redis, workspaceRecordKeys(keyPrefix, workspaceId).record);
  const ids = new Set(entries.map((entry) => entry.requestId));
  assert.equal(ids.size, entries.length, 'no call is in the record twice');
  return { calls: entries.length, total: entries.reduce((sum, entry) => sum + entry.costMicroUsd, 0) };
}

/** Distinct calls of the workspace across the replicas' exports, and their total. */
async function exportsTotal(replicas: readonly Replica[], workspaceId: string): Promise<number> {
  const costs = new Map<string, number>();
  for (const each of replicas) {
    for (const entry of (await readLedger(each.ledger.directory)).entries) {
      if (entry.workspaceId === workspaceId) costs.set(entry.requestId, entry.costMicroUsd);
    }
  }
  return [...costs.values()].reduce((sum, cost) => sum + cost, 0);
}

const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => 'admitted',
    (error: unknown) => (isDeskhandError(error) ? error.code : String(error)),
  );

after(async () => {
  await deleteKeys(connections[0] ?? connection(), keyPrefix);
  for (const redis of connections) redis.disconnect();
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

describe('a settlement during an outage', () => {
  test('is counted once when Redis and the settings answer again: unreadable caps, failed sends, a lost reply', async () => {
    const redis = connection();
    let settleCalls = 0;
    // The settle script: the first two sends fail before reaching Redis, the third applies but its reply is lost.
    const flaky = new Proxy(redis, {
      get(target, property) {
        if (property === 'deskhandBudgetSettle') {
          return async (...args: unknown[]) => {
            settleCalls += 1;
            if (settleCalls <= 2) throw new Error('Connection is closed.');
            const reply = await (
              target as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
            ).deskhandBudgetSettle?.(...args);
            if (settleCalls === 3) throw new Error('Command timed out (reply lost)');
            return reply;
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as RedisClient;
    let settingsDown = false;
    const budgets = store(flaky, {
      policyOf: async () => {
        if (settingsDown) throw new Error('Settings store unavailable');
        return {
          defaults: { channelDailyMicroUsd: cap, channelMonthlyMicroUsd: cap, workspaceDailyMicroUsd: cap },
          adminUserIds: [],
        };
      },
    });
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-outage-'));
    directories.push(dataDir);
    const ledger = new Ledger(dataDir, { flushDelayMs: 5 });
    const settlement = new Settlement({
      budgets,
      prices: new PriceTable(),
      logger: createSilentLogger(),
      ledger,
      settleRetryDelaysMs: [20, 40, 80, 160],
    });
    const reservation = await budgets.reserve({
      requestId: 'outage-1',
      workspaceId: 'T0OUTAGE',
      channelId: 'C1',
      amountMicroUsd: perCall,
    });
    settingsDown = true; // the failover made the settings unreadable too (the fault test's "Could not read the caps")
    await settlement.settle(reservation, 7_000, call);
    await settlement.flush();
    settingsDown = false;

    const status = await budgets.status('T0OUTAGE', 'C1');
    assert.equal(status.windows[0]?.spentMicroUsd, 7_000, 'counted once');
    assert.equal(status.windows[0]?.reservedMicroUsd, 0, 'the reservation was replaced by the cost');
    assert.deepEqual(await recordTotal(redis, 'T0OUTAGE'), { calls: 1, total: 7_000 });
    assert.equal(settleCalls, 4, 'two failed sends, one applied with its reply lost, one duplicate');
    assert.equal((await readLedger(ledger.directory)).entries.length, 1);
    await ledger.close();
  });
});

describe('a settlement the old master acknowledged and a failover lost', () => {
  test('is found by its recheck a few seconds later and counted once', { timeout: 10_000 }, async () => {
    const redis = connection();
    let lose = true;
    // The failover promotes a replica that never got the settle: acknowledged, but not in the Redis that remains.
    const lagging = new Proxy(redis, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (property === 'deskhandBudgetSettle' && lose) return async () => ['settled'];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as RedisClient;
    const budgets = store(lagging);
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-lag-'));
    directories.push(dataDir);
    const ledger = new Ledger(dataDir, { flushDelayMs: 5 });
    reseedFromLedgerWhenMissing(budgets, ledger);
    const settlement = new Settlement({ budgets, prices: new PriceTable(), logger: createSilentLogger(), ledger });
    let counted: (workspaceId: string) => void = () => {};
    const recounted = new Promise<string>((resolve) => {
      counted = resolve;
    });
    const { stop } = await budgets.coordinateRestores({
      replicaId: 'LAG',
      intervalMs: 100,
      recheckAfterMs: 200,
      onContributed: (workspaceId, added) => {
        if (added === 1) counted(workspaceId);
      },
    });
    try {
      const reservation = await budgets.reserve({
        requestId: 'lost-in-failover',
        workspaceId: 'T0LAG',
        channelId: 'C1',
        amountMicroUsd: perCall,
      });
      await settlement.settle(reservation, 6_000, call);
      lose = false;
      assert.equal((await budgets.status('T0LAG', 'C1')).windows[0]?.spentMicroUsd, 0, 'the settle was lost');
      assert.equal(await recounted, 'T0LAG');
      const window = (await budgets.status('T0LAG', 'C1')).windows[0];
      assert.equal(window?.spentMicroUsd, 6_000, 'counted by the recheck');
      assert.equal(window?.reservedMicroUsd, 0, 'and its reservation freed');
      assert.deepEqual(await recordTotal(redis, 'T0LAG'), { calls: 1, total: 6_000 });
      // A late retry of the settle itself is now a duplicate: still once.
      assert.equal((await budgets.settle(reservation, 6_000)).charged, false);
      assert.equal((await budgets.status('T0LAG', 'C1')).windows[0]?.spentMicroUsd, 6_000);
    } finally {
      stop();
      await ledger.close();
    }
  });
});

describe('three replicas and a Redis wipe', () => {
  const workspaceId = 'T0UNION';
  const channelId = 'C0SMALLCAP';
  let replicas: Replica[] = [];

  after(() => {
    for (const each of replicas) each.stop?.();
  });

  test('the restore merges every live replica’s export: admitted spend ≤ cap, counters == exports == record', async () => {
    replicas = [
      await replica('A', { coordinate: true }),
      await replica('B', { coordinate: true }),
      await replica('C', { coordinate: true }),
    ];
    const [a] = replicas as [Replica];
    await a.budgets.setChannelCap(workspaceId, channelId, 'daily', cap);
    for (const each of replicas) await spend(each, workspaceId, channelId, 4);
    const before = (await a.budgets.status(workspaceId, channelId)).windows[0]?.spentMicroUsd;
    assert.equal(before, 12 * perCall);

    await deleteKeys(connections[0] as Redis, keyPrefix); // the wipe: counters, record, config, registry, all gone
    // The first request after the wipe reaches A alone: B and C learn of the loss only by their periodic check.
    const attempt = async (index: number) => {
      const from = replicas[index % 3] as Replica;
      const reservation = from.budgets.reserve({
        requestId: `after-${index}`,
        workspaceId,
        channelId,
        amountMicroUsd: perCall,
      });
      const result = await outcome(reservation);
      if (result === 'admitted') await from.settlement.settle(await reservation, perCall, call);
      return result;
    };
    const first = await attempt(0);
    const outcomes = [first, ...(await Promise.all(Array.from({ length: 29 }, (_, index) => attempt(index + 1))))];
    for (const each of replicas) await each.settlement.flush();
    const admitted = outcomes.filter((result) => result === 'admitted').length;
    const window = (await a.budgets.status(workspaceId, channelId)).windows[0];
    const record = await recordTotal(connections[0] as Redis, workspaceId);
    const exported = await exportsTotal(replicas, workspaceId);
    console.log(
      `after the wipe: ${admitted} of 30 admitted, spend/cap ${((window?.spentMicroUsd ?? 0) / cap).toFixed(2)}, counters ${window?.spentMicroUsd}, exports ${exported}, record ${record.total}`,
    );
    assert.equal(window?.capMicroUsd, cap, 'the admin’s cap came back');
    assert.equal(admitted, (cap - 12 * perCall) / perCall, 'exactly the room left was admitted');
    assert.ok((window?.spentMicroUsd ?? 0) <= cap, 'spend/cap ≤ 1');
    assert.equal(window?.spentMicroUsd, exported, 'counters == sum of all exports');
    assert.equal(record.total, exported, 'record == sum of all exports');
    const notes = replicas.flatMap((each) => each.restores).filter((note) => note.source !== 'new');
    assert.equal(notes.length, 1, JSON.stringify(notes));
    assert.equal(notes[0]?.source, 'export');
    assert.equal(notes[0]?.missingReplicas, undefined, 'every live replica contributed before the seed');
  });

  test('a replica that was down during the restore raises the counters by exactly its calls, never twice', async () => {
    const [a] = replicas as [Replica];
    // D settled calls into its own export, then lost Redis (here: the calls are taken out of Redis again).
    const d = await replica('D', { coordinate: false });
    const late = ['D-late-1', 'D-late-2'];
    for (const requestId of late) {
      await d.ledger.append({
        at: new Date().toISOString(),
        requestId,
        workspaceId,
        channelId,
        day: a.budgets.windowsAt().day,
        month: a.budgets.windowsAt().month,
        costMicroUsd: 7_000,
        ...call,
      });
    }
    const before = (await a.budgets.status(workspaceId, channelId)).windows[0]?.spentMicroUsd ?? 0;
    const recordBefore = await recordTotal(connections[0] as Redis, workspaceId);

    await coordinate(d); // D starts again: its first round contributes what the record lacks
    const after = (await a.budgets.status(workspaceId, channelId)).windows[0]?.spentMicroUsd ?? 0;
    assert.equal(after - before, 14_000, 'raised by exactly its calls');
    assert.deepEqual(await recordTotal(connections[0] as Redis, workspaceId), {
      calls: recordBefore.calls + 2,
      total: recordBefore.total + 14_000,
    });

    // Again, and from a restarted D (a new replica id reading the same directory): nothing is added twice.
    await d.budgets.coordinateRestores({ replicaId: 'D-restarted', intervalMs: 200 }).then(({ stop }) => stop());
    const restarted = store(connection());
    reseedFromLedgerWhenMissing(restarted, d.ledger.directory);
    (await restarted.coordinateRestores({ replicaId: 'D2', intervalMs: 200 })).stop();
    const final = (await a.budgets.status(workspaceId, channelId)).windows[0]?.spentMicroUsd ?? 0;
    assert.equal(final, after, 'never twice');
    assert.equal(final, await exportsTotal([...replicas, d], workspaceId), 'counters == sum of all exports');
    assert.equal((await recordTotal(connections[0] as Redis, workspaceId)).total, final, 'record == counters');
    d.stop?.();
    await d.ledger.close();
  });
});

describe('a reservation in flight when Redis lost everything', () => {
  test('is put back by the replica holding it before anything else is admitted: its room is not given twice', async () => {
    const [a, b] = [await replica('HA', { coordinate: true }), await replica('HB', { coordinate: true })];
    try {
      await a.budgets.setChannelCap('T0HELD', 'C1', 'daily', 100_000);
      await spend(a, 'T0HELD', 'C1', 1);
      const inFlight = await a.budgets.reserve({
        requestId: 'held-1',
        workspaceId: 'T0HELD',
        channelId: 'C1',
        amountMicroUsd: 60_000,
      });
      await deleteKeys(connections[0] as Redis, keyPrefix); // the wipe, while the call is with the model
      const reserve = (requestId: string, amountMicroUsd: number) =>
        b.budgets.reserve({ requestId, workspaceId: 'T0HELD', channelId: 'C1', amountMicroUsd });
      assert.equal(await outcome(reserve('after-held-1', 40_000)), 'over_budget', '10 000 spent + 60 000 held');
      const admitted = await reserve('after-held-2', 30_000);
      await a.settlement.settle(inFlight, 55_000, call);
      await b.settlement.settle(admitted, 30_000, call);
      for (const each of [a, b]) await each.settlement.flush();
      const window = (await b.budgets.status('T0HELD', 'C1')).windows[0];
      assert.equal(window?.spentMicroUsd, 95_000);
      assert.equal(window?.reservedMicroUsd, 0, 'the put-back reservation was freed by its settlement');
      assert.equal((await recordTotal(connections[0] as Redis, 'T0HELD')).total, 95_000);
    } finally {
      for (const each of [a, b]) {
        each.stop?.();
        await each.ledger.close();
      }
    }
  });
});

describe('a store that does not contribute proactively (the App Home’s, /budget without a model)', () => {
  test('waits like the others for every live replica before it seeds, when it is the first to notice the loss', async () => {
    const a = await replica('WA', { coordinate: false });
    const b = await replica('WB', { coordinate: false });
    for (const each of [a, b]) {
      each.stop = (await each.budgets.coordinateRestores({ replicaId: each.name, intervalMs: 1_000 })).stop;
    }
    const home = store(connection());
    const homeDir = await mkdtemp(join(tmpdir(), 'deskhand-home-'));
    directories.push(homeDir);
    reseedFromLedgerWhenMissing(home, homeDir);
    try {
      await spend(a, 'T0HOME', 'C1', 2);
      await spend(b, 'T0HOME', 'C1', 3);
      await deleteKeys(connections[0] as Redis, keyPrefix);
      await a.budgets.contributor?.tick(); // A is back first: the registry exists again, B has not re-registered yet
      const shown = (await home.status('T0HOME', 'C1')).windows[0]?.spentMicroUsd;
      assert.equal(shown, 5 * perCall, 'B’s calls were merged before the seed, not after');
    } finally {
      for (const each of [a, b]) {
        each.stop?.();
        await each.ledger.close();
      }
    }
  });
});
