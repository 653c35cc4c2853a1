/**
 * Issue 17 item 3, with real processes (`node src/main.ts`) on one Redis and one key prefix: a replica using the
 * embedded index runs; a second one (its own DATA_DIR, as a second host would have) exits 1 at start with a message
 * saying several replicas need Qdrant, before opening any index; a replica with QDRANT_URL runs beside the first;
 * after the first stops gracefully (registration released) the refused one starts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { embeddedIndexOwnerKey } from '../../src/composition/embedded-index-owner.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { FakeQdrantServer } from '../fakes/qdrant-server.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import {
  exited,
  fakesEnvironment,
  freePort,
  type MainProcess,
  startMain,
  waitUntilReady,
} from './main-process-support.ts';

const signingSecret = 'replicas-signing-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let qdrant: FakeQdrantServer;
let qdrantUrl: string;
const dataDirs: string[] = [];
const processes: MainProcess[] = [];

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  qdrant = new FakeQdrantServer();
  qdrantUrl = await qdrant.start();
});

after(async () => {
  for (const main of processes)
    if (main.child.exitCode === null && main.child.signalCode === null) main.child.kill('SIGKILL');
  await Promise.all(processes.map((main) => exited(main.child)));
  await slack.close();
  await openai.close();
  await qdrant.close();
  for (const dataDir of dataDirs) rmSync(dataDir, { recursive: true, force: true });
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

async function replica(
  extra: Record<string, string> = {},
): Promise<{ main: MainProcess; port: number; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'deskhand-replica-'));
  dataDirs.push(dataDir);
  const port = await freePort();
  const main = startMain({ ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }), ...extra });
  processes.push(main);
  return { main, port, dataDir };
}

test('a second replica with the embedded index is refused at start; it starts once the first has stopped', async () => {
  const first = await replica();
  await waitUntilReady(first.port, first.main);
  const owner = JSON.parse(String(await redis.get(embeddedIndexOwnerKey(keyPrefix)))) as {
    pid: number;
    dataDir: string;
  };
  assert.equal(owner.pid, first.main.child.pid);

  const second = await replica();
  assert.equal(await exited(second.main.child), 1, second.main.output());
  assert.match(second.main.output(), /Deskhand cannot start: Another Deskhand replica already uses the embedded index/);
  assert.match(second.main.output(), /several replicas needs Qdrant — set QDRANT_URL/);
  assert.match(second.main.output(), new RegExp(`pid ${first.main.child.pid}, DATA_DIR ${first.dataDir}`));
  assert.match(second.main.output(), /"code":"configuration"/, 'logged with its code');
  assert.equal(existsSync(join(second.dataDir, 'index')), false, 'refused before opening an index');

  // A replica on Qdrant needs no claim: it runs beside the embedded one.
  const onQdrant = await replica({ QDRANT_URL: qdrantUrl });
  await waitUntilReady(onQdrant.port, onQdrant.main);

  first.main.child.kill('SIGTERM');
  assert.equal(await exited(first.main.child), 0, first.main.output());
  assert.equal(await redis.exists(embeddedIndexOwnerKey(keyPrefix)), 0, 'released on a graceful stop');

  const third = await replica();
  await waitUntilReady(third.port, third.main);
  third.main.child.kill('SIGTERM');
  onQdrant.main.child.kill('SIGTERM');
  assert.equal(await exited(third.main.child), 0, third.main.output());
  assert.equal(await exited(onQdrant.main.child), 0, onQdrant.main.output());
});
