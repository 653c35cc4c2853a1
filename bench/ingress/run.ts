/**
 * Ingress benchmark (`npm run bench:ingress -- [--rate 50] [--seconds 30] [--model-delay-ms 10000]`).
 *
 * Runs the app as in production (`node src/main.ts`, info-level JSON logs, real Redis, embedded index) against
 * the fake Slack and a fake OpenAI server whose every reply takes `--model-delay-ms`, each in its own process.
 * Sends an open-loop burst of signed `app_mention` events — each in its own channel and ambiguous, so each costs
 * a slow classification call (answered "help": exactly one reply per event) — and measures the ack latency the
 * sender sees. The same burst against a bare node:http server on the same machine, in the same run, is the
 * baseline. Prints p50/p99, the ratio of the app's
 * p99 to the baseline's and to Slack's 3 s ack limit, the acks, and the replies (exactly one per event).
 * `BENCH_TIMELINE=1` also lists the slow requests by index; `BENCH_APP_NODE_ARGS` passes flags (e.g. --cpu-prof)
 * to the app's node process.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { SlackDriver, slackPayloads } from '../../test/fakes/slack-driver.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '30' },
    'model-delay-ms': { type: 'string', default: '10000' },
    port: { type: 'string', default: '3199' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const modelDelayMs = Number(values['model-delay-ms']);
const appPort = Number(values.port);
const total = Math.round(rate * seconds);
const slackAckLimitMs = 3_000;
const signingSecret = 'bench-signing-secret-123456';

interface FakesReport {
  posts: number;
  duplicates: number;
  modelCalls: number;
  violations: number;
}

function forkServer(mode: 'fakes' | 'baseline'): ChildProcess {
  return fork(new URL('./server.ts', import.meta.url), [mode, String(total), String(modelDelayMs)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`child exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as T);
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.send({ type: 'stop' });
  });
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

/** Open loop: request i is sent at start + i/rate, whatever happened to the previous ones. */
async function burst(port: number): Promise<{ latencies: number[]; acked: number; failed: number }> {
  const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });
  const requests = Array.from({ length: total }, (_, index) =>
    slackPayloads.appMention({
      channel: `CBENCH${String(index).padStart(5, '0')}`,
      text: `<@U0BOT> customer ${index} says the export looks odd`,
    }),
  );
  const started = performance.now();
  const latencies: number[] = [];
  const timeline: [number, number][] = [];
  let acked = 0;
  let failed = 0;
  const inFlight: Promise<void>[] = [];
  for (let index = 0; index < total; index += 1) {
    const wait = started + (index * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const request = requests[index];
    if (!request) continue;
    inFlight.push(
      driver.send(request, { timeoutMs: 10_000 }).then(
        (response) => {
          latencies.push(response.latencyMs);
          timeline.push([index, response.latencyMs]);
          if (response.status === 200) acked += 1;
          else failed += 1;
        },
        () => {
          failed += 1;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  if (process.env.BENCH_TIMELINE) {
    const slow = timeline.filter(([, ms]) => ms > 50).map(([i, ms]) => `${i}:${ms.toFixed(0)}`);
    console.log(`slow (>50 ms) requests by index: ${slow.join(' ')}`);
  }
  return { latencies: latencies.sort((a, b) => a - b), acked, failed };
}

async function waitForReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(url).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    await sleep(200);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

const format = (ms: number) => `${ms.toFixed(1)} ms`.padEnd(12);

console.log(`ingress benchmark: ${total} signed app_mention events at ${rate}/s for ${seconds} s`);
console.log(`model replies take ${modelDelayMs} ms; every event needs one classification call and one reply\n`);

// Baseline: the same burst against a bare node:http server.
const baseline = forkServer('baseline');
const { port: baselinePort } = await nextMessage<{ port: number }>(baseline);
const baselineRun = await burst(baselinePort);
await stopChild(baseline);

// The app, as `npm start` runs it, against the fakes.
const fakes = forkServer('fakes');
const fakeUrls = await nextMessage<{ slackUrl: string; slackToken: string; openaiBaseURL: string }>(fakes);
const keyPrefix = `bench:${randomUUID()}:`;
const dataDir = mkdtempSync(join(tmpdir(), 'deskhand-bench-'));
const appNodeArguments = process.env.BENCH_APP_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const app = spawn(process.execPath, [...appNodeArguments, 'src/main.ts'], {
  cwd: new URL('../..', import.meta.url),
  stdio: ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env,
    PORT: String(appPort),
    SLACK_BOT_TOKEN: fakeUrls.slackToken,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: fakeUrls.slackUrl,
    OPENAI_API_KEY: 'bench-key',
    OPENAI_BASE_URL: fakeUrls.openaiBaseURL,
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    SLACK_APP_TOKEN: '',
    QDRANT_URL: '',
  },
});
await waitForReady(`http://127.0.0.1:${appPort}/readyz`, 20_000);
const appRun = await burst(appPort);

const waitUntil = performance.now() + modelDelayMs + 30_000;
let report: FakesReport;
do {
  fakes.send({ type: 'report' });
  report = await nextMessage<FakesReport>(fakes);
  if (report.posts >= appRun.acked) break;
  await sleep(500);
} while (performance.now() < waitUntil);

app.kill('SIGTERM');
await new Promise((resolve) => app.once('exit', resolve));
await stopChild(fakes);
const redis = new Redis('redis://127.0.0.1:6379');
const keys = await redis.keys(`${keyPrefix}*`);
if (keys.length > 0) await redis.del(...keys);
await redis.quit();
rmSync(dataDir, { recursive: true, force: true });

const baselineP50 = percentile(baselineRun.latencies, 0.5);
const baselineP99 = percentile(baselineRun.latencies, 0.99);
const appP50 = percentile(appRun.latencies, 0.5);
const appP99 = percentile(appRun.latencies, 0.99);

console.log('                     p50         p99         max');
console.log(
  `baseline node:http   ${format(baselineP50)}${format(baselineP99)}${format(baselineRun.latencies.at(-1) ?? Number.NaN)}`,
);
console.log(`deskhand ack         ${format(appP50)}${format(appP99)}${format(appRun.latencies.at(-1) ?? Number.NaN)}`);
console.log('');
console.log(`p99 ratio deskhand / baseline:          ${(appP99 / baselineP99).toFixed(2)}x`);
console.log(`p99 ratio deskhand / Slack's 3 s limit: ${(appP99 / slackAckLimitMs).toFixed(4)}`);
console.log(`acks: ${appRun.acked}/${total} (failed: ${appRun.failed}); baseline acks: ${baselineRun.acked}/${total}`);
console.log(
  `replies: ${report.posts}/${total}, threads with duplicate replies: ${report.duplicates}, model calls: ${report.modelCalls}, fake-detected protocol violations: ${report.violations}`,
);
const met = appRun.acked === total && report.posts === total && report.duplicates === 0 && appP99 < 50;
console.log(`\ntarget (p99 < 50 ms, every delivery acked, exactly one reply each): ${met ? 'met' : 'NOT met'}`);
