import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { SlackDriver, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const signingSecret = 'process-signing-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let dataDir: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-process-'));
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

describe('node src/main.ts', () => {
  test('with bad settings it prints every problem and exits 1', async () => {
    const { child, output } = startMain({ PORT: 'not-a-port', SLACK_SIGNING_SECRET: 'short' });
    assert.equal(await exited(child), 1);
    assert.match(output(), /SLACK_BOT_TOKEN is required but not set/);
    assert.match(output(), /SLACK_SIGNING_SECRET is invalid/);
    assert.match(output(), /PORT is invalid/);
  });

  test('starts in HTTP mode against the fakes with the work in a thread, answers, and stops gracefully', async () => {
    const port = await freePort();
    const { child, output } = startMain({
      ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
      WORK_THREAD: 'true',
    });
    try {
      await waitUntilReady(port, { child, output });

      // A slow classification: the ack returns at once, the answer comes from the work thread later.
      openai.enqueueChat({ content: '{"route":"help"}', delayMs: 3_000 });
      const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });
      const response = await driver.send(
        slackPayloads.appMention({ text: '<@U0BOT> the export for customer 7 is odd' }),
      );
      assert.equal(response.status, 200);
      assert.ok(response.latencyMs < 1_500, `ack took ${response.latencyMs} ms, the model takes 3 s`);

      // /metrics merges the ingress's metrics with the work thread's.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /deskhand_http_requests_total\{path="\/slack\/events",status="200"\} 1/);
      assert.match(metrics, /deskhand_llm_circuit_open 0/, 'the work thread’s gateway metrics are included');

      // Stop while the answer is still being worked on: graceful shutdown finishes it first.
      child.kill('SIGTERM');
      assert.equal(await exited(child), 0, output());
      assert.equal(slack.callsTo('chat.postMessage').length, 1, 'the in-flight answer was posted before exit');
      assert.match(String(slack.callsTo('chat.postMessage')[0]?.params.text), /\/ask/);
      assert.equal(openai.chatCalls().length, 1);

      const metricsLines = output()
        .split('\n')
        .filter((line) => line.startsWith('{'));
      assert.ok(
        metricsLines.some((line) => line.includes('"thread":"work"')),
        'the work thread logs structured JSON too',
      );
      assert.doesNotMatch(output(), new RegExp(slack.token), 'no secret in the logs');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
