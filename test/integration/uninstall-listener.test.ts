import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Installation } from '@slack/bolt';
import { Redis } from 'ioredis';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { RedisInstallationStore } from '../../src/slack/installations/redis-installation-store.ts';
import { parseKeyRing } from '../../src/slack/installations/token-cipher.ts';
import { type PurgeReason, requestPurge } from '../../src/slack/installations/workspace-purge.ts';
import { register } from '../../src/slack/listeners/uninstall.ts';

const prefix = `test:${randomUUID()}:`;
const logger = createSilentLogger();
let redis: Redis;
let store: RedisInstallationStore;
const handlers = new Map<string, (args: { event: unknown; body: unknown }) => Promise<void>>();

function install(team: string | undefined, enterprise: string | undefined): Installation {
  return {
    team: team ? { id: team } : undefined,
    enterprise: enterprise ? { id: enterprise } : undefined,
    user: { id: 'U1', token: undefined, scopes: undefined },
    bot: { token: `xoxb-${randomUUID()}`, id: 'B1', userId: 'U0BOT', scopes: [] },
    isEnterpriseInstall: team === undefined,
  } as Installation;
}

const pending = async () => redis.zrange(`${prefix}{workspace-purge}:pending`, '0', '-1');

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  store = new RedisInstallationStore({
    redis,
    keyPrefix: prefix,
    keys: parseKeyRing(randomBytes(32).toString('base64')),
    logger,
  });
  const recorder = { event: (name: string, handler: never) => handlers.set(name, handler) };
  const purge = (workspaceId: string, reason: PurgeReason) => requestPurge(redis, prefix, workspaceId, reason);
  register(recorder as never, { requestPurge: purge, installations: store, logger });
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('uninstall listener', () => {
  test('app_uninstalled deletes the workspace installation at once and records its purge', async () => {
    await store.storeInstallation(install('T1UN', undefined));
    await store.storeInstallation(install('T2UN', undefined));
    await handlers.get('app_uninstalled')?.({ event: { type: 'app_uninstalled' }, body: { team_id: 'T1UN' } });
    assert.equal(await store.hasTenant('T1UN'), false);
    assert.equal(await store.hasTenant('T2UN'), true);
    assert.deepEqual(await pending(), ['T1UN']);
  });

  test("an org-wide install's uninstall names a workspace of the org, but the org's data is what goes", async () => {
    await store.storeInstallation(install(undefined, 'E1ORG'));
    await handlers.get('app_uninstalled')?.({
      event: { type: 'app_uninstalled' },
      body: { team_id: 'T9INORG', enterprise_id: 'E1ORG' },
    });
    assert.equal(await store.hasTenant('E1ORG'), false);
    assert.ok((await pending()).includes('E1ORG'));
    assert.ok(!(await pending()).includes('T9INORG'));
  });

  test('tokens_revoked deletes only when a bot token was revoked', async () => {
    await store.storeInstallation(install('T3UN', undefined));
    const revoked = handlers.get('tokens_revoked');
    await revoked?.({ event: { type: 'tokens_revoked', tokens: { oauth: ['W1'] } }, body: { team_id: 'T3UN' } });
    assert.equal(await store.hasTenant('T3UN'), true);
    assert.ok(!(await pending()).includes('T3UN'));
    await revoked?.({ event: { type: 'tokens_revoked', tokens: { bot: ['U0BOT'] } }, body: { team_id: 'T3UN' } });
    assert.equal(await store.hasTenant('T3UN'), false);
    assert.ok((await pending()).includes('T3UN'));
  });
});
