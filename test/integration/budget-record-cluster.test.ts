/**
 * The spend record and the restore on a local 3-master Redis Cluster (ports 7310-7312, this test's own): the settle
 * script's stream append, a cap's config snapshot, a settings save, and a restore after the workspace's counters and
 * settings were lost (its apply script, the restored entries' pipeline) all keep their keys in the workspace's hash
 * slot — a CROSSSLOT error would fail the calls.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster } from 'ioredis';
import { SettingsStore } from '../../src/capabilities/settings/settings-store.ts';
import { workspaceRecordKeys } from '../../src/llm/budget-keys.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import type { RestoreNote } from '../../src/llm/budget-types.ts';
import { readSpendRecord } from '../../src/llm/spend-record.ts';
import { type LocalRedisProcesses, redisServerMissing, startLocalCluster } from './local-redis-topology.ts';

const ports = [7310, 7311, 7312];

describe('spend record and restore on a Redis Cluster', { skip: redisServerMissing() }, () => {
  let processes: LocalRedisProcesses;
  let redis: Cluster;

  before(async () => {
    processes = await startLocalCluster(ports);
    redis = new Cluster([{ host: '127.0.0.1', port: ports[0] ?? 7310 }], { redisOptions: { maxRetriesPerRequest: 1 } });
  });
  after(async () => {
    await redis?.quit().catch(() => {});
    await processes?.stop();
  });

  test('settle, cap, settings save and a restore after the loss run in one slot each', async () => {
    const notes: RestoreNote[] = [];
    const budgets = new BudgetStore({
      redis,
      keyPrefix: 'dh:',
      timeZone: 'UTC',
      defaults: { channelDailyMicroUsd: 50_000, channelMonthlyMicroUsd: 500_000, workspaceDailyMicroUsd: 500_000 },
      reservationTtlMs: 60_000,
      commandTimeoutMs: 5_000,
    });
    budgets.restoreFrom(undefined, (_workspace, note) => notes.push(note));
    const settingsStore = new SettingsStore(redis, { keyPrefix: 'dh:' });
    for (const workspaceId of ['T0CLUSTERA', 'T0CLUSTERB', 'T0CLUSTERC']) {
      await settingsStore.save(workspaceId, { admins: ['U0ADMIN'] }, undefined, { by: 'test' });
      await budgets.setChannelCap(workspaceId, 'C1', 'daily', 30_000);
      for (let index = 0; index < 2; index += 1) {
        const reservation = await budgets.reserve({
          requestId: `${workspaceId}-${index}`,
          workspaceId,
          channelId: 'C1',
          userId: 'U1',
          amountMicroUsd: 10_000,
        });
        await budgets.settle(reservation, 10_000);
      }
      const record = workspaceRecordKeys('dh:', workspaceId);
      assert.equal((await readSpendRecord(redis, record.record)).entries.length, 2);
      // Everything of the workspace but its streams is lost, the settings hash included.
      let lost = 0;
      for (const master of redis.nodes('master')) {
        const keys = (await master.keys(`dh:{${workspaceId}}:*`)).filter(
          (key) => key !== record.record && key !== record.config,
        );
        for (const key of keys) lost += await redis.del(key);
      }
      assert.ok(lost > 0);
      const status = await budgets.status(workspaceId, 'C1');
      assert.equal(status.windows[0]?.spentMicroUsd, 20_000);
      assert.equal(status.windows[0]?.capMicroUsd, 30_000);
      assert.equal(status.restored?.source, 'record');
      assert.deepEqual((await settingsStore.read(workspaceId)).overrides, { admins: ['U0ADMIN'] });
    }
    assert.equal(notes.filter((note) => note.source === 'record').length, 3);
  });
});
