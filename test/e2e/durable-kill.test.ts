/**
 * A process that acknowledged an event and is then SIGKILLed while the work runs: another instance's sweeper
 * finishes it. Two real `node src/main.ts` processes share the fake Slack, the fake OpenAI server and Redis.
 * The delivery lease is main.ts's default (30 s), so this test takes about 35–40 s. Two replicas on one Redis need
 * Qdrant (the embedded index takes one replica: embedded-index-owner.ts), so both use the fake Qdrant.
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

const signingSecret = 'durable-kill-signing-secret-123456';
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
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

interface Instance {
  child: ChildProcess;
  port: number;
  output: () => string;
}

async function startInstance(): Promise<Instance> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'deskhand-durable-'));
  dataDirs.push(dataDir);
  const main = startMain({
    ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
    QDRANT_URL: qdrantUrl,
  });
  children.push(main.child);
  await waitUntilReady(port, main);
  return { child: main.child, port, output: main.output };
}

describe('durable work across processes', () => {
  test('an event acked by a process SIGKILLed mid-work is finished by another instance, with exactly one reply', async () => {
    const [first, second] = await Promise.all([startInstance(), startInstance()]);

    // The first instance's classification hangs long enough to be killed in the middle of it.
    openai.enqueueChat({ content: '{"route":"help"}', delayMs: 10_000 });
    const mention = slackPayloads.appMention({ text: '<@U0BOT> the export for customer 7 is odd' });
    const mentionTs = (mention.payload.event as { ts: string }).ts;
    const deliveryId = `event:${String(mention.payload.event_id)}`;
    const driver = new SlackDriver({ url: `http://127.0.0.1:${first.port}/slack/events`, signingSecret });
    const response = await driver.send(mention);
    assert.equal(response.status, 200);

    for (let attempt = 0; attempt < 100 && openai.chatCalls().length === 0; attempt += 1) await sleep(50);
    assert.equal(openai.chatCalls().length, 1, 'the first instance was working on it');
    first.child.kill('SIGKILL');
    await exited(first.child);
    assert.equal(slack.callsTo('chat.postMessage').length, 0, 'the killed instance never answered');
    assert.equal(await redis.exists(`${keyPrefix}{work}:item:${deliveryId}`), 1, 'the acked work survived the kill');

    // The second instance's sweeper re-claims it once the dead instance's 30 s lease has expired.
    openai.enqueueChat({ content: '{"route":"help"}' });
    const posts = await slack.waitForCalls('chat.postMessage', 1, 60_000);
    assert.equal(posts[0]?.params.thread_ts, mentionTs, 'the answer went to the mention’s thread');
    assert.match(String(posts[0]?.params.text), /\/ask/);

    // One more sweep period: nothing runs it again.
    await sleep(6_000);
    assert.equal(slack.callsTo('chat.postMessage').length, 1, 'exactly one reply');
    assert.equal(openai.chatCalls().length, 2);
    assert.equal(await redis.exists(`${keyPrefix}{work}:item:${deliveryId}`), 0, 'the item was deleted');
    assert.match(second.output(), /durable work re-dispatched after its worker stopped/);

    second.child.kill('SIGTERM');
    await exited(second.child);
    assert.equal(second.child.exitCode, 0, second.output());
  });
});
