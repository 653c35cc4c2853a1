/**
 * Issue 17 item 3: the embedded index takes one replica. Replicas registering against one real Redis: the second
 * (another host sharing the volume, or its own DATA_DIR) is refused with a message pointing at Qdrant; once the
 * first stops — released on a graceful stop, or expired after a death — a new one starts; a dead process of the
 * same host is taken over at once (a crash-and-restart is not refused for the TTL).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  EmbeddedIndexInUseError,
  type EmbeddedIndexOwnerOptions,
  embeddedIndexOwnerKey,
  registerEmbeddedIndexOwner,
} from '../../src/composition/embedded-index-owner.ts';

const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const prefixes: string[] = [];

after(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

function newPrefix(): string {
  const prefix = `test:${randomUUID()}:`;
  prefixes.push(prefix);
  return prefix;
}

interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger() {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push({ level, fields, message });
    };
  return {
    lines,
    logger: { info: at('info'), warn: at('warn'), error: at('error') } as EmbeddedIndexOwnerOptions['logger'],
  };
}

function replica(keyPrefix: string, host: string, overrides: Partial<EmbeddedIndexOwnerOptions> = {}) {
  const { logger, lines } = recordingLogger();
  return {
    lines,
    register: () =>
      registerEmbeddedIndexOwner({
        redis,
        keyPrefix,
        dataDir: `/srv/${host}/data`,
        logger,
        host,
        pid: 4242,
        ttlMs: 600,
        intervalMs: 150,
        ...overrides,
      }),
  };
}

test('a second replica is refused with a message saying several replicas need Qdrant; after a graceful stop a new one starts', async () => {
  const keyPrefix = newPrefix();
  const first = await replica(keyPrefix, 'host-a').register();
  // Renewals keep it held well past its TTL.
  await sleep(1_500);
  const refused = await replica(keyPrefix, 'host-b')
    .register()
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  assert.ok(refused instanceof EmbeddedIndexInUseError, `expected a refusal, got ${String(refused)}`);
  assert.equal(refused.code, 'configuration');
  assert.match(refused.userMessage, /several replicas needs Qdrant — set QDRANT_URL/);
  assert.match(refused.userMessage, /host host-a, pid 4242, DATA_DIR \/srv\/host-a\/data/);
  assert.match(refused.userMessage, /expires within [1-9]\d* s/);

  // Same host, another DATA_DIR, the holder alive: refused too (two indexes would answer differently).
  const sameHost = await replica(keyPrefix, 'host-a', { pid: 4343, dataDir: '/srv/other', processAlive: () => true })
    .register()
    .catch((error: unknown) => error);
  assert.ok(sameHost instanceof EmbeddedIndexInUseError);

  await first.release();
  assert.equal(await redis.exists(embeddedIndexOwnerKey(keyPrefix)), 0, 'released on stop');
  const next = await replica(keyPrefix, 'host-b').register();
  assert.equal(JSON.parse(String(await redis.get(next.key))).host, 'host-b');
  await next.release();
});

test('a dead replica of another host blocks until its registration expires, then a new one starts', async () => {
  const keyPrefix = newPrefix();
  const key = embeddedIndexOwnerKey(keyPrefix);
  // What a replica killed with SIGKILL leaves: its last renewal, expiring by itself.
  const dead = { id: randomUUID(), host: 'host-a', pid: 7, dataDir: '/data', since: new Date().toISOString() };
  await redis.set(key, JSON.stringify(dead), 'PX', 700);
  await assert.rejects(replica(keyPrefix, 'host-b').register(), EmbeddedIndexInUseError);
  await sleep(800);
  const next = await replica(keyPrefix, 'host-b').register();
  assert.equal(JSON.parse(String(await redis.get(key))).id, next.owner.id);
  await next.release();
});

test('a dead process of the same host (or this pid, a restarted container) is taken over at once and logged', async () => {
  const keyPrefix = newPrefix();
  const key = embeddedIndexOwnerKey(keyPrefix);
  const previous = {
    id: randomUUID(),
    host: 'host-a',
    pid: 999_999,
    dataDir: '/data',
    since: new Date().toISOString(),
  };
  await redis.set(key, JSON.stringify(previous), 'PX', 60_000);

  const restarted = replica(keyPrefix, 'host-a', { processAlive: (pid) => pid !== 999_999 });
  const registration = await restarted.register();
  assert.equal(JSON.parse(String(await redis.get(key))).id, registration.owner.id);
  assert.ok(restarted.lines.some((line) => line.level === 'warn' && /took over/.test(line.message)));
  await registration.release();

  // A container restarted keeps its hostname and its pid: a registration naming this very pid is a previous life.
  await redis.set(key, JSON.stringify({ ...previous, pid: 4242 }), 'PX', 60_000);
  const samePid = await replica(keyPrefix, 'host-a', { processAlive: () => true }).register();
  assert.equal(JSON.parse(String(await redis.get(key))).id, samePid.owner.id);
  await samePid.release();
});

test('a registration lost in Redis is written again; one taken by another replica in that gap is logged as an error', async () => {
  const keyPrefix = newPrefix();
  const key = embeddedIndexOwnerKey(keyPrefix);
  const first = replica(keyPrefix, 'host-a');
  const registration = await first.register();

  await redis.del(key); // a Redis restart without persistence
  await sleep(400);
  assert.equal(JSON.parse(String(await redis.get(key))).id, registration.owner.id, 'written again by the renewal');
  assert.ok(first.lines.some((line) => line.level === 'warn' && /missing in Redis; written again/.test(line.message)));

  await redis.del(key);
  const intruder = await replica(keyPrefix, 'host-b').register();
  await sleep(400);
  const conflict = first.lines.filter((line) => line.level === 'error');
  assert.equal(conflict.length, 1, 'logged once, not at every renewal');
  assert.equal(conflict[0]?.fields.code, 'configuration');
  assert.match(String(conflict[0]?.message), /two replicas now use embedded indexes/);
  assert.equal(JSON.parse(String(await redis.get(key))).id, intruder.owner.id, 'the first does not overwrite it');

  // Releasing the first must not delete the other's registration.
  await registration.release();
  assert.equal(JSON.parse(String(await redis.get(key))).id, intruder.owner.id);
  await intruder.release();
  assert.equal(await redis.exists(key), 0);
});
