/**
 * Restoring lost budget counters while calls keep arriving (`budget-restore.ts`), on the local Redis with a prefix
 * of this test's own: one restorer across replicas, nothing admitted before the counters are back, a call settled
 * during the restore is not lost, and a restorer that died does not block the workspace for good.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { isDeskhandError } from '../../src/errors.ts';
import { workspaceRecordKeys } from '../../src/llm/budget-keys.ts';
import { BudgetStore, type BudgetStoreOptions } from '../../src/llm/budget-store.ts';
import type { RestoreNote } from '../../src/llm/budget-types.ts';
import { deleteKeys } from './gateway-harness.ts';

const keyPrefix = `test:${randomUUID()}:`;
const connections: Redis[] = [];

function store(redis: Redis, options: Partial<BudgetStoreOptions> = {}): BudgetStore {
  return new BudgetStore({
    redis,
    keyPrefix,
    timeZone: 'UTC',
    defaults: { channelDailyMicroUsd: 100_000, channelMonthlyMicroUsd: 1_000_000, workspaceDailyMicroUsd: 1_000_000 },
    reservationTtlMs: 60_000,
    commandTimeoutMs: 5_000,
    ...options,
  });
}

function connection(): Redis {
  const redis = new Redis('redis://127.0.0.1:6379');
  connections.push(redis);
  return redis;
}

/** Everything of the workspace but its spend and config streams: what a lagging failover or an eviction loses. */
async function loseCounters(redis: Redis, workspaceId: string): Promise<void> {
  const record = workspaceRecordKeys(keyPrefix, workspaceId);
  const keys = (await redis.keys(`${keyPrefix}{${workspaceId}}:*`)).filter(
    (key) => key !== record.record && key !== record.config,
  );
  if (keys.length > 0) await redis.del(...keys);
}

const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => 'admitted',
    (error: unknown) => (isDeskhandError(error) ? error.code : String(error)),
  );

describe('restoring lost budget counters under concurrency', () => {
  after(async () => {
    await deleteKeys(connections[0] ?? connection(), keyPrefix);
    for (const redis of connections) redis.disconnect();
  });

  test('three replicas, 45 concurrent reservations after the loss: one restore, exactly the remaining budget admitted', async () => {
    const notes: RestoreNote[] = [];
    const redis = connection();
    const replicas = [store(redis), store(connection()), store(connection())];
    for (const replica of replicas) replica.restoreFrom(undefined, (_workspace, note) => notes.push(note));
    const [first] = replicas as [BudgetStore];
    for (let index = 0; index < 6; index += 1) {
      const reservation = await first.reserve({
        requestId: `pre-${index}`,
        workspaceId: 'T0CONC',
        channelId: 'C1',
        amountMicroUsd: 10_000,
      });
      await first.settle(reservation, 10_000);
    }
    await loseCounters(redis, 'T0CONC');
    notes.length = 0;
    const outcomes = await Promise.all(
      Array.from({ length: 45 }, (_, index) =>
        outcome(
          (replicas[index % 3] as BudgetStore).reserve({
            requestId: `post-${index}`,
            workspaceId: 'T0CONC',
            channelId: 'C1',
            amountMicroUsd: 10_000,
          }),
        ),
      ),
    );
    const admitted = outcomes.filter((value) => value === 'admitted').length;
    assert.equal(notes.length, 1, `restores: ${JSON.stringify(notes)}`);
    assert.equal(notes[0]?.source, 'record');
    assert.equal(notes[0]?.entries, 6);
    // $0.06 of the $0.10 day was spent before the loss: exactly four more fit, never the ten of an empty counter.
    assert.equal(admitted, 4, outcomes.join(','));
    assert.ok(
      outcomes.every((value) => value === 'admitted' || value === 'over_budget'),
      outcomes.join(','),
    );
  });

  test('a call settled while the restore runs is counted (the apply step sees the record moved and reads it)', async () => {
    const redis = connection();
    const other = store(connection());
    const first = store(redis);
    for (let index = 0; index < 3; index += 1) {
      const reservation = await first.reserve({
        requestId: `m-${index}`,
        workspaceId: 'T0MOVED',
        channelId: 'C1',
        amountMicroUsd: 10_000,
      });
      await first.settle(reservation, 10_000);
    }
    // A call reserved before the loss and still in flight on another replica.
    const inFlight = await other.reserve({
      requestId: 'm-late',
      workspaceId: 'T0MOVED',
      channelId: 'C1',
      amountMicroUsd: 20_000,
    });
    await loseCounters(redis, 'T0MOVED');
    // The restorer's connection: the in-flight call settles right after the restorer read the record.
    let settledDuringRestore = false;
    const hooked = new Proxy(redis, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property === 'xrevrange' && !settledDuringRestore) {
          return async (...args: unknown[]) => {
            settledDuringRestore = true;
            await other.settle(inFlight, 20_000);
            return (value as (...rest: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const restoring = store(hooked);
    const status = await restoring.status('T0MOVED', 'C1');
    assert.ok(settledDuringRestore, 'the hook ran inside the restore');
    assert.equal(status.windows[0]?.spentMicroUsd, 3 * 10_000 + 20_000);
    assert.equal(status.restored?.entries, 4);
  });

  test('a restorer that died: waiters take over once its lock expires; while it is held they are refused with the reason', async () => {
    const redis = connection();
    const first = store(redis);
    const reservation = await first.reserve({
      requestId: 'd-1',
      workspaceId: 'T0DEAD',
      channelId: 'C1',
      amountMicroUsd: 10_000,
    });
    await first.settle(reservation, 10_000);
    await loseCounters(redis, 'T0DEAD');
    const lock = workspaceRecordKeys(keyPrefix, 'T0DEAD').rebuilding;

    await redis.set(lock, 'a-dead-replica', 'PX', 60_000);
    const impatient = store(connection(), { restoreWaitMs: 300 });
    const refused = await impatient
      .reserve({ requestId: 'd-2', workspaceId: 'T0DEAD', channelId: 'C1', amountMicroUsd: 10_000 })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(isDeskhandError(refused), String(refused));
    assert.equal(refused.code, 'budget_unenforceable');
    assert.equal(refused.retryable, true);
    assert.equal(refused.details.reason, 'restore_in_progress');
    assert.match(refused.userMessage, /restoring them from the spend record/);

    await redis.set(lock, 'a-dead-replica', 'PX', 400);
    const started = Date.now();
    const patient = store(connection());
    await patient.reserve({ requestId: 'd-3', workspaceId: 'T0DEAD', channelId: 'C1', amountMicroUsd: 10_000 });
    const waited = Date.now() - started;
    console.log(`a dead restorer's lock (400 ms left) delayed the next reservation by ${waited} ms`);
    assert.ok(waited >= 300, `${waited} ms`);
    const status = await patient.status('T0DEAD', 'C1');
    assert.equal(status.windows[0]?.spentMicroUsd, 10_000);
    assert.equal(status.windows[0]?.reservedMicroUsd, 10_000);
  });
});
