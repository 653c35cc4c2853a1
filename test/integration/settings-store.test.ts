import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { SettingsStore } from '../../src/capabilities/settings/settings-store.ts';
import { WorkspaceSettingsService } from '../../src/capabilities/settings/workspace-settings-service.ts';
import { DeskhandError } from '../../src/errors.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { WorkspaceSettings } from '../../src/ports/workspace-settings.ts';

const prefix = `test:${randomUUID()}:`;
let redis: Redis;
const lines: Record<string, unknown>[] = [];
const logger = createLogger({
  level: 'info',
  destination: new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  }),
});
const defaults: WorkspaceSettings = {
  admins: ['UADMIN1'],
  approvers: ['UAPPROVE1'],
  caps: { channelDailyUsd: 5, channelMonthlyUsd: 50, workspaceDailyUsd: 50 },
  model: 'gpt-4o-mini',
  tickets: { categories: ['billing'] },
  channels: { mode: 'all', channels: [], mentionDefaults: {}, sharedChannelDocuments: 'channel_only' },
};

/** A work thread or replica of its own: its own connection and cache. */
function replica(): { service: WorkspaceSettingsService; connection: Redis } {
  const connection = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const store = new SettingsStore(connection, { keyPrefix: prefix });
  return { service: new WorkspaceSettingsService({ store, defaults, logger }), connection };
}

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('workspace settings in Redis', () => {
  test('a save on one replica applies to the next get on another at once, and only to that workspace', async () => {
    const first = replica();
    const second = replica();
    try {
      assert.deepEqual(await second.service.get('TAAA1'), defaults, 'warm the second replica’s cache');
      const saved = await first.service.save({
        workspaceId: 'TAAA1',
        userId: 'UADMIN1',
        overrides: { approvers: ['UNEW1'], caps: { channelDailyUsd: 2 } },
        expectedVersion: 0,
      });
      assert.equal(saved.kind, 'saved');
      const seen = await second.service.get('TAAA1');
      assert.deepEqual(seen.approvers, ['UNEW1']);
      assert.equal(seen.caps.channelDailyUsd, 2);
      assert.equal(seen.caps.workspaceDailyUsd, 50, 'untouched caps keep the default');
      assert.deepEqual(
        (await second.service.get('TBBB1')).approvers,
        ['UAPPROVE1'],
        'another workspace keeps defaults',
      );
      assert.equal(await second.service.get('TAAA1'), seen, 'unchanged text is served from the cache');
    } finally {
      await first.connection.quit();
      await second.connection.quit();
    }
  });

  test('a save over a version someone else already replaced is refused as stale', async () => {
    const { service, connection } = replica();
    try {
      const { version } = await service.current('TCAS1');
      const one = await service.save({
        workspaceId: 'TCAS1',
        userId: 'UA1',
        overrides: { model: 'gpt-4o' },
        expectedVersion: version,
      });
      const two = await service.save({
        workspaceId: 'TCAS1',
        userId: 'UA2',
        overrides: { model: 'gpt-4.1' },
        expectedVersion: version,
      });
      assert.equal(one.kind, 'saved');
      assert.equal(two.kind, 'stale');
      assert.equal((await service.get('TCAS1')).model, 'gpt-4o');
      assert.ok(one.kind === 'saved' && one.version > 1_600_000_000_000, 'a first version comes from the Redis clock');
    } finally {
      await connection.quit();
    }
  });

  test('every change is audited with who, which fields and old → new; an unchanged save writes nothing', async () => {
    const { service, connection } = replica();
    try {
      await service.save({
        workspaceId: 'TAUD1',
        userId: 'UADMIN1',
        overrides: { admins: ['UADMIN1', 'UADMIN2'] },
        expectedVersion: 0,
      });
      const { version } = await service.current('TAUD1');
      const again = await service.save({
        workspaceId: 'TAUD1',
        userId: 'UADMIN1',
        overrides: { admins: ['UADMIN1', 'UADMIN2'] },
        expectedVersion: version,
      });
      assert.equal(again.kind, 'unchanged');
      const audit = await service.auditLog('TAUD1');
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.userId, 'UADMIN1');
      assert.deepEqual(audit[0]?.changes, [{ field: 'admins', new: ['UADMIN1', 'UADMIN2'] }]);
      const logged = lines.find((line) => line.audit === 'workspace_settings_changed' && line.workspaceId === 'TAUD1');
      assert.deepEqual(logged?.fields, ['admins']);
      assert.equal(logged?.userId, 'UADMIN1');
    } finally {
      await connection.quit();
    }
  });

  test('a bad stored value is logged and ignored (defaults apply); a bad write is refused before Redis', async () => {
    const { service, connection } = replica();
    try {
      const store = new SettingsStore(connection, { keyPrefix: prefix });
      await redis.hset(store.key('TBAD1'), 'json', '{"approvers":["everyone"]}', 'version', '3');
      assert.deepEqual(await service.get('TBAD1'), defaults);
      const warning = lines.find((line) => line.code === 'settings_invalid' && line.workspaceId === 'TBAD1');
      assert.match(String(warning?.problem), /^approvers\.0/);
      await redis.hset(store.key('TBAD1'), 'json', 'not json at all');
      assert.deepEqual(await service.get('TBAD1'), defaults);
      await assert.rejects(
        store.save('TBAD1', { approvers: ['nobody'] } as never, 3, {}),
        (error: unknown) => error instanceof DeskhandError && error.code === 'invalid_input',
      );
      await assert.rejects(
        service.get('T1*'),
        (error: unknown) => error instanceof DeskhandError && error.code === 'invalid_input',
      );
    } finally {
      await connection.quit();
    }
  });

  test('Redis that cannot answer fails closed with upstream_unavailable, not the defaults', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    dead.on('error', () => {});
    const service = new WorkspaceSettingsService({
      store: new SettingsStore(dead, { keyPrefix: prefix, commandTimeoutMs: 300 }),
      defaults,
      logger,
    });
    await assert.rejects(
      service.get('TDEAD1'),
      (error: unknown) => error instanceof DeskhandError && error.code === 'upstream_unavailable',
    );
    dead.disconnect();
  });

  test('measured: a get served from the cache costs one round trip', async () => {
    const { service, connection } = replica();
    try {
      await service.save({
        workspaceId: 'TPERF1',
        userId: 'UA1',
        overrides: { approvers: ['U1A'] },
        expectedVersion: 0,
      });
      await service.get('TPERF1');
      const rounds = 2_000;
      const started = process.hrtime.bigint();
      for (let index = 0; index < rounds; index += 1) await service.get('TPERF1');
      const microseconds = Number(process.hrtime.bigint() - started) / 1000 / rounds;
      console.log(`settings get (cached, sequential): ${microseconds.toFixed(0)} µs each over ${rounds}`);
      assert.ok(microseconds < 5_000);
    } finally {
      await connection.quit();
    }
  });
});
