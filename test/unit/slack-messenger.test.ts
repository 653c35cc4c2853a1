import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { WebClient, WebClientEvent } from '@slack/web-api';
import { DeskhandError } from '../../src/errors.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import {
  createSlackWebClient,
  SlackMessenger,
  type SlackMessengerOptions,
} from '../../src/slack/outbound/slack-messenger.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

let slack: FakeSlackWebApi;

before(async () => {
  slack = await FakeSlackWebApi.start();
});
after(() => slack.close());
beforeEach(() => slack.reset());

function messenger(options: Partial<SlackMessengerOptions> & { timeoutMs?: number } = {}): SlackMessenger {
  const { timeoutMs, ...rest } = options;
  return new SlackMessenger({
    client: createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: timeoutMs ?? 2000 }),
    logger: createSilentLogger(),
    postIntervalMs: 50,
    ...rest,
  });
}

async function rejection(promise: Promise<unknown>): Promise<DeskhandError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DeskhandError, `expected a DeskhandError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function paragraphs(count: number): string {
  return Array.from(
    { length: count },
    (_, index) =>
      `Paragraph ${index}: ${'the refund policy covers damaged goods and late deliveries '.repeat(8).trim()}.`,
  ).join('\n\n');
}

describe('SlackMessenger posting', () => {
  test('posts with unfurls off and a text fallback, as one message when it fits', async () => {
    const outbound = messenger();
    const posted = await outbound.post({ channel: 'C100', threadTs: '1700000000.000100', text: 'Here you go' });
    assert.deepEqual(posted.allTs, [posted.ts]);
    const [call] = slack.callsTo('chat.postMessage');
    assert.equal(call?.params.unfurl_links, false);
    assert.equal(call?.params.unfurl_media, false);
    assert.equal(call?.params.thread_ts, '1700000000.000100');
    assert.equal(call?.params.text, 'Here you go');
    slack.expectNoViolations();
  });

  test('a 429 on channel A does not delay posts to channel B, and A is posted exactly once after Retry-After', async () => {
    const client = createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 2000 });
    const outbound = messenger({ postIntervalMs: 1000, client });
    slack.inject('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 2 }, { channel: 'CA1' });
    const rateLimited = new Promise((resolve) => client.once(WebClientEvent.RATE_LIMITED, resolve));
    const started = performance.now();
    const postA = outbound.post({ channel: 'CA1', text: 'to A' }).then(() => performance.now() - started);
    await rateLimited;
    const bLatency = await outbound.post({ channel: 'CB1', text: 'to B' }).then(() => performance.now() - started);
    const aLatency = await postA;
    // Stalled behind A, B would take at least the 2 s Retry-After; the margin absorbs a loaded machine.
    assert.ok(bLatency < 1000, `B took ${bLatency.toFixed(0)} ms while A was rate limited`);
    assert.ok(aLatency >= 1950, `A was retried after ${aLatency.toFixed(0)} ms (Retry-After is 2 s)`);
    assert.equal(slack.messages('CA1').length, 1);
    assert.equal(slack.messages('CB1').length, 1);
    assert.deepEqual(
      slack.callsTo('chat.postMessage').map((call) => [call.params.channel, call.status]),
      [
        ['CA1', 429],
        ['CB1', 200],
        ['CA1', 200],
      ],
    );
    slack.expectNoViolations();
  });

  test("baseline: the SDK's default client stalls channel B behind channel A's 429 (what the messenger avoids)", async () => {
    const sdkDefault = new WebClient(slack.token, {
      slackApiUrl: slack.url,
      retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 },
      logger: {
        debug() {},
        info() {},
        warn() {},
        error() {},
        setLevel() {},
        getLevel: () => 'error' as never,
        setName() {},
      },
    });
    slack.inject('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 1 }, { channel: 'CA1' });
    const post = (channel: string) =>
      sdkDefault.chat.postMessage({ channel, text: 'x', unfurl_links: false, unfurl_media: false });
    const paused = new Promise((resolve) => sdkDefault.once(WebClientEvent.RATE_LIMITED, resolve));
    const postA = post('CA1');
    await paused;
    const started = performance.now();
    await post('CB1');
    const bLatency = performance.now() - started;
    await postA;
    assert.ok(bLatency >= 800, `with the SDK defaults B waited ${bLatency.toFixed(0)} ms`);
  });

  test('a lost response on chat.postMessage is not retried: no duplicate post, outcome reported unknown', async () => {
    const outbound = messenger();
    slack.inject('chat.postMessage', { kind: 'drop_response' });
    const error = await rejection(outbound.post({ channel: 'C100', text: 'Your ticket is created' }));
    assert.equal(error.code, 'upstream_unavailable');
    assert.equal(error.details.outcomeUnknown, true);
    assert.equal(slack.callsTo('chat.postMessage').length, 1);
    assert.equal(slack.messages('C100').length, 1, 'Slack applied it once and no second post followed');
  });

  test('a timed-out post is not retried even though Slack applied it later', async () => {
    const outbound = messenger({ timeoutMs: 150 });
    slack.inject('chat.postMessage', { kind: 'delay', ms: 400 });
    const error = await rejection(outbound.post({ channel: 'C100', text: 'slow' }));
    assert.equal(error.code, 'upstream_unavailable');
    await eventually(() => slack.messages('C100').length === 1);
    assert.equal(slack.callsTo('chat.postMessage').length, 1);
  });

  test('a 500 on a post is not retried, but a read is retried once', async () => {
    const outbound = messenger();
    slack.inject('chat.postMessage', { kind: 'server_error', status: 500 });
    await rejection(outbound.post({ channel: 'C100', text: 'x' }));
    assert.equal(slack.callsTo('chat.postMessage').length, 1);

    const parent = slack.addMessage({ channel: 'C100', text: 'question' });
    slack.inject('conversations.replies', { kind: 'server_error', status: 503 });
    const thread = await outbound.threadMessages('C100', parent.ts);
    assert.equal(thread[0]?.text, 'question');
    assert.equal(slack.callsTo('conversations.replies').length, 2);
  });

  test('an over-long answer arrives as several valid messages, in order, in the thread, paced', async () => {
    const outbound = messenger({ postIntervalMs: 100 });
    const parent = slack.addMessage({ channel: 'C100', text: '<@U0BOT> explain refunds' });
    const answer = `${paragraphs(50)}\n\n\`\`\`\n${'refund --order 123 --reason damaged\n'.repeat(150)}\`\`\``;
    assert.ok(answer.length > 25_000);
    const posted = await outbound.post({ channel: 'C100', threadTs: parent.ts, text: answer });
    assert.ok(posted.allTs.length >= 3, `${posted.allTs.length} messages`);
    slack.expectNoViolations();
    const replies = slack.thread('C100', parent.ts).slice(1);
    assert.deepEqual(
      replies.map((reply) => reply.ts),
      posted.allTs,
    );
    const received = slack.callsTo('chat.postMessage').map((call) => call.receivedAtMonotonic);
    // Receive times include connection set-up and jitter on a shared machine; the pacer spaces starts by 100 ms.
    const gaps = received.slice(1).map((time, index) => time - received[index]!);
    assert.ok(Math.min(...gaps) >= 40, `parts are paced (gaps ${gaps.map((gap) => gap.toFixed(0)).join(', ')} ms)`);
    assert.ok(received.at(-1)! - received[0]! >= gaps.length * 75, 'about one part per 100 ms overall');
    const text = replies
      .map((reply) => (reply.blocks ?? []).map((block) => (block as { text: { text: string } }).text.text).join('\n'))
      .join('\n');
    assert.equal((text.match(/refund --order 123/g) ?? []).length, 150, 'no line of the code block was lost');
  });

  test('posts to one channel are paced about one per interval while another channel is not held up', async () => {
    const outbound = messenger({ postIntervalMs: 250 });
    const started = performance.now();
    const same = [1, 2, 3].map((index) => outbound.post({ channel: 'C100', text: `same ${index}` }));
    const other = await outbound.post({ channel: 'C200', text: 'other' }).then(() => performance.now() - started);
    await Promise.all(same);
    const times = slack
      .callsTo('chat.postMessage')
      .filter((call) => call.params.channel === 'C100')
      .map((call) => call.receivedAtMonotonic);
    assert.equal(times.length, 3);
    // Server receive times carry network jitter (the machine is shared); the pacer spaces starts by 250 ms.
    assert.ok(times[1]! - times[0]! >= 125 && times[2]! - times[1]! >= 125, 'about one post per 250 ms in C100');
    assert.ok(times[2]! - times[0]! >= 400, 'about two intervals between the first and the third');
    // Queued behind C100 it would wait at least 750 ms.
    assert.ok(other < 400, `C200 waited ${other.toFixed(0)} ms`);
    assert.deepEqual(
      slack.messages('C100').map((message) => message.text),
      ['same 1', 'same 2', 'same 3'],
    );
  });

  test('the parts of a split message are never interleaved with another message to the same channel', async () => {
    const outbound = messenger({ postIntervalMs: 20 });
    const long = outbound.post({ channel: 'C100', text: paragraphs(60) });
    const short = outbound.post({ channel: 'C100', text: 'short note' });
    const [posted] = await Promise.all([long, short]);
    assert.ok(posted.allTs.length >= 2);
    const texts = slack.messages('C100').map((message) => message.text);
    assert.equal(texts.at(-1), 'short note');
    assert.equal(texts.length, posted.allTs.length + 1);
  });

  test('a long ephemeral message arrives whole, as several ephemerals', async () => {
    const outbound = messenger({ postIntervalMs: 20 });
    await outbound.postEphemeral({ channel: 'C100', user: 'W222', text: paragraphs(60) });
    assert.ok(slack.ephemeralMessages.length >= 2);
    slack.expectNoViolations();
  });

  test('maps Slack errors to coded errors with a stable code', async () => {
    const outbound = messenger();
    const error = await rejection(outbound.post({ channel: 'not-a-channel', text: 'x' }));
    assert.equal(error.code, 'not_found');
    assert.equal(error.details.slackError, 'channel_not_found');
  });

  test('refuses a message without a text fallback before calling Slack', async () => {
    const outbound = messenger();
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: 'only blocks' } }];
    assert.equal((await rejection(outbound.post({ channel: 'C100', text: ' ', blocks }))).code, 'invalid_input');
    assert.equal((await rejection(outbound.update({ channel: 'C100', ts: '1.2', text: '' }))).code, 'invalid_input');
    assert.equal(slack.calls.length, 0);
  });

  test('gives up with upstream_rate_limited when Retry-After is longer than it may wait', async () => {
    const outbound = messenger({ maxRetryAfterMs: 500 });
    slack.inject('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 30 });
    const error = await rejection(outbound.post({ channel: 'C100', text: 'x' }));
    assert.equal(error.code, 'upstream_rate_limited');
    assert.equal(slack.messages('C100').length, 0);
  });
});

describe('SlackMessenger updates', () => {
  test('coalesces a burst of updates to one message into at most two calls, ending with the latest text', async () => {
    const outbound = messenger();
    const posted = await outbound.post({ channel: 'C100', text: 'Thinking…' });
    const updates = Array.from({ length: 10 }, (_, index) =>
      outbound.update({ channel: 'C100', ts: posted.ts, text: `Progress ${index + 1}/10` }),
    );
    await Promise.all(updates);
    const calls = slack.callsTo('chat.update');
    assert.ok(calls.length <= 2, `${calls.length} chat.update calls for 10 updates`);
    assert.equal(calls.at(-1)?.params.text, 'Progress 10/10');
    assert.equal(slack.message('C100', posted.ts)?.text, 'Progress 10/10');
    slack.expectNoViolations();
  });

  test('a steady stream of edits to one message reaches Slack at most once per message interval, ending with the latest', async () => {
    // A workspace budget that never binds: only the per-message interval limits the edits.
    const outbound = messenger({ messageUpdateIntervalMs: 200, updatesPerMinute: 60_000, updateBurst: 1000 });
    const posted = await outbound.post({ channel: 'C100', text: 'Thinking…' });
    const other = await outbound.post({ channel: 'C200', text: 'Other message' });
    const started = performance.now();
    const updates: Promise<void>[] = [];
    for (let index = 1; index <= 100; index += 1) {
      updates.push(outbound.update({ channel: 'C100', ts: posted.ts, text: `Answer so far ${index}` }));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const otherStarted = performance.now();
    await outbound.update({ channel: 'C200', ts: other.ts, text: 'edited' });
    const otherLatency = performance.now() - otherStarted;
    await Promise.all(updates);
    const elapsed = performance.now() - started;
    const calls = slack.callsTo('chat.update').filter((call) => call.params.ts === posted.ts);
    assert.ok(calls.length <= Math.ceil(elapsed / 200) + 1, `${calls.length} chat.update calls in ${elapsed} ms`);
    assert.ok(calls.length >= 2, 'the message was edited while the stream went on');
    const times = calls.map((call) => call.receivedAtMonotonic);
    for (let index = 1; index < times.length; index += 1) {
      assert.ok(times[index]! - times[index - 1]! >= 180, `edits ${index - 1} and ${index} were too close`);
    }
    assert.equal(slack.message('C100', posted.ts)?.text, 'Answer so far 100');
    assert.ok(otherLatency < 150, `another message's edit waited ${otherLatency} ms`);
    slack.expectNoViolations();
  });

  test('paces updates across the workspace with the update budget', async () => {
    const outbound = messenger({ updatesPerMinute: 240, updateBurst: 1 });
    const first = await outbound.post({ channel: 'C100', text: 'one' });
    const second = await outbound.post({ channel: 'C200', text: 'two' });
    const third = await outbound.post({ channel: 'C300', text: 'three' });
    await Promise.all(
      [first, second, third].map((posted) => outbound.update({ channel: posted.channel, ts: posted.ts, text: 'done' })),
    );
    const times = slack.callsTo('chat.update').map((call) => call.receivedAtMonotonic);
    assert.equal(times.length, 3);
    assert.ok(times[1]! - times[0]! >= 125 && times[2]! - times[1]! >= 125, 'about 4 updates per second at most');
    assert.ok(times[2]! - times[0]! >= 400, 'two refill periods between the first and the third');
  });

  test('a 429 on chat.update waits Retry-After and retries the latest content', async () => {
    const outbound = messenger();
    const posted = await outbound.post({ channel: 'C100', text: 'start' });
    slack.inject('chat.update', { kind: 'rate_limited', retryAfterSeconds: 1 });
    const started = performance.now();
    await outbound.update({ channel: 'C100', ts: posted.ts, text: 'final' });
    assert.ok(performance.now() - started >= 950);
    assert.equal(slack.message('C100', posted.ts)?.text, 'final');
    assert.equal(slack.callsTo('chat.update').length, 2);
  });
});

describe('SlackMessenger reads', () => {
  test('reads a whole thread across pages, caches it, and refetches after posting into it', async () => {
    const outbound = messenger();
    const parent = slack.addMessage({ channel: 'C100', text: 'parent' });
    for (let index = 0; index < 450; index += 1) {
      slack.addMessage({ channel: 'C100', threadTs: parent.ts, text: `reply ${index}` });
    }
    const thread = await outbound.threadMessages('C100', parent.ts);
    assert.equal(thread.length, 451);
    assert.equal(thread[0]?.text, 'parent');
    assert.equal(thread.at(-1)?.text, 'reply 449');
    assert.equal(slack.callsTo('conversations.replies').length, 3, '200 per page');

    const [again, concurrent] = await Promise.all([
      outbound.threadMessages('C100', parent.ts),
      outbound.threadMessages('C100', parent.ts, { limit: 3 }),
    ]);
    assert.equal(again.length, 451);
    assert.deepEqual(
      concurrent.map((message) => message.text),
      ['parent', 'reply 448', 'reply 449'],
    );
    assert.equal(slack.callsTo('conversations.replies').length, 3, 'served from the cache');

    await outbound.post({ channel: 'C100', threadTs: parent.ts, text: 'my answer' });
    const refreshed = await outbound.threadMessages('C100', parent.ts);
    assert.equal(refreshed.at(-1)?.text, 'my answer');
    assert.equal(refreshed.at(-1)?.botId, slack.botId);
  });

  test('the thread cache expires after its TTL', async () => {
    let now = 0;
    const outbound = messenger({
      threadCacheTtlMs: 1000,
      clock: { now: () => now, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) },
    });
    const parent = slack.addMessage({ channel: 'C100', text: 'parent' });
    await outbound.threadMessages('C100', parent.ts);
    now = 999;
    await outbound.threadMessages('C100', parent.ts);
    assert.equal(slack.callsTo('conversations.replies').length, 1);
    now = 1001;
    await outbound.threadMessages('C100', parent.ts);
    assert.equal(slack.callsTo('conversations.replies').length, 2);
  });

  test('finds a single top-level message or thread reply, and its permalink; unknown ones are undefined', async () => {
    const outbound = messenger();
    const parent = slack.addMessage({ channel: 'C100', text: 'top level', user: 'W333' });
    const reply = slack.addMessage({ channel: 'C100', threadTs: parent.ts, text: 'in thread' });
    assert.deepEqual(await outbound.message('C100', parent.ts), {
      ts: parent.ts,
      text: 'top level',
      user: 'W333',
      threadTs: parent.ts,
    });
    assert.equal((await outbound.message('C100', reply.ts))?.text, 'in thread');
    assert.equal(await outbound.message('C100', '1600000000.000001'), undefined);
    assert.match((await outbound.permalink('C100', reply.ts)) ?? '', /\/archives\/C100\/p/);
    assert.equal(await outbound.permalink('C100', '1600000000.000001'), undefined);
    slack.expectNoViolations();
  });

  test('opens and updates a modal, and sends an ephemeral message', async () => {
    const outbound = messenger();
    const view = { type: 'modal', title: { type: 'plain_text', text: 'Ticket' }, blocks: [] };
    const { viewId } = await outbound.openView('123.456.abc', view);
    await outbound.updateView(viewId, { ...view, title: { type: 'plain_text', text: 'Ticket saved' } });
    assert.deepEqual(slack.views.get(viewId)?.view.title, { type: 'plain_text', text: 'Ticket saved' });
    await outbound.postEphemeral({ channel: 'C100', user: 'W222', text: 'Only you can see this' });
    assert.equal(slack.ephemeralMessages[0]?.text, 'Only you can see this');
    slack.expectNoViolations();
  });
});

describe('SlackMessenger shutdown and metrics', () => {
  test('drain resolves only after every queued post and update was sent', async () => {
    const registry = createMetricsRegistry();
    const outbound = messenger({ postIntervalMs: 100, metrics: registry });
    const posted = await outbound.post({ channel: 'C100', text: 'first' });
    for (const index of [1, 2, 3]) void outbound.post({ channel: 'C100', text: `queued ${index}` });
    void outbound.update({ channel: 'C100', ts: posted.ts, text: 'first (edited)' });
    await outbound.drain();
    assert.equal(slack.messages('C100').length, 4);
    assert.equal(slack.message('C100', posted.ts)?.text, 'first (edited)');
    const metrics = await registry.getSingleMetricAsString('deskhand_slack_api_calls_total');
    assert.match(metrics, /method="chat.postMessage",outcome="ok"} 4/);
  });
});
