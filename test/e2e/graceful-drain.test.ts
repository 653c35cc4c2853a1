/**
 * Issue 17 item 3, "graceful shutdown drains in-flight work", with the real entry point (`node src/main.ts`): a
 * SIGTERM while an answer is still being worked on lets it finish — the reply is posted before the process exits 0 —
 * and a delivery arriving during the drain is answered 503 with retry-after (not acknowledged, so Slack retries it,
 * and a load balancer can send the retry to another replica) instead of a refused connection; `/readyz` says 503
 * "shutting down" meanwhile, so the load balancer stops sending.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { SlackDriver, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const signingSecret = 'drain-signing-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let dataDir: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-drain-'));
});

after(async () => {
  await slack.close();
  await openai.close();
  rmSync(dataDir, { recursive: true, force: true });
  const redis = new Redis();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

test('SIGTERM during a long answer: the reply is posted before exit, new deliveries get 503 meanwhile', async () => {
  const port = await freePort();
  const main = startMain(fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }));
  try {
    await waitUntilReady(port, main);
    const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });

    // A long answer: the model takes 4 s.
    openai.enqueueChat({ content: '{"route":"help"}', delayMs: 4_000 });
    const mention = slackPayloads.appMention({ text: '<@U0BOT> the export for customer 7 is odd' });
    assert.equal((await driver.send(mention)).status, 200);
    for (let attempt = 0; attempt < 100 && openai.chatCalls().length === 0; attempt += 1) await sleep(50);
    assert.equal(openai.chatCalls().length, 1, 'the answer is being worked on');

    const stoppedAt = performance.now();
    main.child.kill('SIGTERM');
    await sleep(300);

    // During the drain: a new delivery is not acknowledged (503, Slack retries it), readiness is off.
    const late = slackPayloads.appMention({ text: '<@U0BOT> another question', channel: 'C0LATE' });
    const refused = await driver.send(late);
    assert.equal(refused.status, 503, `a delivery during the drain got ${refused.status}: ${refused.body}`);
    assert.ok(refused.headers.get('retry-after'), 'with retry-after');
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /shutting down/);
    assert.equal(main.child.exitCode, null, 'still draining');

    assert.equal(await exited(main.child), 0, main.output());
    const drainedMs = performance.now() - stoppedAt;
    const posts = slack.callsTo('chat.postMessage');
    assert.equal(posts.length, 1, 'the in-flight answer was posted before exit, the late delivery not run');
    assert.equal(posts[0]?.params.thread_ts, (mention.payload.event as { ts: string }).ts);
    assert.equal(openai.chatCalls().length, 1);
    console.log(`SIGTERM to exit with a 4 s answer in flight: ${Math.round(drainedMs)} ms; late delivery: 503`);
  } finally {
    if (main.child.exitCode === null) main.child.kill('SIGKILL');
  }
});
