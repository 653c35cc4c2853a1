/**
 * Workspace settings are durable like spend (issue 17, "caps and settings are durable"): an admin's settings save is
 * appended to the workspace's config stream in the same script, each replica exports the snapshot it enforces to
 * its ledger files, and when Redis loses everything the first reservation writes the settings back before admitting
 * anything — so the admin's lower cap holds instead of the environment's looser default (real Redis, own prefix).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { WorkspaceSettingsService } from '../../src/capabilities/settings/workspace-settings-service.ts';
import { buildBudgetStore } from '../../src/composition/build-budget-store.ts';
import { buildWorkspaceSettings } from '../../src/composition/build-settings.ts';
import { type Configuration, loadConfiguration } from '../../src/composition/config.ts';
import { isDeskhandError } from '../../src/errors.ts';
import type { BudgetStore } from '../../src/llm/budget-store.ts';
import { Ledger, readLedger, reseedFromLedgerWhenMissing } from '../../src/llm/ledger.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { deleteKeys } from './gateway-harness.ts';

const workspaceId = 'T0DURABLE';
const prefix = `test:${randomUUID()}:`;
let redis: Redis;
let configuration: Configuration;
let settings: WorkspaceSettingsService;
let budgets: BudgetStore;
let ledger: Ledger;
let dataDir: string;

before(async () => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  dataDir = await mkdtemp(join(tmpdir(), 'deskhand-settings-durable-'));
  const loaded = loadConfiguration({
    DATA_DIR: dataDir,
    SLACK_BOT_TOKEN: 'xoxb-1',
    SLACK_SIGNING_SECRET: 'secret-secret',
    REDIS_KEY_PREFIX: prefix,
    ADMIN_USER_IDS: 'U0ENVADMIN',
    BUDGET_CHANNEL_DAILY_USD: '5',
  });
  assert.ok(loaded.ok);
  configuration = loaded.configuration;
  settings = buildWorkspaceSettings(configuration, { redis, logger: createSilentLogger() });
  budgets = buildBudgetStore(configuration, redis, settings);
  ledger = new Ledger(dataDir, { flushDelayMs: 5 });
  reseedFromLedgerWhenMissing(budgets, ledger);
});

after(async () => {
  await ledger.close();
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await rm(dataDir, { recursive: true, force: true });
});

describe('workspace settings across a full Redis loss', () => {
  test('the admin’s lower channel cap and admins come back from the export; the env default never applies', async () => {
    const saved = await settings.save({
      workspaceId,
      userId: 'U0ENVADMIN',
      expectedVersion: 0,
      overrides: { admins: ['U0WSADMIN'], caps: { channelDailyUsd: 0.05 } },
    });
    assert.equal(saved.kind, 'saved');
    const first = await budgets.reserve({ requestId: 'd-1', workspaceId, channelId: 'C1', amountMicroUsd: 40_000 });
    await budgets.settle(first, 40_000);
    // This replica exports the snapshot it enforces (in the background, on the reservation that saw it first).
    let exported = false;
    for (let attempt = 0; attempt < 100 && !exported; attempt += 1) {
      const { configs } = await readLedger(ledger.directory);
      exported = configs.some((config) => config.workspaceId === workspaceId && config.settings !== undefined);
      if (!exported) await sleep(20);
    }
    assert.ok(exported, 'the settings snapshot reached the ledger export');
    // The spend itself reaches the export through the gateway's settlement; here it is written as the gateway would.
    await ledger.append({
      at: new Date().toISOString(),
      requestId: 'd-1',
      workspaceId,
      channelId: 'C1',
      day: first.windows.day,
      month: first.windows.month,
      model: 'gpt-4o-mini',
      purpose: 'x',
      costMicroUsd: 40_000,
      inputTokens: 1,
      outputTokens: 1,
    });

    await deleteKeys(redis, prefix); // Redis restarted without persistence: settings, caps, counters, streams gone
    const refusal = await budgets
      .reserve({ requestId: 'd-2', workspaceId, channelId: 'C1', amountMicroUsd: 20_000 })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(isDeskhandError(refusal), `admitted under the $5 default: ${String(refusal)}`);
    assert.equal(refusal.code, 'over_budget');
    assert.match(refusal.userMessage, /<@U0WSADMIN>/, 'the refusal names the workspace’s own admins');
    const current = await settings.get(workspaceId);
    assert.equal(current.caps.channelDailyUsd, 0.05);
    assert.deepEqual(current.admins, ['U0WSADMIN']);
    const status = await budgets.status(workspaceId, 'C1');
    assert.equal(status.windows[0]?.spentMicroUsd, 40_000);
    assert.equal(status.restored?.caps, 'restored');
  });

  test('a read-only store (App Home, /budget without a model) asked first after a loss restores from the export too', async () => {
    // Built like the App Home's: no writer of its own. Before it read DATA_DIR/ledger, it took the workspace for a
    // new one, seeded it empty with the default caps, and the gateway's store then never restored it.
    const home = buildBudgetStore(configuration, redis, settings);
    await deleteKeys(redis, prefix);
    const status = await home.status(workspaceId, 'C1');
    assert.equal(status.restored?.source, 'export');
    assert.equal(status.windows[0]?.spentMicroUsd, 40_000);
    assert.equal(status.windows[0]?.capMicroUsd, 50_000);
    const refusal = await budgets
      .reserve({ requestId: 'd-3', workspaceId, channelId: 'C1', amountMicroUsd: 20_000 })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(isDeskhandError(refusal) && refusal.code === 'over_budget', String(refusal));
  });
});
