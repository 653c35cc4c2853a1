/**
 * Slack egress benchmark (`node bench/slack-egress/run.ts [--rounds 5]`), against the fake Slack Web API.
 *
 * 1. 429 isolation: channel A gets a 429 with `Retry-After: 1`; as soon as the client has seen it, a post to
 *    channel B is timed.
 *    Baseline, same run: @slack/web-api's default client (whose 429 pauses its whole queue) doing the same.
 * 2. Coalescing: 50 progress updates to one message, fired as fast as a streaming answer would. Baseline: one
 *    `chat.update` per progress step (what a naive client sends).
 * 3. Splitting: time to split a 100,000-character answer into valid messages (absolute numbers).
 */
import { parseArgs } from 'node:util';
import { WebClient, WebClientEvent } from '@slack/web-api';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { splitMessage } from '../../src/slack/outbound/split-message.ts';
import { FakeSlackWebApi } from '../../test/fakes/slack-web-api.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Math.max(1, Number(values.rounds));

const quietLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  setLevel() {},
  getLevel: () => 'error' as never,
  setName() {},
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const slack = await FakeSlackWebApi.start();
try {
  // 1. 429 isolation. Warm-up first: the fake loads and compiles the Web API spec on its first call.
  await new WebClient(slack.token, { slackApiUrl: slack.url, logger: quietLogger }).chat.postMessage({
    channel: 'C999',
    text: 'warm-up',
    unfurl_links: false,
    unfurl_media: false,
  });
  const messengerLatencies: number[] = [];
  const baselineLatencies: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    slack.reset();
    const client = createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 5000 });
    const messenger = new SlackMessenger({ client, logger: createSilentLogger() });
    slack.inject('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 1 }, { channel: 'CA1' });
    const rateLimited = new Promise((resolve) => client.once(WebClientEvent.RATE_LIMITED, resolve));
    const postA = messenger.post({ channel: 'CA1', text: 'a' });
    await rateLimited;
    let started = performance.now();
    await messenger.post({ channel: 'CB1', text: 'b' });
    messengerLatencies.push(performance.now() - started);
    await postA;

    slack.reset();
    const sdkDefault = new WebClient(slack.token, {
      slackApiUrl: slack.url,
      retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 },
      logger: quietLogger,
    });
    slack.inject('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 1 }, { channel: 'CA1' });
    const paused = new Promise((resolve) => sdkDefault.once(WebClientEvent.RATE_LIMITED, resolve));
    const baselineA = sdkDefault.chat.postMessage({
      channel: 'CA1',
      text: 'a',
      unfurl_links: false,
      unfurl_media: false,
    });
    await paused;
    started = performance.now();
    await sdkDefault.chat.postMessage({ channel: 'CB1', text: 'b', unfurl_links: false, unfurl_media: false });
    baselineLatencies.push(performance.now() - started);
    await baselineA;
  }
  const ours = median(messengerLatencies);
  const theirs = median(baselineLatencies);
  console.log('429 isolation — latency of a post to channel B while channel A is rate limited (Retry-After 1 s)');
  console.log(
    `  SlackMessenger        median ${ours.toFixed(1)} ms  (${messengerLatencies.map((v) => v.toFixed(1)).join(', ')})`,
  );
  console.log(
    `  SDK default (baseline) median ${theirs.toFixed(1)} ms  (${baselineLatencies.map((v) => v.toFixed(1)).join(', ')})`,
  );
  console.log(`  ratio messenger/baseline: ${(ours / theirs).toFixed(3)}`);

  // 2. Coalescing
  slack.reset();
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 5000 }),
    logger: createSilentLogger(),
  });
  const posted = await messenger.post({ channel: 'C100', text: 'Thinking…' });
  const steps = 50;
  const started = performance.now();
  const updates: Promise<void>[] = [];
  for (let step = 1; step <= steps; step += 1) {
    updates.push(messenger.update({ channel: 'C100', ts: posted.ts, text: `Working… step ${step}/${steps}` }));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(updates);
  const elapsed = performance.now() - started;
  const calls = slack.callsTo('chat.update').length;
  console.log(`Coalescing — ${steps} progress updates to one message over ${(steps * 5) / 1000} s`);
  console.log(`  chat.update calls: ${calls} (baseline ${steps}); ratio ${(calls / steps).toFixed(3)}`);
  console.log(`  final content delivered after ${elapsed.toFixed(0)} ms: "${slack.message('C100', posted.ts)?.text}"`);
  slack.expectNoViolations();

  // 3. Splitting
  const answer = Array.from(
    { length: 400 },
    (_, index) => `Paragraph ${index}. ${'Refunds for damaged goods are issued within five days. '.repeat(4)}`,
  ).join('\n\n');
  const splitStarted = performance.now();
  const parts = splitMessage({ text: answer });
  const splitMs = performance.now() - splitStarted;
  console.log(`Splitting — ${answer.length} characters into ${parts.length} messages in ${splitMs.toFixed(2)} ms`);
} finally {
  await slack.close();
}
