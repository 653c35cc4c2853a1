/**
 * The production composition (createApp + buildWorkSide) in OAuth mode against the fake Slack and a real Redis,
 * with documents ingested before start, and what an admin's browser does to install Deskhand in a workspace.
 * Shared by the OAuth end-to-end tests.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { ingestDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { createApp, type DeskhandApp } from '../../src/composition/app.ts';
import { buildWorkSide } from '../../src/composition/build-work-side.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createLogger, createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { SlackDriver } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

const signingSecret = 'oauth-e2e-signing-secret-123';

export interface OAuthApp {
  slack: FakeSlackWebApi;
  redis: Redis;
  app: DeskhandApp;
  driver: SlackDriver;
  baseUrl: string;
  keyPrefix: string;
  /** Every log line the app wrote (JSON). */
  logLines: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Starts the app in OAuth mode; `documents` are ingested first, workspace-wide, one per workspace id. */
export async function startOAuthApp(options: {
  documents: { workspaceId: string; text: string }[];
  environment?: Record<string, string>;
}): Promise<OAuthApp> {
  const slack = await FakeSlackWebApi.start();
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
  const keyPrefix = `test:${randomUUID()}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'deskhand-oauth-'));
  // Ingested before start, as `npm run ingest` would (the embedded index takes one writer).
  const index = new EmbeddedVectorIndex({ directory: join(dataDir, 'index'), logger: createSilentLogger() });
  await index.ensureReady();
  for (const { workspaceId, text } of options.documents) {
    const ingested = await ingestDocument(
      {
        workspaceId,
        scope: 'workspace',
        source: 'https://docs.example.com/loading-dock.md',
        fileName: 'loading-dock.md',
        bytes: new TextEncoder().encode(text),
      },
      { index, callScope: { workspaceId, channelId: 'ingestion' } },
    );
    assert.equal(ingested.kind, 'indexed');
  }
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
    ...options.environment,
  });
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  const logLines: Record<string, unknown>[] = [];
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
  const app = createApp({
    configuration: loaded.configuration,
    logger,
    redis,
    work,
    registry,
    shutdownTimeoutMs: 5_000,
  });
  await app.start(0);
  const baseUrl = `http://127.0.0.1:${app.port}`;
  return {
    slack,
    redis,
    app,
    driver: new SlackDriver({ url: `${baseUrl}/slack/events`, signingSecret }),
    baseUrl,
    keyPrefix,
    logLines,
    async close() {
      await app.stop();
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      await slack.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** What an admin's browser does: open the install page, approve on Slack, follow the redirect back. */
export async function installThroughOAuth(harness: OAuthApp, teamId: string): Promise<string> {
  const { baseUrl, slack } = harness;
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

export async function eventually<T>(
  find: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A signed Events API envelope of `event` for a workspace. */
export function eventFor(teamId: string, event: Record<string, unknown>) {
  return {
    kind: 'event' as const,
    payload: {
      token: 'verification_token',
      team_id: teamId,
      api_app_id: 'A111',
      event,
      type: 'event_callback',
      event_id: `Ev${randomUUID().replaceAll('-', '').slice(0, 10)}`,
      event_time: Math.floor(Date.now() / 1000),
    },
  };
}
