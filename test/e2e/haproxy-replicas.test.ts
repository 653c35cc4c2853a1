/**
 * The HAProxy policy of docker-compose.ha.yml (deploy/haproxy/haproxy.cfg), run for real with local processes:
 * 3 replicas (`node src/main.ts`, fake Slack/OpenAI/Qdrant, one Redis) behind a local `haproxy` given that very file
 * with only the addresses changed (Docker's service names and DNS resolver → 127.0.0.1 ports). Mentions arrive
 * through HAProxy while one replica is stopped with SIGTERM in the middle: its in-flight answers finish, the
 * deliveries it refuses while draining (503) are sent to another replica by HAProxy, so Slack sees only 200s, and
 * every mention is answered exactly once. Skipped when no `haproxy` binary is installed (it is not a project
 * dependency; Debian's `haproxy` package was used here).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { FakeQdrantServer } from '../fakes/qdrant-server.ts';
import { SlackDriver, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { readRepositoryFile } from '../support/deployment-files.ts';
import {
  exited,
  fakesEnvironment,
  freePort,
  type MainProcess,
  startMain,
  waitUntilReady,
} from './main-process-support.ts';

const haproxyInstalled = (() => {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const signingSecret = 'haproxy-signing-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;
const mentions = 30;

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let qdrant: FakeQdrantServer;
let qdrantUrl: string;
let workDirectory: string;
const replicas: MainProcess[] = [];
let haproxy: ChildProcess | undefined;
let haproxyOutput = '';

before(async () => {
  if (!haproxyInstalled) return;
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  qdrant = new FakeQdrantServer();
  qdrantUrl = await qdrant.start();
  workDirectory = mkdtempSync(join(tmpdir(), 'deskhand-haproxy-'));
});

after(async () => {
  if (!haproxyInstalled) return;
  haproxy?.kill('SIGKILL');
  for (const replica of replicas) if (replica.child.exitCode === null) replica.child.kill('SIGKILL');
  await Promise.all(replicas.map((replica) => exited(replica.child)));
  await slack.close();
  await openai.close();
  await qdrant.close();
  rmSync(workDirectory, { recursive: true, force: true });
  const redis = new Redis();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** deploy/haproxy/haproxy.cfg with local addresses: only ports, server addresses and the Docker resolver change. */
function localHaproxyConfig(ports: { front: number; stats: number; qdrant: number; replicas: number[] }): string {
  let config = readRepositoryFile('deploy/haproxy/haproxy.cfg')
    .replace(/^resolvers docker\n(?: {4}.*\n)*/m, '')
    .replaceAll(' resolvers docker', '')
    .replace('bind :3000', `bind 127.0.0.1:${ports.front}`)
    .replace('bind :8404', `bind 127.0.0.1:${ports.stats}`)
    .replace('bind :6333', `bind 127.0.0.1:${ports.qdrant}`);
  ports.replicas.forEach((port, index) => {
    config = config.replace(`app-${index + 1}:3000`, `127.0.0.1:${port}`);
  });
  for (const node of [1, 2, 3]) config = config.replace(`qdrant-${node}:6333`, new URL(qdrantUrl).host);
  assert.doesNotMatch(config, /app-\d:3000|resolvers docker|nameserver/, 'every address was replaced');
  return config;
}

/** HAProxy's CSV statistics of the replicas' backend: per server, its status and redispatch count. */
async function replicaStats(
  statsPort: number,
): Promise<Array<{ server: string; status: string; redispatches: number }>> {
  const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text();
  const [header = '', ...rows] = csv.split('\n');
  const columns = header.replace(/^# /, '').split(',');
  const at = (row: string[], name: string) => row[columns.indexOf(name)] ?? '';
  return rows
    .map((line) => line.split(','))
    .filter((row) => at(row, 'pxname') === 'deskhand_replicas' && /^app-/.test(at(row, 'svname')))
    .map((row) => ({ server: at(row, 'svname'), status: at(row, 'status'), redispatches: Number(at(row, 'wredis')) }));
}

test('through HAProxy, a replica stopped mid-burst finishes its answers and every mention is answered once, with no 503 reaching Slack', {
  skip: haproxyInstalled ? false : 'no haproxy binary on PATH',
}, async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  for (const port of ports) {
    const dataDir = mkdtempSync(join(workDirectory, 'replica-'));
    replicas.push(
      startMain({
        ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
        QDRANT_URL: qdrantUrl,
        LOG_LEVEL: 'warn',
      }),
    );
  }
  await Promise.all(replicas.map((replica, index) => waitUntilReady(ports[index] as number, replica, 60_000)));

  const [front, stats, qdrantFront] = [await freePort(), await freePort(), await freePort()];
  const configPath = join(workDirectory, 'haproxy.cfg');
  writeFileSync(configPath, localHaproxyConfig({ front, stats, qdrant: qdrantFront, replicas: ports }));
  haproxy = spawn('haproxy', ['-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy.stdout?.on('data', (chunk: Buffer) => {
    haproxyOutput += chunk.toString();
  });
  haproxy.stderr?.on('data', (chunk: Buffer) => {
    haproxyOutput += chunk.toString();
  });
  let up = 0;
  for (let attempt = 0; attempt < 100 && up < 3; attempt += 1) {
    await sleep(100);
    up = await replicaStats(stats).then(
      (rows) => rows.filter((row) => row.status === 'UP').length,
      () => 0,
    );
  }
  assert.equal(up, 3, `HAProxy sees the 3 replicas ready:\n${haproxyOutput}`);

  // Each mention's classification takes 1.5 s, so answers are in flight on every replica when one is stopped.
  for (let index = 0; index < mentions; index += 1) openai.enqueueChat({ content: '{"route":"help"}', delayMs: 1_500 });
  const driver = new SlackDriver({ url: `http://127.0.0.1:${front}/slack/events`, signingSecret });
  const sent: Array<{ ts: string; status: Promise<number> }> = [];
  const stopped = replicas[0] as MainProcess;
  for (let index = 0; index < mentions; index += 1) {
    // One channel per mention: Slack's per-channel posting pace is not what this measures.
    const mention = slackPayloads.appMention({
      text: `<@U0BOT> the export for customer ${index} is odd`,
      channel: `C0HA${String(index).padStart(3, '0')}`,
    });
    sent.push({
      ts: (mention.payload.event as { ts: string }).ts,
      status: driver.send(mention).then((response) => response.status),
    });
    if (index === 9) stopped.child.kill('SIGTERM');
    await sleep(100);
  }
  const statuses = await Promise.all(sent.map((entry) => entry.status));
  const byStatus = Object.groupBy(statuses, (status) => String(status));
  assert.deepEqual(
    Object.keys(byStatus),
    ['200'],
    `every delivery acknowledged through HAProxy: ${JSON.stringify(byStatus)}`,
  );
  assert.equal(await exited(stopped.child), 0, stopped.output());

  await slack.waitForCalls('chat.postMessage', mentions, 30_000);
  await sleep(1_000);
  const posts = slack.callsTo('chat.postMessage');
  const repliesPerMention = sent.map((entry) => posts.filter((post) => post.params.thread_ts === entry.ts).length);
  assert.deepEqual(
    repliesPerMention.filter((count) => count !== 1),
    [],
    `every mention answered exactly once: ${repliesPerMention.join(' ')}`,
  );
  const rows = await replicaStats(stats);
  const redispatches = rows.reduce((sum, row) => sum + row.redispatches, 0);
  console.log(
    `${mentions} mentions through HAProxy, replica 1 stopped (SIGTERM) after 10: acknowledged ${statuses.length}/` +
      `${mentions} (200), replies per mention 1 for all, redispatched by HAProxy ${redispatches}, ` +
      `replica states ${rows.map((row) => `${row.server}=${row.status}`).join(' ')}`,
  );
  for (const replica of replicas.slice(1)) replica.child.kill('SIGTERM');
  for (const replica of replicas.slice(1)) assert.equal(await exited(replica.child), 0, replica.output());
});
