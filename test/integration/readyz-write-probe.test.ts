/**
 * Issue 17, "readiness that means something": `/readyz` probes Redis with a write, because a demoted master answers
 * PING but refuses every write (`READONLY`), and the app used to report ready while answering every mention with a
 * 500. The app runs against a Redis of this test's own (port 7203): made a replica of another server (7204) it is
 * read-only → 503 with the reason; `REPLICAOF NO ONE` → 200 again without a restart; killed → 503; restarted → 200.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { type AppHarness, startAppHarness } from '../e2e/app-harness.ts';
import { RedisProcess, waitUntil } from '../support/redis-process.ts';

const served = new RedisProcess(7203);
const otherMaster = new RedisProcess(7204);
let harness: AppHarness;
let admin: Redis;

interface Readiness {
  status: number;
  body: { status: string; checks: Record<string, boolean>; reasons?: Record<string, string> };
}

async function readyz(): Promise<Readiness> {
  const response = await fetch(`${harness.baseUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Readiness['body'] };
}

before(async () => {
  await Promise.all([served.start(), otherMaster.start()]);
  harness = await startAppHarness({ environment: { REDIS_URL: served.url } });
  harness.redis.on('error', () => {});
  admin = new Redis(served.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
});

after(async () => {
  await served.start();
  await waitUntil(() => harness.redis.status === 'ready');
  await harness?.close();
  admin?.disconnect();
  await Promise.all([served.stop(), otherMaster.stop()]);
});

describe('/readyz probes Redis with a write', () => {
  test('ready while writes succeed, on a key of its own under the prefix, hash-tagged, that expires', async () => {
    const ready = await readyz();
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.checks, { redis: true, work: true });
    const keys = await harness.redis.keys(`${harness.keyPrefix}readyz:*`);
    assert.equal(keys.length, 1, 'one probe key for this replica');
    assert.match(keys[0] ?? '', /^test:[^:]+:readyz:\{[^}]+\}$/);
    const ttl = await harness.redis.pttl(keys[0] ?? '');
    assert.ok(ttl > 0 && ttl <= 10_000, `the probe key expires by itself (pttl ${ttl})`);
  });

  test('a read-only Redis (made a replica: PING still answers) is not ready, with READONLY as the reason', async () => {
    await admin.replicaof('127.0.0.1', String(otherMaster.port));
    try {
      assert.equal(await harness.redis.ping(), 'PONG', 'a PING-only check would still say ready');
      const demoted = await readyz();
      assert.equal(demoted.status, 503);
      assert.equal(demoted.body.status, 'not_ready');
      assert.equal(demoted.body.checks.redis, false);
      assert.match(demoted.body.reasons?.redis ?? '', /READONLY/);
    } finally {
      await admin.replicaof('NO', 'ONE');
    }
    const promoted = await readyz();
    assert.equal(promoted.status, 200, 'ready again after REPLICAOF NO ONE, without a restart');
    assert.equal(promoted.body.reasons, undefined);
  });

  test('a killed Redis is not ready, and a restarted one is ready again without restarting the app', async () => {
    await served.kill();
    const down = await readyz();
    assert.equal(down.status, 503);
    assert.equal(down.body.checks.redis, false);
    assert.ok(down.body.reasons?.redis, 'the reason is given');
    await served.start();
    await waitUntil(async () => (await readyz()).status === 200, 15_000, 100);
  });
});
