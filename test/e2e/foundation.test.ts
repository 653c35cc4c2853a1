import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { DeliveryDeduplicator } from '../../src/work/dedupe.ts';
import { newMessageTs, slackPayloads } from '../fakes/slack-driver.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

/** Capabilities stand-ins that answer at once and record what the router handed them. */
const handled: CapabilityRequest[] = [];
const answer = async (request: CapabilityRequest) => {
  handled.push(request);
  return {
    kind: 'reply' as const,
    text: `${request.route} answer (context: ${request.threadContext.length} messages)`,
  };
};

let harness: AppHarness;

before(async () => {
  harness = await startAppHarness({ capabilities: { question: answer, ticket: answer, task: answer } });
});

after(async () => {
  await harness?.close();
});

beforeEach(() => {
  handled.length = 0;
  harness.slack.reset();
  harness.openai.reset();
});

/** Waits until the app has no background work left (the reply, if any, has been posted). */
async function settled(): Promise<void> {
  await sleep(20);
  assert.equal(await harness.app.jobs.drain(10_000), true, 'background work did not finish');
}

function posts() {
  return harness.slack.callsTo('chat.postMessage');
}

describe('inbound safety', () => {
  for (const [name, options] of [
    ['a wrong signature', { signingSecret: 'not-the-secret-at-all' }],
    ['a stale timestamp', { timestampOffsetSeconds: -6 * 60 }],
    ['a far-future timestamp', { timestampOffsetSeconds: 10 * 60 }],
  ] as const) {
    test(`${name} gets 401 and has no side effect`, async () => {
      const keysBefore = await harness.redisKeys();
      const request = slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' });
      const response = await harness.driver.send(request, options);
      assert.equal(response.status, 401);
      await settled();
      assert.equal(harness.slack.calls.length, 0, 'no Slack call');
      assert.equal(harness.openai.calls.length, 0, 'no model call');
      assert.equal(handled.length, 0, 'no capability ran');
      assert.deepEqual(await harness.redisKeys(), keysBefore, 'nothing written to Redis');
    });
  }

  test('a timestamp slightly in the future (within SLACK_MAX_FUTURE_SKEW_SECONDS) is accepted', async () => {
    const response = await harness.driver.send(slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' }), {
      timestampOffsetSeconds: 30,
    });
    assert.equal(response.status, 200);
    await settled();
    assert.equal(posts().length, 1);
  });

  test('a redelivered event (same event id, X-Slack-Retry-Num) produces one reply', async () => {
    const request = slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' });
    const first = await harness.driver.send(request);
    const retry = await harness.driver.send(request, { retryNum: 1, retryReason: 'http_timeout' });
    await settled();
    const late = await harness.driver.send(request, { retryNum: 2, retryReason: 'http_timeout' });
    await settled();
    assert.deepEqual([first.status, retry.status, late.status], [200, 200, 200], 'every delivery is acknowledged');
    assert.equal(posts().length, 1);
    assert.equal(handled.length, 1);
  });

  test('an event claimed by a worker that died is processed when Slack redelivers it after the lease', async () => {
    const request = slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' });
    const eventId = String(request.payload.event_id);
    // Another instance claimed the delivery, then died: it never renews nor completes its 300 ms lease.
    const deadWorker = new DeliveryDeduplicator({ redis: harness.redis, keyPrefix: harness.keyPrefix, leaseMs: 300 });
    assert.equal((await deadWorker.claim(`event:${eventId}`)).status, 'claimed');

    const whileClaimed = await harness.driver.send(request);
    await settled();
    assert.equal(whileClaimed.status, 200);
    assert.equal(posts().length, 0, 'the live claim holds the delivery');

    await sleep(400);
    const redelivery = await harness.driver.send(request, { retryNum: 1, retryReason: 'http_timeout' });
    await settled();
    assert.equal(redelivery.status, 200);
    assert.equal(posts().length, 1, 'the redelivery after the lease expired is processed');
    assert.equal(handled.length, 1);
  });

  test('own messages, other bots, edits, deletions and thread broadcasts never start work', async () => {
    const threadTs = newMessageTs();
    for (const request of [
      slackPayloads.botMessage({ text: '<@U0BOT> hello from a bot' }),
      slackPayloads.botMessage({ botId: 'B0BOT', text: 'my own message' }),
      slackPayloads.messageChanged({ text: '<@U0BOT> edited text' }),
      slackPayloads.threadBroadcast({ threadTs, text: 'broadcast' }),
      slackPayloads.message({ text: 'just chatting in the channel' }),
    ]) {
      assert.equal((await harness.driver.send(request)).status, 200);
    }
    await settled();
    assert.equal(harness.slack.calls.length, 0);
    assert.equal(harness.openai.calls.length, 0);
    assert.equal(handled.length, 0);
  });
});

describe('routing', () => {
  test('an ambiguous mention is classified with one constrained model call and routed to the result', async () => {
    harness.openai.enqueueChat({ content: '{"route":"ticket"}' });
    const response = await harness.driver.send(
      slackPayloads.appMention({ text: '<@U0BOT> customer 4411 says the export is empty' }),
    );
    assert.equal(response.status, 200);
    await settled();
    const chatCalls = harness.openai.chatCalls();
    assert.equal(chatCalls.length, 1);
    const body = chatCalls[0] as { temperature?: number; response_format?: { type: string }; max_tokens?: number };
    assert.equal(body.temperature, 0);
    assert.equal(body.response_format?.type, 'json_schema');
    assert.equal(handled[0]?.route, 'ticket');
    assert.match(String(posts()[0]?.params.text), /^ticket answer/);
  });

  test('an explicit command is routed by rule without any model call', async () => {
    const response = await harness.driver.send(
      slackPayloads.slashCommand({ command: '/ask', text: 'how do refunds work' }),
    );
    assert.equal(response.status, 200);
    await settled();
    assert.equal(harness.openai.calls.length, 0);
    assert.equal(handled[0]?.route, 'question');
    assert.equal(harness.slack.callsTo('chat.postEphemeral').length, 1);
  });

  test('a command for a capability that has not landed answers "not available yet" to the user', async () => {
    await harness.driver.send(slackPayloads.slashCommand({ command: '/docs', text: 'list' }));
    await settled();
    const ephemeral = harness.slack.callsTo('chat.postEphemeral')[0];
    assert.match(String(ephemeral?.params.text), /not available yet/);
  });

  test('/budget is answered by the budget capability, ephemerally and without a model call', async () => {
    await harness.driver.send(slackPayloads.slashCommand({ command: '/budget', text: '' }));
    await settled();
    assert.equal(harness.openai.calls.length, 0);
    const ephemeral = harness.slack.callsTo('chat.postEphemeral')[0];
    assert.ok(ephemeral, 'an ephemeral reply was posted');
    assert.doesNotMatch(String(ephemeral.params.text), /not available yet/);
    assert.match(String(ephemeral.params.text), /\$/);
  });

  test('a follow-up in a thread Deskhand answered continues it without a mention, with the thread as context', async () => {
    const parent = harness.slack.addMessage({ channel: 'C111', user: 'W222', text: '<@U0BOT> How do refunds work?' });
    await harness.driver.send(
      slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?', ts: parent.ts, channel: 'C111' }),
    );
    await settled();
    assert.equal(posts().length, 1);
    assert.equal(posts()[0]?.params.thread_ts, parent.ts, 'the answer starts a thread on the mention');

    const followUp = harness.slack.addMessage({
      channel: 'C111',
      user: 'W222',
      text: 'and for annual plans?',
      threadTs: parent.ts,
    });
    await harness.driver.send(
      slackPayloads.threadMessage({
        threadTs: parent.ts,
        ts: followUp.ts,
        channel: 'C111',
        text: 'and for annual plans?',
      }),
    );
    await settled();
    assert.equal(posts().length, 2, 'the follow-up was answered');
    assert.equal(posts()[1]?.params.thread_ts, parent.ts);
    assert.equal(handled[1]?.route, 'question');
    assert.equal(handled[1]?.origin, 'thread_follow_up');
    assert.ok((handled[1]?.threadContext.length ?? 0) >= 2, 'context holds the question and the first answer');
    assert.ok(
      handled[1]?.threadContext.some((message) => message.author === 'deskhand'),
      "Deskhand's own answer is labelled as such",
    );
    assert.equal(harness.openai.calls.length, 0, 'continuing a conversation costs no classification');

    // An ambiguous mention in the same thread continues the conversation too.
    await harness.driver.send(
      slackPayloads.appMention({ text: '<@U0BOT> also the invoice looks odd', threadTs: parent.ts, channel: 'C111' }),
    );
    await settled();
    assert.equal(handled[2]?.route, 'question');
    assert.equal(harness.openai.calls.length, 0);
  });

  test('a thread message in a thread Deskhand never joined gets no reply', async () => {
    await harness.driver.send(slackPayloads.threadMessage({ threadTs: newMessageTs(), text: 'what do you think?' }));
    await settled();
    assert.equal(harness.slack.callsTo('chat.postMessage').length, 0);
    assert.equal(handled.length, 0);
  });

  test('the ack does not wait for the model: a 2 s classification is acked at once and answered later', async () => {
    harness.openai.enqueueChat({ content: '{"route":"question"}', delayMs: 2_000 });
    const response = await harness.driver.send(
      slackPayloads.appMention({ text: '<@U0BOT> the dashboard for customer 9 shows zero orders' }),
    );
    assert.equal(response.status, 200);
    assert.ok(response.latencyMs < 500, `ack took ${response.latencyMs} ms`);
    assert.equal(posts().length, 0);
    await settled();
    assert.equal(harness.openai.chatCalls().length, 1, 'the slow classification really ran');
    assert.equal(posts().length, 1);
  });
});

describe('operations endpoints', () => {
  test('healthz answers, readyz checks Redis and the work side (index), metrics exposes request and outcome counters', async () => {
    const health = await fetch(`${harness.baseUrl}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`${harness.baseUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { redis: true, work: true });

    await harness.driver.send(slackPayloads.slashCommand({ command: '/docs', text: 'list' }));
    await settled();
    const metrics = await (await fetch(`${harness.baseUrl}/metrics`)).text();
    assert.match(metrics, /deskhand_http_requests_total\{path="\/slack\/events",status="200"\} \d+/);
    assert.match(
      metrics,
      /deskhand_requests_total\{origin="command",route="docs",outcome="not_available_yet"\} [1-9]\d*/,
    );
    assert.match(metrics, /deskhand_http_request_duration_seconds_bucket/);
  });
});
