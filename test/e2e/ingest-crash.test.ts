/**
 * kill -9 in the middle of live ingestion (issue 18 item 5: "a kill -9 of either side during ingestion loses
 * nothing that was reported done and corrupts nothing"), with the real app (`node src/main.ts`) and the real CLI:
 * - the app is SIGKILLed while the CLI is handing it a batch: the CLI reports every file it could not hand over as
 *   failed with the reason and exits 1, without waiting out its retry window file after file; the index opens
 *   again, holds every file reported `indexed` with all its chunks, and no document with only part of them; a
 *   rerun reports the done files `unchanged` and indexes the rest;
 * - the CLI is SIGKILLed mid-batch while it writes the index itself (app stopped): its lock names a dead process,
 *   the app starting next takes it over, and nothing reported is lost;
 * - the CLI is SIGKILLed mid-batch while it hands files to the running app: the app keeps serving and ingesting,
 *   and nothing reported is lost.
 * "All its chunks" is checked in the index directory itself (opened by the test once no live process holds it)
 * against what ingesting the file into a fresh index makes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { readIndexLock } from '../../src/adapters/index-directory-lock.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { expectedChunkCount, indexContents, reported, startCli, writeFillerDocuments } from './live-ingest-support.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const keyPrefix = `test:${randomUUID()}:`;
const token = 'crash-ingest-token-0123456789abcdef01';
const team = 'T0CRASH';
const access = { workspaceId: team, channelId: 'C0CRASH' };

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let root: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  root = mkdtempSync(join(tmpdir(), 'deskhand-ingest-crash-'));
});

after(async () => {
  await slack.close();
  await openai.close();
  rmSync(root, { recursive: true, force: true });
  const redis = new Redis();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** A data directory with `count` documents, and the environments of the app and of the CLI for it. */
async function setUp(name: string, count: number, paragraphs = 12) {
  const dataDir = join(root, name);
  const files = writeFillerDocuments(join(dataDir, 'docs'), count, paragraphs);
  const port = await freePort();
  const app = {
    ...fakesEnvironment({ port, slack, openai, signingSecret: 'crash-ingest-secret-1', keyPrefix, dataDir }),
    OPENAI_API_KEY: '',
    WORK_THREADS: '2',
    ADMIN_API_TOKEN: token,
  };
  const cli = { DATA_DIR: dataDir, REDIS_KEY_PREFIX: keyPrefix, PORT: String(port) };
  const expected = new Map<string, number>();
  for (const file of files) expected.set(basename(file), await expectedChunkCount(file, team));
  return { dataDir, docs: join(dataDir, 'docs'), index: join(dataDir, 'index'), port, app, cli, expected };
}

/**
 * The index holds every file in `done` with all its chunks, and every document it holds is whole; returns how
 * many documents it holds.
 */
async function assertWhole(indexDirectory: string, done: readonly string[], expected: Map<string, number>) {
  const contents = await indexContents(indexDirectory, access);
  for (const file of done) assert.ok(contents.has(file), `${file} was reported done but is not in the index`);
  for (const [file, { chunkCount, chunksPresent }] of contents) {
    assert.equal(chunkCount, expected.get(file), `${file}: ${chunkCount} chunks, expected ${expected.get(file)}`);
    assert.equal(chunksPresent, chunkCount, `${file}: only ${chunksPresent} of its ${chunkCount} chunks`);
  }
  return contents.size;
}

describe('kill -9 during live ingestion', () => {
  test('the app killed mid-batch: the CLI fails the rest with the reason, and nothing reported is lost', async () => {
    const setup = await setUp('app-killed', 40);
    let main = startMain(setup.app);
    try {
      await waitUntilReady(setup.port, main, 60_000);
      const cli = startCli(
        [setup.docs, '--workspace', team, '--app-url', `http://127.0.0.1:${setup.port}`, '--wait', '2'],
        {
          ...setup.cli,
          ADMIN_API_TOKEN: token,
        },
      );
      await cli.lineMatching(/^indexed +\S*doc-05\.md/);
      main.child.kill('SIGKILL');
      const killedAt = performance.now();
      await exited(main.child);
      const code = await cli.exited;
      const exitedAfterMs = performance.now() - killedAt;
      const lines = cli.lines();
      const indexed = reported(lines, 'indexed');
      const failed = lines.filter((line) => line.startsWith('failed '));
      assert.equal(code, 1, `${lines.join('\n')}\n${cli.stderr()}`);
      assert.ok(indexed.length >= 6 && indexed.length < 40, lines.join('\n'));
      assert.equal(indexed.length + failed.length, 40, `every file has an outcome:\n${lines.join('\n')}`);
      for (const line of failed)
        assert.match(line, /: the app at http:\/\/127\.0\.0\.1:\d+ (did not answer|stopped answering)/);
      assert.match(lines.at(-1) ?? '', new RegExp(`40 files: ${indexed.length} indexed, ${failed.length} failed`));
      assert.ok(exitedAfterMs < 15_000, `the CLI gave up ${Math.round(exitedAfterMs)} ms after the app died`);

      const held = await assertWhole(setup.index, indexed, setup.expected);
      console.log(
        `app killed mid-batch: ${indexed.length} reported indexed, ${failed.length} failed, ${held} in the index ` +
          `(${held - indexed.length} committed but unreported), files lost 0, CLI gave up after ${Math.round(exitedAfterMs)} ms`,
      );

      main = startMain(setup.app);
      await waitUntilReady(setup.port, main, 60_000);
      const rerun = startCli([setup.docs, '--workspace', team, '--app-url', `http://127.0.0.1:${setup.port}`], {
        ...setup.cli,
        ADMIN_API_TOKEN: token,
      });
      assert.equal(await rerun.exited, 0, `${rerun.lines().join('\n')}\n${rerun.stderr()}`);
      const unchanged = reported(rerun.lines(), 'unchanged');
      for (const file of indexed) assert.ok(unchanged.includes(file), `${file} is not unchanged on the rerun`);
      assert.equal(unchanged.length, held);
      assert.equal(reported(rerun.lines(), 'indexed').length, 40 - held);
    } finally {
      main.child.kill('SIGKILL');
      await exited(main.child);
    }
    await assertWhole(setup.index, [...setup.expected.keys()], setup.expected);
  });

  test('the CLI killed mid-batch while it writes the index: the next opener takes its lock over, nothing reported is lost', async () => {
    const setup = await setUp('cli-killed-direct', 40, 60);
    const cli = startCli([setup.docs, '--workspace', team], setup.cli);
    await cli.lineMatching(/^indexed +\S*doc-03\.md/);
    cli.child.kill('SIGKILL');
    assert.equal(await cli.exited, null, 'the CLI was killed, not finished');
    const indexed = reported(cli.lines(), 'indexed');
    assert.ok(indexed.length < 40, 'killed mid-batch');
    assert.deepEqual(readIndexLock(setup.index), { pid: cli.child.pid, live: false }, 'the dead CLI left its lock');

    const main = startMain(setup.app);
    let held: number;
    try {
      await waitUntilReady(setup.port, main, 60_000);
      assert.equal(readIndexLock(setup.index)?.pid, main.child.pid, 'the app took the lock over');
    } finally {
      main.child.kill('SIGTERM');
      await exited(main.child);
    }
    held = await assertWhole(setup.index, indexed, setup.expected);
    console.log(`CLI killed while writing: ${indexed.length} reported indexed, ${held} in the index, files lost 0`);

    const rerun = startCli([setup.docs, '--workspace', team], setup.cli);
    assert.equal(await rerun.exited, 0, `${rerun.lines().join('\n')}\n${rerun.stderr()}`);
    const unchanged = reported(rerun.lines(), 'unchanged');
    for (const file of indexed) assert.ok(unchanged.includes(file), `${file} is not unchanged on the rerun`);
    held = await assertWhole(setup.index, [...setup.expected.keys()], setup.expected);
    assert.equal(held, 40);
  });

  test('the CLI killed mid-batch while it hands files to the app: the app carries on and nothing reported is lost', async () => {
    const setup = await setUp('cli-killed-remote', 40);
    const main = startMain(setup.app);
    let indexed: string[];
    try {
      await waitUntilReady(setup.port, main, 60_000);
      const url = `http://127.0.0.1:${setup.port}`;
      const cli = startCli([setup.docs, '--workspace', team, '--app-url', url], {
        ...setup.cli,
        ADMIN_API_TOKEN: token,
      });
      await cli.lineMatching(/^indexed +\S*doc-05\.md/);
      cli.child.kill('SIGKILL');
      assert.equal(await cli.exited, null, 'the CLI was killed, not finished');
      indexed = reported(cli.lines(), 'indexed');
      assert.ok(indexed.length < 40, 'killed mid-batch');

      const rerun = startCli([setup.docs, '--workspace', team, '--app-url', url], {
        ...setup.cli,
        ADMIN_API_TOKEN: token,
      });
      assert.equal(await rerun.exited, 0, `${rerun.lines().join('\n')}\n${rerun.stderr()}`);
      const unchanged = reported(rerun.lines(), 'unchanged');
      for (const file of indexed) assert.ok(unchanged.includes(file), `${file} is not unchanged on the rerun`);
      assert.equal(unchanged.length + reported(rerun.lines(), 'indexed').length, 40);
      console.log(
        `CLI killed while handing over: ${indexed.length} reported indexed, ${unchanged.length} found unchanged by the rerun, files lost 0`,
      );
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
    } finally {
      main.child.kill('SIGKILL');
      await exited(main.child);
    }
    assert.equal(await assertWhole(setup.index, indexed, setup.expected), 40);
  });
});
