/**
 * OAuth distribution in the running app (`node src/main.ts`, work in its worker thread, no SLACK_BOT_TOKEN): it
 * starts without a bot token to learn an identity from, serves the install redirect, installs a workspace through
 * the redirect, and answers that workspace's mention from the worker thread with the workspace's own token.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { SlackDriver, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { exited, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const signingSecret = 'oauth-process-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;
const team = 'T0PROCESS';
const channel = 'C0PROCESS';

let slack: FakeSlackWebApi;
let dataDir: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-oauth-process-'));
});

after(async () => {
  await slack.close();
  rmSync(dataDir, { recursive: true, force: true });
  const redis = new Redis();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('OAuth distribution in the running app (node src/main.ts)', () => {
  test('starts without a bot token, installs a workspace through the redirect and answers it with its token', async () => {
    const port = await freePort();
    const { child, output } = startMain({
      PORT: String(port),
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_API_URL: slack.url,
      SLACK_CLIENT_ID: 'fake-client-id',
      SLACK_CLIENT_SECRET: 'fake-client-secret',
      SLACK_STATE_SECRET: 'oauth-process-state-secret-012345',
      INSTALLATION_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      REDIS_KEY_PREFIX: keyPrefix,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      WORK_THREAD: 'true',
    });
    try {
      await waitUntilReady(port, { child, output }, 60_000);
      const baseUrl = `http://127.0.0.1:${port}`;
      const started = await fetch(`${baseUrl}/slack/install`, { redirect: 'manual' });
      assert.equal(started.status, 302, output());
      const state = new URL(started.headers.get('location') ?? '').searchParams.get('state') ?? '';
      const cookie = (started.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const code = slack.issueInstallCode({ teamId: team });
      const finished = await fetch(`${baseUrl}/slack/oauth_redirect?code=${code}&state=${state}`, {
        headers: { cookie },
      });
      assert.equal(finished.status, 200, output());
      const token = slack.installationOf(team)?.botToken;
      assert.ok(token);

      const driver = new SlackDriver({ url: `${baseUrl}/slack/events`, signingSecret });
      const asked = slack.addMessage({ channel, user: 'W222', text: '<@U0BOT> hello, what can you do?' });
      await driver.send(
        slackPayloads.appMention({ text: '<@U0BOT> hello, what can you do?', ts: asked.ts, channel, teamId: team }),
      );
      const deadline = Date.now() + 15_000;
      while (!slack.calls.some((call) => call.params.channel === channel) && Date.now() < deadline) await sleep(50);
      const calls = slack.calls.filter((call) => call.params.channel === channel);
      assert.ok(calls.length > 0, `no reply in the workspace's channel\n${output()}`);
      assert.deepEqual([...new Set(calls.map((call) => call.token))], [token], 'the reply used the workspace token');
      assert.ok(!output().includes(token), 'the token never appears in the logs');
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });
});
