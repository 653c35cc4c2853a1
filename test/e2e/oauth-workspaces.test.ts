/**
 * OAuth distribution end to end, through the production composition (createApp + buildWorkSide, no model key)
 * against the fake Slack and a real Redis: two workspaces install Deskhand through the OAuth flow
 * (GET /slack/install → Slack's authorize URL with a signed state cookie → GET /slack/oauth_redirect?code&state →
 * oauth.v2.access), each one's `/ask` is answered with its own bot token, a document of one is invisible to the
 * other, and uninstalling one deletes its installation and data (audited) while the other keeps answering.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { ingestDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { createApp, type DeskhandApp } from '../../src/composition/app.ts';
import { buildWorkSide } from '../../src/composition/build-work-side.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createLogger, createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { SlackDriver, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

const signingSecret = 'oauth-e2e-signing-secret-123';
const keyPrefix = `test:${randomUUID()}:`;
const teamA = 'T0AAAOAUTH';
const teamB = 'T0BBBOAUTH';
const channelA = 'C0AAA';
const channelB = 'C0BBB';
const document = '# Loading dock\n\nThe loading dock in Bremen opens at 6:15 on weekdays for parcel returns.';
const question = 'When does the loading dock in Bremen open?';

let slack: FakeSlackWebApi;
let redis: Redis;
let app: DeskhandApp;
let driver: SlackDriver;
let baseUrl: string;
let dataDir: string;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  slack = await FakeSlackWebApi.start();
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-oauth-'));
  // Workspace A's document, workspace-wide, ingested before start as `npm run ingest` would (one writer).
  const index = new EmbeddedVectorIndex({ directory: join(dataDir, 'index'), logger: createSilentLogger() });
  await index.ensureReady();
  const ingested = await ingestDocument(
    {
      workspaceId: teamA,
      scope: 'workspace',
      source: 'https://docs.example.com/loading-dock.md',
      fileName: 'loading-dock.md',
      bytes: new TextEncoder().encode(document),
    },
    { index, callScope: { workspaceId: teamA, channelId: 'ingestion' } },
  );
  assert.equal(ingested.kind, 'indexed');
  await index.close();

  const loaded = loadConfiguration({
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: slack.url,
    SLACK_CLIENT_ID: 'fake-client-id',
    SLACK_CLIENT_SECRET: 'fake-client-secret',
    SLACK_STATE_SECRET: 'oauth-e2e-state-secret-0123456789',
    INSTALLATION_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  });
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    }),
  });
  const registry = createMetricsRegistry();
  const work = await buildWorkSide(loaded.configuration, logger, registry);
  app = createApp({ configuration: loaded.configuration, logger, redis, work, registry, shutdownTimeoutMs: 5_000 });
  await app.start(0);
  baseUrl = `http://127.0.0.1:${app.port}`;
  driver = new SlackDriver({ url: `${baseUrl}/slack/events`, signingSecret });
});

after(async () => {
  await app.stop();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await slack.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function eventually<T>(find: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** What an admin's browser does: open the install page, approve on Slack, follow the redirect back. */
async function installThroughOAuth(teamId: string): Promise<string> {
  const started = await fetch(`${baseUrl}/slack/install`, { redirect: 'manual' });
  assert.equal(started.status, 302);
  const authorize = new URL(started.headers.get('location') ?? '');
  assert.equal(`${authorize.origin}${authorize.pathname}`, 'https://slack.com/oauth/v2/authorize');
  assert.equal(authorize.searchParams.get('client_id'), 'fake-client-id');
  assert.ok(authorize.searchParams.get('scope')?.split(',').includes('chat:write'), 'the manifest scopes are asked');
  const state = authorize.searchParams.get('state') ?? '';
  const cookie = (started.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  assert.ok(state && cookie.endsWith(state), 'the state is bound to the browser by a cookie');

  const code = slack.issueInstallCode({ teamId });
  const forged = await fetch(`${baseUrl}/slack/oauth_redirect?code=${code}&state=${state}`);
  assert.notEqual(forged.status, 200, 'a redirect without the browser cookie is refused (CSRF)');
  const secondCode = slack.issueInstallCode({ teamId });
  const finished = await fetch(`${baseUrl}/slack/oauth_redirect?code=${secondCode}&state=${state}`, {
    headers: { cookie },
  });
  assert.equal(finished.status, 200, await finished.text());
  const installation = slack.installationOf(teamId);
  assert.ok(installation, 'oauth.v2.access was called with the code');
  return installation.botToken;
}

/**
 * Asks in a channel of a workspace — `/ask`, or a mention of Deskhand — and returns the answer and the tokens of
 * every call that addressed the channel meanwhile.
 */
async function askIn(
  teamId: string,
  channel: string,
  how: 'command' | 'mention' = 'command',
): Promise<{ answer: string; tokens: Set<string | undefined> }> {
  const before = slack.calls.length;
  if (how === 'command') {
    await driver.send(slackPayloads.slashCommand({ command: '/ask', text: question, channel, teamId }));
  } else {
    const text = `<@U0BOT> ask: ${question}`;
    const asked = slack.addMessage({ channel, user: 'W222', text });
    await driver.send(slackPayloads.appMention({ text, ts: asked.ts, channel, teamId }));
  }
  const answer = await eventually(
    () =>
      slack.calls
        .slice(before)
        .filter(
          (call) => call.params.channel === channel && /chat\.(update|postMessage|postEphemeral)/.test(call.method),
        )
        .map((call) => JSON.stringify([call.params.text, call.params.blocks]))
        .find((text) =>
          /Answered without a language model|found no|no documents|couldn.t find|could not find/i.test(text),
        ),
    `the /ask answer in ${channel}`,
  );
  const tokens = new Set(
    slack.calls
      .slice(before)
      .filter((call) => call.params.channel === channel)
      .map((call) => call.token),
  );
  return { answer, tokens };
}

describe('OAuth distribution: two workspaces', () => {
  test('install both, answer each with its own token, keep their documents apart, uninstall one', async () => {
    const tokenA = await installThroughOAuth(teamA);
    const tokenB = await installThroughOAuth(teamB);
    assert.notEqual(tokenA, tokenB);
    const stored = await redis.keys(`${keyPrefix}installation:*`);
    assert.deepEqual(stored.sort(), [
      `${keyPrefix}installation:team:${teamA}`,
      `${keyPrefix}installation:team:${teamB}`,
    ]);
    for (const key of stored) {
      const raw = (await redis.get(key)) ?? '';
      assert.ok(!raw.includes(tokenA) && !raw.includes(tokenB) && !raw.includes('xoxb-'), 'tokens are encrypted');
    }

    const inA = await askIn(teamA, channelA);
    assert.match(inA.answer, /opens at 6:15 on weekdays/, "workspace A's own document answers");
    assert.deepEqual([...inA.tokens], [tokenA], "every call for workspace A used A's token");

    const inB = await askIn(teamB, channelB);
    assert.doesNotMatch(inB.answer, /6:15/, "workspace A's document is invisible from workspace B");
    assert.deepEqual([...inB.tokens], [tokenB], "every call for workspace B used B's token");
    const mentionA = await askIn(teamA, channelA, 'mention');
    assert.match(mentionA.answer, /6:15/);
    assert.deepEqual([...mentionA.tokens], [tokenA], "a mention in A is answered with A's token");
    const mentionB = await askIn(teamB, channelB, 'mention');
    assert.doesNotMatch(mentionB.answer, /6:15/);
    assert.deepEqual([...mentionB.tokens], [tokenB], "a mention in B is answered with B's token");
    slack.expectNoViolations();

    // A uninstalls: its installation goes at once, its data shortly after (the work side's purger), audited.
    const keysOfA = async () => (await redis.keys(`${keyPrefix}*`)).filter((key) => key.includes(teamA));
    assert.ok((await keysOfA()).length > 0, 'workspace A has data to delete');
    await driver.send({
      kind: 'event',
      payload: {
        token: 'verification_token',
        team_id: teamA,
        api_app_id: 'A111',
        event: { type: 'app_uninstalled' },
        type: 'event_callback',
        event_id: `Ev${randomUUID().replaceAll('-', '').slice(0, 10)}`,
        event_time: Math.floor(Date.now() / 1000),
      },
    });
    const audit = await eventually(
      () => logLines.find((line) => line.audit === 'workspace_data_deleted' && line.workspaceId === teamA),
      'the audit entry of the deletion',
    );
    assert.equal((audit.deleted as Record<string, number>).documents, 1);
    assert.deepEqual(await keysOfA(), [], "none of workspace A's keys remain");
    assert.ok(await redis.exists(`${keyPrefix}installation:team:${teamB}`), "B's installation stays");

    // B revokes only a user token: nothing of B's is deleted.
    await driver.send({
      kind: 'event',
      payload: {
        token: 'verification_token',
        team_id: teamB,
        api_app_id: 'A111',
        event: { type: 'tokens_revoked', tokens: { oauth: ['W222'], bot: [] } },
        type: 'event_callback',
        event_id: `Ev${randomUUID().replaceAll('-', '').slice(0, 10)}`,
        event_time: Math.floor(Date.now() / 1000),
      },
    });
    const again = await askIn(teamB, channelB, 'mention');
    assert.deepEqual([...again.tokens], [tokenB], 'workspace B still answers with its own token');
    assert.ok(
      await redis.exists(`${keyPrefix}installation:team:${teamB}`),
      "B's installation survives a user-token revocation",
    );
    slack.expectNoViolations();
  });
});
