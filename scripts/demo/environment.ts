/**
 * The demo's world: a fake Slack, (with a model) a fake OpenAI answering through the demo responder, the
 * example handbook ingested into the demo channel's scope, and the real app (`node src/main.ts`) in HTTP mode
 * against them. Every run gets its own Redis key prefix and, unless DATA_DIR is given, its own temporary data
 * directory, so demo runs never see each other's state; both are cleaned up by `stop()`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { FakeOpenAIServer } from '../../test/fakes/openai-server.ts';
import { SlackDriver } from '../../test/fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../../test/fakes/slack-web-api.ts';
import { demoResponder } from './demo-model.ts';

export const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Who the demo is: the driver's default team and user, one channel. */
export const demoIds = { team: 'T111', user: 'W222', channel: 'C0DEMO' } as const;

const signingSecret = 'demo-signing-secret-123456';

export interface DemoEnvironmentOptions {
  /** Start the app with a (fake) model; false starts it with no OPENAI_API_KEY. */
  model: boolean;
  /** Stream the app's logs to stderr instead of a log file. */
  verbose?: boolean;
  /** Print progress lines (ingestion, start-up) with this. */
  say?: (line: string) => void;
}

export interface DemoEnvironment {
  slack: FakeSlackWebApi;
  openai: FakeOpenAIServer | undefined;
  driver: SlackDriver;
  app: ChildProcess;
  dataDir: string;
  keyPrefix: string;
  /** The last lines the app logged (for a failure report). */
  logTail: (lines?: number) => string;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function run(command: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, command, { cwd: repositoryRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** Deletes this run's Redis keys (bounded SCAN; a demo creates a few hundred at most). */
async function deleteKeys(redisUrl: string, keyPrefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // Best effort: the keys carry a unique prefix, so leftovers never affect another run.
  } finally {
    redis.disconnect();
  }
}

export async function startDemoEnvironment(options: DemoEnvironmentOptions): Promise<DemoEnvironment> {
  const say = options.say ?? (() => {});
  const temporary = process.env.DATA_DIR ? undefined : mkdtempSync(join(tmpdir(), 'deskhand-demo-'));
  const dataDir = process.env.DATA_DIR ?? (temporary as string);
  const keyPrefix = `demo:${randomUUID().slice(0, 8)}:`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const base: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    QDRANT_URL: '',
    OPENAI_API_KEY: '',
  };

  // 1. The handbook, into the demo channel's scope, before the app opens the embedded index (one writer).
  //    Sparse-only: the fake model's embeddings are hashes that carry no meaning, so keyword search is the honest one.
  const ingesting = run(
    ['scripts/ingest.ts', 'examples/handbook', '--workspace', demoIds.team, '--scope', `channel:${demoIds.channel}`],
    { ...base, LOG_LEVEL: 'error' },
  );
  // 2. The fakes (while the handbook is ingested), then the app.
  const slack = await FakeSlackWebApi.start();
  slack.addUser({ id: demoIds.user, name: 'you', real_name: 'Demo User', tz: 'UTC', is_bot: false });
  const openai = options.model
    ? await FakeOpenAIServer.start({ whenEmpty: 'default', respond: demoResponder })
    : undefined;
  const ingest = await ingesting;
  if (ingest.code !== 0) {
    await slack.close();
    await openai?.close();
    if (temporary) rmSync(temporary, { recursive: true, force: true });
    throw new Error(`Ingesting examples/handbook failed:\n${ingest.output}`);
  }
  const summary = ingest.output.trim().split('\n').at(-1) ?? '';
  say(`Ingested examples/handbook into #demo (${summary.replace(/^\d+ files: /, '')}).`);
  const port = await freePort();
  const logPath = join(dataDir, 'deskhand-demo.log');
  const env: Record<string, string> = {
    ...base,
    PORT: String(port),
    SLACK_BOT_TOKEN: slack.token,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: slack.url,
    SLACK_APP_TOKEN: '',
    OPENAI_API_KEY: openai ? 'demo-key' : '',
    OPENAI_BASE_URL: openai ? openai.baseURL : 'http://127.0.0.1:9/v1',
    RETRIEVAL_MODE: 'sparse',
    ADMIN_USER_IDS: demoIds.user,
    APPROVER_USER_IDS: demoIds.user,
    // One person plays requester and approver in the demo.
    ALLOW_SELF_APPROVAL: 'true',
    // Filed tickets are announced in #triage, where the transcript shows them.
    TICKET_TRIAGE_CHANNEL_ID: 'C0TRIAGE',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    TIME_ZONE: 'UTC',
    // One event loop instead of a worker thread: the app's modules load once, so it starts faster (a demo notices).
    WORK_THREAD: process.env.WORK_THREAD ?? 'false',
  };
  const app = spawn(process.execPath, ['src/main.ts'], {
    cwd: repositoryRoot,
    env,
    stdio: ['ignore', options.verbose ? 'inherit' : 'pipe', options.verbose ? 'inherit' : 'pipe'],
  });
  if (!options.verbose) {
    const log = createWriteStream(logPath);
    app.stdout?.pipe(log);
    app.stderr?.pipe(log);
  }
  const logTail = (lines = 20) => {
    try {
      return readFileSync(logPath, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };

  let stopping: Promise<void> | undefined;
  // Idempotent: a second signal during shutdown waits for the same cleanup instead of cutting it short.
  const stop = () => {
    stopping ??= shutDown();
    return stopping;
  };
  const shutDown = async () => {
    if (app.exitCode === null && app.signalCode === null) {
      const exited = new Promise((resolve) => app.once('exit', resolve));
      app.kill('SIGTERM');
      const forced = setTimeout(() => app.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(forced);
    }
    await slack.close();
    await openai?.close();
    await deleteKeys(redisUrl, keyPrefix);
    if (temporary) rmSync(temporary, { recursive: true, force: true });
  };

  const readyUrl = `http://127.0.0.1:${port}/readyz`;
  // Generous: a loaded machine (several test suites on two cores) can need most of a minute to start the app.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await fetch(readyUrl).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) break;
    if (app.exitCode !== null || Date.now() > deadline) {
      const tail = logTail();
      await stop();
      throw new Error(`Deskhand did not become ready at ${readyUrl}.\n${tail}`);
    }
    await sleep(100);
  }
  const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });
  return { slack, openai, driver, app, dataDir, keyPrefix, logTail, stop };
}
