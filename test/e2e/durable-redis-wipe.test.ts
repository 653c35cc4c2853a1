/**
 * Issue 17's fault in small, with real `node src/main.ts` processes: a replica is SIGKILLed while it works on an
 * acknowledged mention and restarted at once on the same DATA_DIR; then Redis loses every key (here: every key of
 * the test's prefix is deleted, as a master restarted without persistence loses them), before the killed process's
 * heartbeat had expired and any replica took its work over. The restarted replica puts the item back from its work
 * journal (src/work/work-journal.ts) and the mention gets exactly one reply. Before the journal it got none.
 * Two replicas on one Redis need Qdrant, so both use the fake Qdrant.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { FakeQdrantServer } from '../fakes/qdrant-server.ts';
import { SlackDriver, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const signingSecret = 'durable-wipe-signing-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let qdrant: FakeQdrantServer;
let qdrantUrl: string;
let redis: Redis;
const dataDirs: string[] = [];
const children: ChildProcess[] = [];

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  qdrant = new FakeQdrantServer();
  qdrantUrl = await qdrant.start();
  redis = new Redis();
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await slack.close();
  await openai.close();
  await qdrant.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  await wipe();
  await redis.quit();
});

async function wipe(): Promise<number> {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  return keys.length;
}

interface Instance {
  child: ChildProcess;
  port: number;
  dataDir: string;
  output: () => string;
}

async function startInstance(dataDir = mkdtempSync(join(tmpdir(), 'deskhand-wipe-'))): Promise<Instance> {
  if (!dataDirs.includes(dataDir)) dataDirs.push(dataDir);
  const port = await freePort();
  const main = startMain({
    ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
    QDRANT_URL: qdrantUrl,
  });
  children.push(main.child);
  await waitUntilReady(port, main);
  return { child: main.child, port, dataDir, output: main.output };
}

describe('acknowledged work when Redis loses its data', () => {
  test('a replica killed mid-work, restarted, then Redis wiped: the mention gets exactly one reply', async () => {
    const [first, second] = await Promise.all([startInstance(), startInstance()]);
    openai.enqueueChat({ content: '{"route":"help"}', delayMs: 20_000 });
    const mention = slackPayloads.appMention({ text: '<@U0BOT> the export for customer 9 is odd' });
    const mentionTs = (mention.payload.event as { ts: string }).ts;
    const deliveryId = `event:${String(mention.payload.event_id)}`;
    const driver = new SlackDriver({ url: `http://127.0.0.1:${first.port}/slack/events`, signingSecret });
    assert.equal((await driver.send(mention)).status, 200);
    for (let attempt = 0; attempt < 100 && openai.chatCalls().length === 0; attempt += 1) await sleep(50);
    assert.equal(openai.chatCalls().length, 1, 'the first instance was working on it');

    first.child.kill('SIGKILL');
    await exited(first.child);
    const restarted = await startInstance(first.dataDir);
    // Within the killed process's 5 s heartbeat: nobody has taken its item over yet.
    assert.equal(await redis.exists(`${keyPrefix}{work}:item:${deliveryId}`), 1);
    assert.ok((await wipe()) > 0, 'Redis lost every key');
    const wipedAt = performance.now();

    openai.enqueueChat({ content: '{"route":"help"}' });
    const posts = await slack.waitForCalls('chat.postMessage', 1, 30_000);
    console.log(`the killed replica's mention answered ${Math.round(performance.now() - wipedAt)} ms after the wipe`);
    assert.equal(posts[0]?.params.thread_ts, mentionTs, 'the answer went to the mention’s thread');
    await sleep(6_000);
    assert.equal(slack.callsTo('chat.postMessage').length, 1, 'exactly one reply');
    assert.equal(await redis.exists(`${keyPrefix}{work}:item:${deliveryId}`), 0, 'the item was finished');
    assert.match(restarted.output() + second.output(), /durable work put back into Redis/);

    for (const instance of [restarted, second]) {
      instance.child.kill('SIGTERM');
      await exited(instance.child);
      assert.equal(instance.child.exitCode, 0, instance.output());
    }
  });
});
