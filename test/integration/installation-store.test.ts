import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Installation } from '@slack/bolt';
import { Redis } from 'ioredis';
import { DeskhandError } from '../../src/errors.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { RedisInstallationStore } from '../../src/slack/installations/redis-installation-store.ts';
import { keyRingProblem, parseKeyRing } from '../../src/slack/installations/token-cipher.ts';

const prefix = `test:${randomUUID()}:`;
const logger = createSilentLogger();
const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');
let redis: Redis;

function storeWith(specification: string): RedisInstallationStore {
  return new RedisInstallationStore({ redis, keyPrefix: prefix, keys: parseKeyRing(specification), logger });
}

function workspaceInstall(teamId: string, token: string): Installation<'v2', false> {
  return {
    team: { id: teamId, name: `Team ${teamId}` },
    enterprise: undefined,
    user: { id: 'U1', token: undefined, scopes: undefined },
    bot: { token, id: `B${teamId}`, userId: `U${teamId}`, scopes: ['chat:write', 'app_mentions:read'] },
    tokenType: 'bot',
    isEnterpriseInstall: false,
    authVersion: 'v2',
    appId: 'A1',
  };
}

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('RedisInstallationStore', () => {
  test('a workspace install round-trips, and Redis holds no token, team name or user id', async () => {
    const store = storeWith(`a:${keyA}`);
    const token = `xoxb-${randomUUID()}`;
    await store.storeInstallation(workspaceInstall('T1RT', token));
    const fetched = await store.fetchInstallation({
      teamId: 'T1RT',
      enterpriseId: undefined,
      isEnterpriseInstall: false,
    });
    assert.equal(fetched.bot?.token, token);
    assert.equal(fetched.bot?.userId, 'UT1RT');
    const raw = (await redis.get(`${prefix}installation:team:T1RT`)) as string;
    assert.ok(raw);
    for (const secret of [token, token.slice(5, 20), 'Team T1RT', 'xoxb-', 'UT1RT']) {
      assert.ok(!raw.includes(secret), `stored record contains ${secret}`);
    }
    assert.ok(!Buffer.from(raw).includes(Buffer.from(token)), 'no token in the stored bytes');
    assert.equal(JSON.parse(raw).kid, 'a');
  });

  test('an org-wide install is kept by enterprise id and found for any workspace of the org', async () => {
    const store = storeWith(`a:${keyA}`);
    const token = `xoxb-${randomUUID()}`;
    await store.storeInstallation({
      team: undefined,
      enterprise: { id: 'E1ORG', name: 'Org' },
      user: { id: 'U1', token: undefined, scopes: undefined },
      bot: { token, id: 'BORG', userId: 'UORG', scopes: ['chat:write'] },
      isEnterpriseInstall: true,
      authVersion: 'v2',
    } satisfies Installation<'v2', true>);
    assert.ok(await redis.exists(`${prefix}installation:enterprise:E1ORG`));
    const org = await store.fetchInstallation({ teamId: undefined, enterpriseId: 'E1ORG', isEnterpriseInstall: true });
    assert.equal(org.bot?.token, token);
    const fromWorkspace = await store.fetchInstallation({
      teamId: 'T9IN',
      enterpriseId: 'E1ORG',
      isEnterpriseInstall: false,
    });
    assert.equal(fromWorkspace.bot?.token, token);
    assert.equal((await store.installationOf('E1ORG'))?.bot?.token, token);
  });

  test('a missing installation is refused with a message saying the app must be installed', async () => {
    const store = storeWith(`a:${keyA}`);
    await assert.rejects(
      store.fetchInstallation({ teamId: 'T404', enterpriseId: undefined, isEnterpriseInstall: false }),
      (error: unknown) =>
        error instanceof DeskhandError && error.code === 'not_authorised' && /not installed/.test(error.userMessage),
    );
  });

  test('the wrong key under the same id fails closed with a clear error, never a wrong token', async () => {
    await storeWith(`a:${keyA}`).storeInstallation(workspaceInstall('T2WK', `xoxb-${randomUUID()}`));
    await assert.rejects(
      storeWith(`a:${keyB}`).fetchInstallation({ teamId: 'T2WK', enterpriseId: undefined, isEnterpriseInstall: false }),
      (error: unknown) =>
        error instanceof DeskhandError &&
        error.code === 'configuration' &&
        /does not decrypt with key "a"/.test(error.userMessage),
    );
    await assert.rejects(
      storeWith(`b:${keyB}`).fetchInstallation({ teamId: 'T2WK', enterpriseId: undefined, isEnterpriseInstall: false }),
      (error: unknown) => error instanceof DeskhandError && /key "a", which is not in/.test(error.userMessage),
    );
  });

  test("one workspace's record copied under another workspace's key does not decrypt", async () => {
    const store = storeWith(`a:${keyA}`);
    await store.storeInstallation(workspaceInstall('T3SRC', `xoxb-${randomUUID()}`));
    await redis.set(
      `${prefix}installation:team:T3DST`,
      (await redis.get(`${prefix}installation:team:T3SRC`)) as string,
    );
    await assert.rejects(
      store.fetchInstallation({ teamId: 'T3DST', enterpriseId: undefined, isEnterpriseInstall: false }),
      (error: unknown) => error instanceof DeskhandError && error.code === 'configuration',
    );
  });

  test('after a rotation old records still read and are rewritten with the new first key', async () => {
    const tokenOne = `xoxb-${randomUUID()}`;
    const tokenTwo = `xoxb-${randomUUID()}`;
    await storeWith(`old:${keyA}`).storeInstallation(workspaceInstall('T4ROT', tokenOne));
    await storeWith(`old:${keyA}`).storeInstallation(workspaceInstall('T5ROT', tokenTwo));
    const rotated = storeWith(`new:${keyB},old:${keyA}`);
    const fetched = await rotated.fetchInstallation({
      teamId: 'T4ROT',
      enterpriseId: undefined,
      isEnterpriseInstall: false,
    });
    assert.equal(fetched.bot?.token, tokenOne);
    assert.equal(JSON.parse((await redis.get(`${prefix}installation:team:T4ROT`)) as string).kid, 'new');
    const { rewritten, unreadable } = await rotated.reencryptAll();
    assert.equal(rewritten, 1, 'only the record still on the old key is rewritten');
    // Other tests' records (key id "a", not in this ring) are listed as unreadable, not thrown.
    assert.ok(unreadable.every((key) => !key.includes('ROT')));
    // The old key can now be dropped: the new key alone reads both.
    const newOnly = storeWith(`new:${keyB}`);
    assert.equal((await newOnly.installationOf('T5ROT'))?.bot?.token, tokenTwo);
    assert.equal((await newOnly.installationOf('T4ROT'))?.bot?.token, tokenOne);
  });

  test('deleteInstallation removes only that workspace', async () => {
    const store = storeWith(`a:${keyA}`);
    await store.storeInstallation(workspaceInstall('T6DEL', `xoxb-${randomUUID()}`));
    await store.storeInstallation(workspaceInstall('T7KEEP', `xoxb-${randomUUID()}`));
    await store.deleteInstallation({ teamId: 'T6DEL', enterpriseId: undefined, isEnterpriseInstall: false });
    assert.equal(await store.installationOf('T6DEL'), undefined);
    assert.ok(await store.installationOf('T7KEEP'));
  });

  test('key ring specifications are checked without echoing the key', () => {
    assert.equal(keyRingProblem(keyA), undefined, 'one bare key is accepted');
    assert.equal(keyRingProblem(`a:${keyA}, b:${keyB}`), undefined);
    assert.match(keyRingProblem('a:c2hvcnQ=') ?? '', /must be 32 bytes/);
    assert.match(keyRingProblem(`a:${keyA},a:${keyB}`) ?? '', /appears twice/);
    assert.match(keyRingProblem(`${keyA},${keyB}`) ?? '', /needs a key id/);
    assert.ok(!(keyRingProblem('a:c2hvcnQ=') ?? '').includes('c2hvcnQ'));
    assert.equal(parseKeyRing(keyA).primaryKeyId, 'k1');
  });
});
