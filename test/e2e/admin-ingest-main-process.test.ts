/**
 * Live ingestion into the embedded index (issue 18 item 5), through the real entry point (`node src/main.ts`, work
 * threads) and the real CLI (`scripts/ingest.ts`): while the app runs it holds the index, so the CLI without a
 * token is refused with how to proceed; with ADMIN_API_TOKEN it hands the files to `POST /admin/ingest` (a wrong
 * token is 401). Crash test: the app is killed with SIGKILL right after the CLI reported files done; after a
 * restart the index opens cleanly (readyz) and every reported file is there (the same files come back `unchanged`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const run = promisify(execFile);
const script = new URL('../../scripts/ingest.ts', import.meta.url).pathname;
const keyPrefix = `test:${randomUUID()}:`;
const token = 'admin-token-0123456789abcdef0123456789';
let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let dataDir: string;
let docs: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-admin-ingest-'));
  docs = join(dataDir, 'docs');
  mkdirSync(docs);
  for (let index = 0; index < 6; index += 1) {
    writeFileSync(join(docs, `note-${index}.md`), `# Note ${index}\n\nThe depot ${index} opens at ${index + 6}:00.\n`);
  }
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

async function cli(args: string[], environment: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], {
      env: { PATH: process.env.PATH ?? '', ...environment, LOG_LEVEL: 'error' },
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test('the CLI hands files to the running app, and what it reported done survives a kill -9 of the app', async () => {
  const port = await freePort();
  const environment = {
    ...fakesEnvironment({ port, slack, openai, signingSecret: 'admin-ingest-secret-1', keyPrefix, dataDir }),
    // Sparse-only: the fake model server is not needed for ingestion.
    OPENAI_API_KEY: '',
    WORK_THREADS: '2',
  };
  const cliEnvironment = { DATA_DIR: dataDir, REDIS_KEY_PREFIX: keyPrefix, PORT: String(port) };
  let main = startMain({ ...environment, ADMIN_API_TOKEN: token });
  try {
    await waitUntilReady(port, main, 60_000);

    const refused = await cli([docs, '--workspace', 'T0ADMIN'], cliEnvironment);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /held by a running process \(pid \d+/);
    assert.match(refused.stderr, /ADMIN_API_TOKEN/);

    const wrong = await fetch(`http://127.0.0.1:${port}/admin/ingest`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-token' },
      body: '{}',
    });
    assert.equal(wrong.status, 401);

    const sent = await cli([docs, '--workspace', 'T0ADMIN'], { ...cliEnvironment, ADMIN_API_TOKEN: token });
    assert.equal(sent.code, 0, `${sent.stdout}\n${sent.stderr}`);
    assert.match(sent.stderr, /sending the files to it/);
    assert.equal(sent.stdout.match(/^indexed /gm)?.length, 6, sent.stdout);

    main.child.kill('SIGKILL');
    await exited(main.child);

    main = startMain({ ...environment, ADMIN_API_TOKEN: token });
    await waitUntilReady(port, main, 60_000);
    const again = await cli([docs, '--workspace', 'T0ADMIN', '--app-url', `http://127.0.0.1:${port}`], {
      ...cliEnvironment,
      ADMIN_API_TOKEN: token,
    });
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    assert.equal(again.stdout.match(/^unchanged /gm)?.length, 6, again.stdout);
  } finally {
    main.child.kill('SIGKILL');
    await exited(main.child);
  }
});
