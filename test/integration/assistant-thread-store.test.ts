import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { AssistantThreadStore } from '../../src/capabilities/assistant/assistant-thread-store.ts';
import { workspaceKeyPrefixes } from '../../src/slack/installations/workspace-purge.ts';

const keyPrefix = `test:${randomUUID()}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const store = new AssistantThreadStore(redis, { keyPrefix, ttlSeconds: 120 });
const where = { workspaceId: 'T111', channelId: 'D111', threadTs: '1726133698.626339' };

after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('AssistantThreadStore (real Redis)', () => {
  test('stores who opened the thread and what they view, under the workspace hash tag, with a TTL', async () => {
    assert.equal(await store.save(where, { userId: 'W222', context: { channelId: 'C1AAA', teamId: 'T111' } }), true);
    assert.deepEqual(await store.get('T111', 'D111', where.threadTs), {
      userId: 'W222',
      context: { channelId: 'C1AAA', teamId: 'T111' },
    });
    const key = store.key('T111', 'D111', where.threadTs) ?? '';
    assert.ok(key.startsWith(`${keyPrefix}{T111}:assistant:`));
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 0 && ttl <= 120, `ttl ${ttl}`);
    // The uninstall purge lists a prefix that covers the key.
    const relative = key.slice(keyPrefix.length);
    assert.ok(
      workspaceKeyPrefixes('T111').some(
        (entry) => entry.label === 'assistant_threads' && relative.startsWith(entry.prefix),
      ),
    );
  });

  test('a context change replaces the whole context, and other workspaces and threads see nothing', async () => {
    await store.save(where, { userId: 'W222', context: { channelId: 'C1AAA', teamId: 'T111', enterpriseId: 'E111' } });
    await store.save(where, { userId: 'W222', context: { teamId: 'T111' } });
    assert.deepEqual((await store.get('T111', 'D111', where.threadTs))?.context, { teamId: 'T111' });
    assert.equal(await store.get('T999', 'D111', where.threadTs), undefined);
    assert.equal(await store.get('T111', 'D111', '1726133698.000001'), undefined);
  });

  test('malformed ids store nothing; a context naming a DM or junk is stored as no channel', async () => {
    assert.equal(await store.save({ ...where, channelId: 'C111' }, { userId: 'W222', context: {} }), false);
    assert.equal(await store.save({ ...where, threadTs: 'x'.repeat(500) }, { userId: 'W222', context: {} }), false);
    assert.equal(await store.save({ ...where, workspaceId: '*' }, { userId: 'W222', context: {} }), false);
    assert.equal(await store.save(where, { userId: '<!channel>', context: {} }), false);
    await store.save(where, { userId: 'W222', context: { channelId: 'D999', teamId: 't111' } });
    assert.deepEqual((await store.get('T111', 'D111', where.threadTs))?.context, {});
    await store.save(where, { userId: 'W222', context: { channelId: `C${'A'.repeat(5000)}` } });
    assert.deepEqual((await store.get('T111', 'D111', where.threadTs))?.context, {});
  });

  test('the title is claimed once per thread, also under concurrent claims', async () => {
    const thread = { ...where, threadTs: '1726133699.000001' };
    await store.save(thread, { userId: 'W222', context: {} });
    const claims = await Promise.all(
      Array.from({ length: 10 }, () => store.claimTitle('T111', 'D111', thread.threadTs)),
    );
    assert.equal(claims.filter(Boolean).length, 1);
    assert.equal(await store.claimTitle('T111', 'D111', thread.threadTs), false);
  });
});
