/**
 * The real entry point with two work threads (`WORK_THREADS=2`, which needs `QDRANT_URL`: the fake Qdrant): both
 * real work sides start side by side, `/healthz` reports them, `/readyz` checks them, requests from several
 * channels are answered once each, and the process stops gracefully. Without `QDRANT_URL` the work threads share
 * the embedded index through one index thread (src/composition/worker/shared-index.ts).
 */
import assert from 'node:assert/strict';
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

const signingSecret = 'pool-signing-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let qdrant: FakeQdrantServer;
let qdrantUrl: string;
let dataDir: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  qdrant = new FakeQdrantServer();
  qdrantUrl = await qdrant.start();
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-pool-'));
});

after(async () => {
  await slack.close();
  await openai.close();
  await qdrant.close();
  rmSync(dataDir, { recursive: true, force: true });
  const redis = new Redis();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('node src/main.ts with a pool of work threads', () => {
  test('two real work threads start, are reported by /healthz and /readyz, and answer every channel once', async () => {
    const port = await freePort();
    const main = startMain({
      ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
      QDRANT_URL: qdrantUrl,
      WORK_THREADS: '2',
    });
    try {
      await waitUntilReady(port, main);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      const body = (await health.json()) as { status: string; workThreads: Record<string, number> };
      // `responsive` depends on how busy the machine is (heartbeats): not asserted.
      assert.deepEqual(
        { ...body, workThreads: { ...body.workThreads, responsive: 0 } },
        {
          status: 'ok',
          workThreads: { alive: 2, responsive: 0, total: 2, restarts: 0 },
        },
      );
      const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { checks: unknown };
      assert.deepEqual(ready.checks, { redis: true, work: true, workThreads: true });

      const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });
      const channels = ['C0POOL1', 'C0POOL2', 'C0POOL3', 'C0POOL4'];
      for (const channel of channels) {
        const response = await driver.send(slackPayloads.slashCommand({ command: '/budget', channel }));
        assert.equal(response.status, 200);
      }
      for (let tries = 0; tries < 100 && slack.callsTo('chat.postEphemeral').length < channels.length; tries += 1) {
        await sleep(100);
      }
      const replied = slack.callsTo('chat.postEphemeral').map((call) => call.params.channel);
      assert.deepEqual([...replied].sort(), channels, main.output());

      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /deskhand_work_threads_alive 2/);
      assert.match(metrics, /deskhand_work_queue_wait_seconds_count 4/);

      main.child.kill('SIGTERM');
      assert.equal(await exited(main.child), 0, main.output());
    } finally {
      if (main.child.exitCode === null) main.child.kill('SIGKILL');
    }
  });

  test('with the embedded index the work threads share one index thread, closed cleanly on stop', async () => {
    const port = await freePort();
    const main = startMain({
      ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
      WORK_THREADS: '3',
    });
    try {
      await waitUntilReady(port, main);
      const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { workThreads: unknown };
      assert.deepEqual(
        { ...(health.workThreads as Record<string, number>), responsive: 0 },
        { alive: 3, responsive: 0, total: 3, restarts: 0 },
      );
      const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { checks: unknown };
      assert.deepEqual(ready.checks, { redis: true, work: true, workThreads: true }, 'every thread reaches the index');
      main.child.kill('SIGTERM');
      assert.equal(await exited(main.child), 0, main.output());
      assert.doesNotMatch(main.output(), /index did not close cleanly|index thread exited/);
    } finally {
      if (main.child.exitCode === null) main.child.kill('SIGKILL');
    }
  });
});
