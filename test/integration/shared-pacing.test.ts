/**
 * Slack post pacing per channel shared across replicas (issue 17 item 4): two SlackMessengers — two replicas —
 * on one Redis post into one channel of the fake Slack Web API, and Slack receives those posts at least the
 * interval apart overall (each replica alone would keep only its own posts apart: 2 posts per interval with 2
 * replicas); another channel is not held up; when Redis does not answer, each replica paces alone, with a warning,
 * and no post waits for Redis.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createLogger, createSilentLogger, type Logger } from '../../src/observability/logger.ts';
import type { SharedPacing } from '../../src/slack/outbound/pacer.ts';
import { RedisSharedPacing } from '../../src/slack/outbound/shared-pacing.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

const keyPrefix = `test:${randomUUID()}:`;
const intervalMs = 1000;
/** Slack's receive times carry each request's own latency (a loaded machine, a first connection): jitter allowed. */
const jitterMs = 150;

let redis: Redis;
let slack: FakeSlackWebApi;
const messengers: SlackMessenger[] = [];

before(async () => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  slack = await FakeSlackWebApi.start();
});
beforeEach(() => slack.reset());
afterEach(async () => {
  await Promise.all(messengers.map((messenger) => messenger.drain()));
  messengers.length = 0;
  slack.expectNoViolations();
});
after(async () => {
  await slack.close();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** One replica's messenger, pacing with `sharedPacing` (or alone). */
function replica(sharedPacing: SharedPacing | undefined, logger: Logger = createSilentLogger()): SlackMessenger {
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 5000 }),
    logger,
    postIntervalMs: intervalMs,
    ...(sharedPacing ? { sharedPacing } : {}),
  });
  messengers.push(messenger);
  return messenger;
}

/** Posts `count` messages into `channel`, alternating between the replicas, all at once. */
function postAlternating(replicas: SlackMessenger[], channel: string, count: number) {
  return Promise.all(
    Array.from({ length: count }, (_, index) =>
      replicas[index % replicas.length]?.post({ channel, text: `message ${index + 1}` }),
    ),
  );
}

/** Times Slack received the posts into `channel`, in order (monotonic ms). */
function postTimes(channel: string): number[] {
  return slack
    .callsTo('chat.postMessage')
    .filter((call) => call.params.channel === channel)
    .map((call) => call.receivedAtMonotonic)
    .sort((a, b) => a - b);
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((time, index) => time - (times[index] ?? time));
}

describe('post pacing shared across replicas in Redis', () => {
  test('10 posts from two replicas into one channel reach Slack at least the interval apart; another channel is not held up', async () => {
    const channel = `C${randomUUID().slice(0, 8).toUpperCase()}`;
    const other = `C${randomUUID().slice(0, 8).toUpperCase()}`;
    const shared = () => new RedisSharedPacing({ redis, keyPrefix, logger: createSilentLogger() });
    const replicas = [replica(shared()), replica(shared())];
    // Each client's first request sets up its connection: done before measuring.
    await Promise.all(
      replicas.map((messenger, index) => messenger.post({ channel: `CWARM${index}`, text: 'warm-up' })),
    );
    const started = performance.now();
    const busy = postAlternating(replicas, channel, 10);
    const elsewhere = postAlternating(replicas, other, 2);
    await elsewhere;
    const otherTimes = postTimes(other);
    await busy;

    const times = postTimes(channel);
    assert.equal(times.length, 10);
    const spacing = gaps(times);
    assert.ok(
      spacing.every((gap) => gap >= intervalMs - jitterMs),
      `gaps (ms): ${spacing.map(Math.round).join(', ')}`,
    );
    assert.ok((times.at(-1) ?? 0) - (times[0] ?? 0) >= 9 * intervalMs - 100, 'ten posts span nine intervals');
    assert.ok(
      (otherTimes[0] ?? Infinity) - started < intervalMs,
      'the other channel posts at once, not after the backlog',
    );
    assert.ok(
      (otherTimes[1] ?? 0) - (otherTimes[0] ?? 0) >= intervalMs - jitterMs,
      `and is paced across replicas on its own: ${otherTimes.map(Math.round).join(', ')}`,
    );
    console.log(
      `shared pacing: gaps ${spacing.map(Math.round).join(', ')} ms; span ${Math.round((times.at(-1) ?? 0) - (times[0] ?? 0))} ms`,
    );
    const ttl = await redis.pttl(`${keyPrefix}pace:{${channel}}`);
    assert.ok(ttl > 0 && ttl <= 2 * intervalMs + 1000, `the pace key expires soon after its last slot (${ttl} ms)`);
  });

  test('without sharing, two replicas post into one channel within the interval (what sharing prevents)', async () => {
    const channel = `C${randomUUID().slice(0, 8).toUpperCase()}`;
    await postAlternating([replica(undefined), replica(undefined)], channel, 4);
    const spacing = gaps(postTimes(channel));
    assert.ok(
      spacing.some((gap) => gap < intervalMs / 2),
      `gaps (ms): ${spacing.map(Math.round).join(', ')}`,
    );
  });

  test('Redis not answering: each replica paces alone, warns once, and no post waits for Redis', async () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    });
    const logger = createLogger({ level: 'info', destination });
    // Nothing listens on this port (the brief's range 7600–7699); the client keeps trying to connect.
    const unreachable = new Redis({ port: 7651, lazyConnect: true, maxRetriesPerRequest: null });
    unreachable.on('error', () => {});
    try {
      const pacing = new RedisSharedPacing({ redis: unreachable, keyPrefix, logger, timeoutMs: 200 });
      const channel = `C${randomUUID().slice(0, 8).toUpperCase()}`;
      const started = performance.now();
      await postAlternating([replica(pacing, logger)], channel, 3);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 2 * intervalMs + 3 * 200 + 400, `paced locally, not blocked (${Math.round(elapsed)} ms)`);
      assert.ok(
        gaps(postTimes(channel)).every((gap) => gap >= intervalMs - jitterMs),
        'still paced by the replica',
      );
      const warnings = lines.filter((line) => /falls back to this replica alone/.test(String(line.msg)));
      assert.equal(warnings.length, 1, 'one warning per outage');
      assert.equal(warnings[0]?.code, 'upstream_unavailable');
    } finally {
      unreachable.disconnect();
    }
  });
});
