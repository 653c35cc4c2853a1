import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DeskhandError } from '../../src/errors.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import type { Block, StreamOptions } from '../../src/ports/messenger.ts';
import {
  createSlackWebClient,
  SlackMessenger,
  type SlackMessengerOptions,
} from '../../src/slack/outbound/slack-messenger.ts';
import { FakeSlackWebApi, type StoredMessage } from '../fakes/slack-web-api.ts';

let slack: FakeSlackWebApi;

before(async () => {
  slack = await FakeSlackWebApi.start();
});
after(() => slack.close());
beforeEach(() => slack.reset());

const threadTs = '1700000000.000100';
const footer: Block[] = [{ type: 'context', elements: [{ type: 'mrkdwn', text: 'Sources: handbook §4' }] }];

function messenger(options: Partial<SlackMessengerOptions> = {}): SlackMessenger {
  return new SlackMessenger({
    client: createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 2000 }),
    logger: createSilentLogger(),
    postIntervalMs: 20,
    stream: { flushIntervalMs: 40, flushChars: 1000 },
    ...options,
  });
}

function streamOptions(channel: string): StreamOptions {
  return { channel, threadTs, recipientUserId: 'W222', recipientTeamId: slack.teamId };
}

async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Markdown carried by a message's `markdown` blocks (the fallback's rendering of the reply body). */
function markdownOf(message: StoredMessage | undefined): string {
  return ((message?.blocks ?? []) as { type?: string; text?: unknown }[])
    .filter((block) => block.type === 'markdown')
    .map((block) => String(block.text))
    .join('');
}

function sectionTextOf(message: StoredMessage | undefined): string {
  return ((message?.blocks ?? []) as { type?: string; text?: { text?: string } }[])
    .filter((block) => block.type === 'section')
    .map((block) => block.text?.text ?? '')
    .join('\n');
}

function streamCalls(): { method: string; params: Record<string, unknown> }[] {
  return slack.calls.filter((call) => /^chat\.(start|append|stop)Stream$/.test(call.method));
}

function words(count: number, from = 0): string {
  return Array.from({ length: count }, (_, index) => `word${from + index} `).join('');
}

describe('SlackMessenger streamed replies', () => {
  test('streams a reply: a burst of appends goes out in one call, stop adds the blocks, nothing else is posted', async () => {
    const outbound = messenger();
    const stream = await outbound.startStream({ ...streamOptions('C201'), taskDisplayMode: 'plan' });
    for (let index = 0; index < 100; index += 1) stream.append(`t${index} `);
    const [start] = await slack.waitForCalls('chat.startStream', 1);
    assert.equal(start?.params.markdown_text, words(100).replaceAll('word', 't'));
    assert.equal(start?.params.recipient_user_id, 'W222');
    assert.equal(start?.params.recipient_team_id, slack.teamId);
    assert.equal(start?.params.thread_ts, threadTs);
    assert.equal(start?.params.task_display_mode, 'plan');

    for (let index = 0; index < 100; index += 1) stream.append(`u${index} `);
    await slack.waitForCalls('chat.appendStream', 1);
    const done = await stream.stop({ markdown: '**Done.**', blocks: footer, text: 'Answer ready' });

    const expected = `${words(100).replaceAll('word', 't')}${words(100).replaceAll('word', 'u')}**Done.**`;
    const [message] = slack.messages('C201');
    assert.equal(message?.text, expected);
    assert.equal(message?.streaming?.stopped, true);
    assert.deepEqual(message?.blocks, footer);
    assert.deepEqual(done, { channel: 'C201', ts: message?.ts });
    assert.equal(slack.callsTo('chat.appendStream').length, 1, 'the second burst was one append');
    assert.deepEqual(slack.callsTo('chat.stopStream')[0]?.params.blocks, footer);
    assert.equal(slack.callsTo('chat.postMessage').length, 0);
    assert.equal(slack.callsTo('chat.update').length, 0);
    assert.equal(stream.mode, 'stream');
    slack.expectNoViolations();
  });

  test('each chat.*Stream method has its own budget: a start that used up one does not hold the stop', async () => {
    // One token per method, refilled every 10 s: with one bucket shared by the three methods the stop waits ~10 s.
    const outbound = messenger({ streamCallBurst: 1, streamCallsPerMinute: 6 });
    const stream = await outbound.startStream(streamOptions('C215'));
    stream.append('first part ');
    await slack.waitForCalls('chat.startStream', 1);
    const started = performance.now();
    await stream.stop({ markdown: 'done', text: 'done' });
    const stopMs = performance.now() - started;
    assert.ok(stopMs < 3000, `the stop waited ${Math.round(stopMs)} ms for the start's budget`);
    assert.equal(slack.messages('C215')[0]?.streaming?.stopped, true);
    slack.expectNoViolations();
  });

  test('sends as soon as the size threshold is reached instead of waiting for the interval', async () => {
    const outbound = messenger({ stream: { flushIntervalMs: 60_000, flushChars: 100 } });
    const stream = await outbound.startStream(streamOptions('C202'));
    stream.append('a'.repeat(150));
    await slack.waitForCalls('chat.startStream', 1);
    stream.append('b'.repeat(50));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(slack.callsTo('chat.appendStream').length, 0, 'below the threshold and inside the interval');
    stream.append('c'.repeat(60));
    const [append] = await slack.waitForCalls('chat.appendStream', 1, 3000);
    assert.equal(append?.params.markdown_text, `${'b'.repeat(50)}${'c'.repeat(60)}`);
    await stream.stop({ text: 'done' });
    assert.equal(slack.messages('C202')[0]?.text, `${'a'.repeat(150)}${'b'.repeat(50)}${'c'.repeat(60)}`);
    slack.expectNoViolations();
  });

  test('a steady trickle of appends is sent at most about once per flush interval, not once per append', async () => {
    const outbound = messenger({ stream: { flushIntervalMs: 150, flushChars: 100_000 } });
    const stream = await outbound.startStream(streamOptions('C214'));
    const started = performance.now();
    let appended = 0;
    let expected = '';
    while (performance.now() - started < 900) {
      for (let burst = 0; burst < 5; burst += 1) {
        const piece = `token${appended} `;
        stream.append(piece);
        expected += piece;
        appended += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const elapsed = performance.now() - started;
    await stream.stop({ text: 'done' });
    const sends = slack.callsTo('chat.startStream').length + slack.callsTo('chat.appendStream').length;
    // One immediate first send, then at most one per 150 ms interval (a loaded machine only sends fewer).
    assert.ok(sends <= Math.ceil(elapsed / 150) + 1, `${sends} sends for ${appended} appends in ${elapsed} ms`);
    assert.ok(appended > sends * 2, `${appended} appends were not coalesced into ${sends} sends`);
    assert.equal(slack.messages('C214')[0]?.text, expected);
    slack.expectNoViolations();
  });

  test('a rate-limited append waits for Retry-After and is sent once; drain() waits for the stop', async () => {
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C215'));
    stream.append('before ');
    await slack.waitForCalls('chat.startStream', 1);
    slack.inject('chat.appendStream', { kind: 'rate_limited', retryAfterSeconds: 1 });
    stream.append('during ');
    await slack.waitForCalls('chat.appendStream', 1);
    stream.append('after');
    void stream.stop({ text: 'done' });
    await outbound.drain();
    assert.equal(slack.callsTo('chat.stopStream').length, 1, 'drain() waited for the stream to stop');
    const applied = slack.callsTo('chat.appendStream').filter((call) => call.fault === undefined);
    assert.deepEqual(
      applied.map((call) => call.params.markdown_text),
      ['during '],
      'the refused append was sent again once, alone',
    );
    assert.equal(slack.messages('C215')[0]?.text, 'before during after');
    assert.equal(stream.mode, 'stream');
    slack.expectNoViolations();
  });

  test('a reply longer than one streamed message continues in further messages without losing text', async () => {
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C203'));
    const paragraphs = Array.from({ length: 60 }, (_, index) => `Paragraph ${index}: ${words(70, index * 100)}`);
    const fence = '```ts\nconst answer = 42;\n```\n\n';
    const text = `${fence}${paragraphs.join('\n\n')}`;
    stream.append(text);
    await slack.waitForCalls('chat.startStream', 1);
    await eventually(() => stream.mode === 'update');
    const done = await stream.stop({ markdown: '\n\nThe end.', blocks: footer, text: 'Long answer' });

    for (const call of streamCalls()) {
      const markdown = call.params.markdown_text;
      assert.ok(
        typeof markdown !== 'string' || markdown.length <= 12_000,
        `${call.method} sent ${String(markdown).length}`,
      );
    }
    const messages = slack.messages('C203');
    assert.ok(messages.length >= 3, `expected the reply over several messages, got ${messages.length}`);
    assert.equal(done.ts, messages[0]?.ts);
    const delivered = [messages[0]?.text ?? '', ...messages.slice(1).map(markdownOf)].join('\n');
    const compact = (value: string) => value.replace(/\s+/g, '');
    for (const paragraph of paragraphs) assert.ok(compact(delivered).includes(compact(paragraph)), paragraph);
    assert.ok(delivered.includes('The end.'));
    assert.deepEqual(messages.at(-1)?.blocks?.slice(-1), footer, 'the caller blocks close the last message');
    slack.expectNoViolations();
  });
});

describe('SlackMessenger streamed replies: fallback to an updated message', () => {
  test('streaming unavailable (unknown_method): one posted message, updated to the final text', async () => {
    slack.inject('chat.startStream', { kind: 'platform_error', error: 'unknown_method' });
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C204'));
    stream.append('First part. ');
    await slack.waitForCalls('chat.postMessage', 1);
    assert.equal(stream.mode, 'update');
    stream.append('Second part. ');
    await slack.waitForCalls('chat.update', 1);
    stream.append('Third part.');
    const done = await stream.stop({ markdown: ' Final words.', blocks: footer, text: 'Answer ready' });

    assert.equal(slack.callsTo('chat.postMessage').length, 1, 'exactly one message posted');
    assert.equal(slack.callsTo('chat.appendStream').length, 0);
    const [message] = slack.messages('C204');
    assert.equal(done.ts, message?.ts);
    assert.equal(markdownOf(message), 'First part. Second part. Third part. Final words.');
    assert.deepEqual(message?.blocks?.slice(-1), footer);
    assert.equal(message?.text, 'Answer ready');
    slack.expectNoViolations();
  });

  test('stream expired mid-way (message_not_in_streaming_state): the streamed message is updated with all the text', async () => {
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C205'));
    stream.append('part one; ');
    await slack.waitForCalls('chat.startStream', 1);
    slack.inject('chat.appendStream', { kind: 'platform_error', error: 'message_not_in_streaming_state' });
    stream.append('part two; ');
    await slack.waitForCalls('chat.appendStream', 1);
    await eventually(() => stream.mode === 'update');
    stream.append('part three.');
    const done = await stream.stop({ text: 'Answer ready' });

    assert.equal(slack.callsTo('chat.postMessage').length, 0, 'no second message');
    const [message] = slack.messages('C205');
    assert.equal(done.ts, message?.ts);
    assert.equal(markdownOf(message), 'part one; part two; part three.');
    assert.ok((message?.updateCount ?? 0) >= 1);
    slack.expectNoViolations();
  });

  test('when Slack refuses to edit the expired streamed message, the full reply is posted anew once', async () => {
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C206'));
    stream.append('alpha ');
    await slack.waitForCalls('chat.startStream', 1);
    slack.inject('chat.appendStream', { kind: 'platform_error', error: 'message_not_in_streaming_state' });
    slack.inject('chat.update', { kind: 'platform_error', error: 'cant_update_message' });
    stream.append('beta ');
    await slack.waitForCalls('chat.postMessage', 1);
    stream.append('gamma');
    const done = await stream.stop({ text: 'Answer ready' });

    assert.equal(slack.callsTo('chat.postMessage').length, 1);
    const posted = slack.messages('C206').find((message) => message.streaming === undefined);
    assert.equal(done.ts, slack.messages('C206')[0]?.ts, 'the reply starts at the streamed message');
    assert.equal(markdownOf(posted), 'alpha beta gamma');
    slack.expectNoViolations();
  });

  test('an append with an unknown outcome is not repeated; the message is rewritten to the full text after stop', async () => {
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C207'));
    stream.append('one ');
    await slack.waitForCalls('chat.startStream', 1);
    slack.inject('chat.appendStream', { kind: 'drop_response' });
    stream.append('two ');
    await slack.waitForCalls('chat.appendStream', 1);
    stream.append('three');
    await stream.stop({ text: 'Answer ready' });

    const appended = slack.callsTo('chat.appendStream').map((call) => call.params.markdown_text);
    assert.equal(appended.filter((text) => text === 'two ').length, 1, 'the unknown append was not retried');
    assert.equal(stream.mode, 'stream');
    const [message] = slack.messages('C207');
    assert.equal(slack.callsTo('chat.update').length, 1, 'reconciled once');
    assert.equal(markdownOf(message), 'one two three');
    assert.equal(slack.callsTo('chat.postMessage').length, 0);
    slack.expectNoViolations();
  });

  test('a start with an unknown outcome is never followed by a post; stop reports the failure', async () => {
    slack.inject('chat.startStream', { kind: 'drop_response' });
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C208'));
    stream.append('maybe shown');
    await slack.waitForCalls('chat.startStream', 1);
    stream.append(' and more');
    await assert.rejects(stream.stop({ text: 'Answer ready' }), (error: unknown) => {
      assert.ok(error instanceof DeskhandError);
      assert.equal(error.code, 'upstream_unavailable');
      return true;
    });
    assert.equal(slack.callsTo('chat.startStream').length, 1);
    assert.equal(slack.callsTo('chat.postMessage').length, 0);
    assert.equal(slack.callsTo('chat.appendStream').length, 0);
  });

  test('a stream stopped before its first send becomes one ordinary message', async () => {
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C209'));
    stream.append('Short answer.');
    const done = await stream.stop({ blocks: footer, text: 'Short answer.' });
    assert.equal(streamCalls().length, 0);
    const [message] = slack.messages('C209');
    assert.equal(done.ts, message?.ts);
    assert.equal(markdownOf(message), 'Short answer.');
    assert.equal(message?.threadTs, threadTs);
    slack.expectNoViolations();
  });
});

describe('SlackMessenger streamed task updates', () => {
  test('stream mode: tasks go out as task_update chunks, never in the same call as markdown, in order', async () => {
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C210'));
    stream.updateTasks([{ id: 'search', title: 'Search the docs', status: 'in_progress' }]);
    await slack.waitForCalls('chat.startStream', 1);
    stream.append('Found it. ');
    stream.updateTasks([
      { id: 'search', title: 'Search the docs', status: 'complete', details: 'x'.repeat(400), output: '3 sources' },
    ]);
    await slack.waitForCalls('chat.appendStream', 2);
    await stream.stop({ markdown: 'Answer.', text: 'Answer' });

    const calls = streamCalls();
    for (const call of calls) {
      assert.ok(!(call.params.markdown_text && call.params.chunks), `${call.method} mixed markdown and chunks`);
    }
    assert.deepEqual(calls[0]?.params.chunks, [
      { type: 'task_update', id: 'search', title: 'Search the docs', status: 'in_progress' },
    ]);
    assert.equal(calls[1]?.params.markdown_text, 'Found it. ');
    const chunks = calls[2]?.params.chunks as { status?: string; details?: string; output?: string }[];
    assert.equal(chunks[0]?.status, 'complete');
    assert.ok((chunks[0]?.details?.length ?? 0) <= 256, 'details cut to 256 characters');
    assert.equal(chunks[0]?.output, '3 sources');
    assert.equal(slack.messages('C210')[0]?.text, 'Found it. Answer.');
    slack.expectNoViolations();
  });

  test('a task update made while the previous task call is in flight is sent afterwards, not dropped', async () => {
    slack.inject('chat.startStream', { kind: 'delay', ms: 150 });
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C216'));
    stream.updateTasks([{ id: 'fetch', title: 'Fetch the ticket', status: 'in_progress' }]);
    await slack.waitForCalls('chat.startStream', 1);
    stream.updateTasks([{ id: 'fetch', title: 'Fetch the ticket', status: 'complete' }]);
    await stream.stop({ markdown: 'Done.', text: 'Done.' });
    const statuses = streamCalls()
      .flatMap((call) => (call.params.chunks as { status?: string }[] | undefined) ?? [])
      .map((chunk) => chunk.status);
    assert.deepEqual(statuses, ['in_progress', 'complete']);
    slack.expectNoViolations();
  });

  test('fallback mode: tasks render as a list with status emoji, with untrusted titles escaped', async () => {
    slack.inject('chat.startStream', { kind: 'platform_error', error: 'not_allowed' });
    const outbound = messenger();
    const stream = await outbound.startStream(streamOptions('C211'));
    stream.updateTasks([
      { id: 'a', title: 'Search the docs', status: 'in_progress' },
      { id: 'b', title: 'Draft <!channel> reply', status: 'pending' },
    ]);
    await slack.waitForCalls('chat.postMessage', 1);
    assert.match(sectionTextOf(slack.messages('C211')[0]), /:hourglass_flowing_sand: Search the docs/);
    stream.updateTasks([
      { id: 'a', title: 'Search the docs', status: 'complete', output: '2 sources' },
      { id: 'b', title: 'Draft <!channel> reply', status: 'error', details: 'model refused' },
    ]);
    stream.append('Here is what I found.');
    await stream.stop({ text: 'Answer ready' });

    const [message] = slack.messages('C211');
    const list = sectionTextOf(message);
    assert.match(
      list,
      /^:white_check_mark: Search the docs\n +↳ 2 sources\n:x: Draft &lt;!channel&gt; reply — model refused$/,
    );
    assert.equal(markdownOf(message), 'Here is what I found.');
    assert.equal(slack.callsTo('chat.postMessage').length, 1);
    slack.expectNoViolations();
  });
});

describe('SlackMessenger assistant status', () => {
  test('sets the thread status', async () => {
    await messenger().setStatus('C212', threadTs, 'is searching the docs…');
    assert.deepEqual(slack.statuses, [{ channelId: 'C212', threadTs, status: 'is searching the docs…' }]);
    slack.expectNoViolations();
  });

  test('a refused, rate-limited or failing status call resolves without throwing and without waiting out a 429', async () => {
    const outbound = messenger();
    slack.inject('assistant.threads.setStatus', { kind: 'platform_error', error: 'not_allowed' });
    await outbound.setStatus('C213', threadTs, 'thinking');
    slack.inject('assistant.threads.setStatus', { kind: 'rate_limited', retryAfterSeconds: 30 });
    const started = performance.now();
    await outbound.setStatus('C213', threadTs, 'thinking');
    assert.ok(performance.now() - started < 10_000, 'a 30 s Retry-After was not waited out');
    slack.inject('assistant.threads.setStatus', { kind: 'server_error' }, { times: 2 });
    await outbound.setStatus('C213', threadTs, 'thinking');
    assert.equal(slack.callsTo('assistant.threads.setStatus').length, 4, 'one retry after the 5xx, none otherwise');
    assert.deepEqual(slack.statuses, []);
  });
});
