import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isValidSlackRequest } from '@slack/bolt';
import { WebClient } from '@slack/web-api';
import { Ajv } from 'ajv';
import { SlackDriver, signSlackRequest, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { normalizeOpenApiSchema, OpenApiValidator } from '../fakes/spec-validator.ts';
import { fixturesDirectory } from '../support/fixtures.ts';

const vector = JSON.parse(
  readFileSync(`${fixturesDirectory}/slack/signing-test-vector/slack_signature_test_vector.json`, 'utf8'),
) as { signing_secret: string; timestamp: string; body: string; valid_signature: string };

const eventWrapperSchema = JSON.parse(
  readFileSync(`${fixturesDirectory}/slack/slack-api-specs/events-api/slack_common_event_wrapper_schema.json`, 'utf8'),
) as Record<string, unknown>;

function client(slack: FakeSlackWebApi, token = slack.token): WebClient {
  return new WebClient(token, {
    slackApiUrl: slack.url,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 2000,
  });
}

async function platformError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const data = (error as { data?: { error?: string } }).data;
    if (data?.error) return data.error;
    throw error;
  }
  assert.fail('expected the call to fail');
}

describe('slack driver', () => {
  test("signs exactly like Slack's published test vector", () => {
    assert.equal(signSlackRequest(vector.signing_secret, vector.timestamp, vector.body), vector.valid_signature);
  });

  describe('against a receiving server that verifies with Bolt', () => {
    const secret = 'driver-test-secret';
    const received: { headers: Record<string, string | string[] | undefined>; body: string; valid: boolean }[] = [];
    let server: Server;
    let driver: SlackDriver;

    before(async () => {
      server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const valid = isValidSlackRequest({
            signingSecret: secret,
            body,
            headers: {
              'x-slack-signature': String(request.headers['x-slack-signature'] ?? ''),
              'x-slack-request-timestamp': Number(request.headers['x-slack-request-timestamp']),
            },
          });
          received.push({ headers: request.headers, body, valid });
          response.writeHead(valid ? 200 : 401).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      driver = new SlackDriver({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`,
        signingSecret: secret,
      });
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('an event, a command and an interaction all pass Bolt signature verification', async () => {
      const responses = [
        await driver.send(slackPayloads.appMention({ text: '<@U0BOT> hello' })),
        await driver.send(slackPayloads.slashCommand({ command: '/ask', text: 'how do refunds work?' })),
        await driver.send(slackPayloads.blockActions({ actionId: 'approve', value: 'request-1' })),
      ];
      assert.deepEqual(
        responses.map((response) => response.status),
        [200, 200, 200],
      );
      assert.ok(responses.every((response) => response.latencyMs >= 0));
      const interaction = received.at(-1)!;
      assert.equal(interaction.headers['content-type'], 'application/x-www-form-urlencoded');
      const payload = JSON.parse(new URLSearchParams(interaction.body).get('payload') ?? '{}');
      assert.equal(payload.type, 'block_actions');
      assert.equal(payload.actions[0].action_id, 'approve');
    });

    test('a wrong secret, a stale timestamp and a missing signature fail verification', async () => {
      const event = slackPayloads.appMention();
      assert.equal((await driver.send(event, { signingSecret: 'not-the-secret' })).status, 401);
      assert.equal((await driver.send(event, { timestampOffsetSeconds: -6 * 60 })).status, 401);
      assert.equal((await driver.send(event, { unsigned: true })).status, 401);
    });

    test('a far-future timestamp is signed correctly (Bolt accepts it, so the app must check the skew itself)', async () => {
      const response = await driver.send(slackPayloads.appMention(), { timestampOffsetSeconds: 10 * 60 });
      assert.equal(response.status, 200);
      const timestamp = Number(received.at(-1)!.headers['x-slack-request-timestamp']);
      assert.ok(timestamp - Date.now() / 1000 > 9 * 60);
    });

    test('retry headers are sent when asked for', async () => {
      await driver.send(slackPayloads.appMention(), { retryNum: 2, retryReason: 'http_timeout' });
      const headers = received.at(-1)!.headers;
      assert.equal(headers['x-slack-retry-num'], '2');
      assert.equal(headers['x-slack-retry-reason'], 'http_timeout');
    });
  });

  test('event builders keep the fixture shape, apply overrides and satisfy the Events API wrapper schema', () => {
    const validate = new Ajv({ strict: false }).compile(eventWrapperSchema);
    const builders = [
      slackPayloads.appMention({ text: '<@U0BOT> ticket please', channel: 'C999', user: 'W777' }),
      slackPayloads.message({ text: 'plain' }),
      slackPayloads.threadMessage({ threadTs: '1700000000.000100', text: 'follow-up' }),
      slackPayloads.botMessage(),
      slackPayloads.messageChanged(),
      slackPayloads.threadBroadcast({ threadTs: '1700000000.000100' }),
      slackPayloads.fileShare({ fileName: 'guide.pdf', mimetype: 'application/pdf' }),
      slackPayloads.reactionAdded({ reaction: 'ticket' }),
    ];
    const eventIds = new Set<string>();
    for (const request of builders) {
      assert.equal(request.kind, 'event');
      assert.ok(validate(request.payload), JSON.stringify(validate.errors));
      eventIds.add(String(request.payload.event_id));
    }
    assert.equal(eventIds.size, builders.length, 'every envelope gets a fresh event_id');
    const mention = builders[0]!.payload.event as Record<string, unknown>;
    assert.deepEqual(
      [mention.type, mention.text, mention.channel, mention.user],
      ['app_mention', '<@U0BOT> ticket please', 'C999', 'W777'],
    );
    const thread = builders[2]!.payload.event as Record<string, unknown>;
    assert.equal(thread.thread_ts, '1700000000.000100');
    assert.equal(thread.subtype, undefined);
    assert.equal((builders[3]!.payload.event as Record<string, unknown>).subtype, 'bot_message');
    assert.equal((builders[4]!.payload.event as Record<string, unknown>).subtype, 'message_changed');
    assert.equal((builders[5]!.payload.event as Record<string, unknown>).subtype, 'thread_broadcast');
    const file = (builders[6]!.payload.event as { files: Record<string, unknown>[] }).files[0]!;
    assert.deepEqual([file.name, file.mimetype], ['guide.pdf', 'application/pdf']);
  });

  test('the slash command keeps every fixture field and overrides command and text', () => {
    const request = slackPayloads.slashCommand({ command: '/ticket', text: 'printer broken', channel: 'C222' });
    assert.equal(request.kind, 'command');
    const fields = request.payload as Record<string, string>;
    assert.equal(fields.command, '/ticket');
    assert.equal(fields.text, 'printer broken');
    assert.equal(fields.channel_id, 'C222');
    for (const name of ['token', 'team_domain', 'enterprise_id', 'response_url', 'trigger_id', 'user_name']) {
      assert.ok(fields[name], `keeps ${name}`);
    }
  });
});

describe('fake Slack Web API', () => {
  let slack: FakeSlackWebApi;
  let web: WebClient;

  before(async () => {
    slack = await FakeSlackWebApi.start();
    web = client(slack);
  });
  after(() => slack.close());

  test('posts, threads and replies are kept like Slack keeps them', async () => {
    slack.reset();
    const parent = slack.addMessage({ channel: 'C100', text: '<@U0BOT> printer on fire' });
    const reply = await web.chat.postMessage({
      channel: 'C100',
      thread_ts: parent.ts,
      text: 'On it',
      unfurl_links: false,
      unfurl_media: false,
    });
    await web.chat.postMessage({
      channel: 'C100',
      thread_ts: parent.ts,
      text: 'Done',
      unfurl_links: false,
      unfurl_media: false,
    });
    assert.ok(reply.ts && reply.ts > parent.ts, 'ts grows monotonically');
    const thread = await web.conversations.replies({ channel: 'C100', ts: parent.ts });
    assert.deepEqual(
      thread.messages?.map((message) => message.text),
      ['<@U0BOT> printer on fire', 'On it', 'Done'],
    );
    assert.equal(thread.messages?.[0]?.reply_count, 2);
    assert.equal(thread.messages?.[1]?.thread_ts, parent.ts);
    const firstPage = await web.conversations.replies({ channel: 'C100', ts: parent.ts, limit: 2 });
    assert.equal(firstPage.has_more, true);
    const secondPage = await web.conversations.replies({
      channel: 'C100',
      ts: parent.ts,
      limit: 2,
      cursor: firstPage.response_metadata?.next_cursor ?? '',
    });
    assert.deepEqual(
      secondPage.messages?.map((message) => message.text),
      ['Done'],
    );
    await web.chat.update({ channel: 'C100', ts: reply.ts ?? '', text: 'On it (edited)' });
    assert.equal(slack.message('C100', reply.ts ?? '')?.text, 'On it (edited)');
    assert.equal(
      await platformError(web.chat.update({ channel: 'C100', ts: parent.ts, text: 'x' })),
      'cant_update_message',
    );
    const permalink = await web.chat.getPermalink({ channel: 'C100', message_ts: reply.ts ?? '' });
    assert.match(permalink.permalink ?? '', /archives\/C100\/p\d+\?thread_ts=/);
    slack.expectNoViolations();
  });

  test('rejects more than 50 blocks, over-long section text and a repeated action_id as invalid_blocks', async () => {
    slack.reset();
    const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
    const cases = [
      Array.from({ length: 51 }, () => ({ type: 'divider' })),
      [section('x'.repeat(3001))],
      [
        {
          type: 'actions',
          elements: [
            { type: 'button', action_id: 'same', text: { type: 'plain_text', text: 'A' } },
            { type: 'button', action_id: 'same', text: { type: 'plain_text', text: 'B' } },
          ],
        },
      ],
    ];
    for (const blocks of cases) {
      const error = await platformError(
        web.chat.postMessage({ channel: 'C100', text: 'fallback', blocks, unfurl_links: false, unfurl_media: false }),
      );
      assert.equal(error, 'invalid_blocks');
    }
    assert.deepEqual(
      slack.violations.map((violation) => [violation.kind, violation.error]),
      [
        ['limit', 'invalid_blocks'],
        ['limit', 'invalid_blocks'],
        ['limit', 'invalid_blocks'],
      ],
    );
    assert.equal(slack.messages('C100').length, 0, 'nothing invalid was stored');
    assert.throws(() => slack.expectNoViolations(), /3 violation\(s\)/);
  });

  test('explains a limit failure in response_metadata like Slack does', async () => {
    slack.reset();
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }];
    await assert.rejects(
      web.chat.postMessage({ channel: 'C100', text: 'fallback', blocks, unfurl_links: false, unfurl_media: false }),
      (error: { data?: { response_metadata?: { messages?: string[] } } }) => {
        assert.match(
          error.data?.response_metadata?.messages?.[0] ?? '',
          /^\[ERROR\] blocks\[0\]\.text\.text is 3001 characters/,
        );
        return true;
      },
    );
  });

  test('rejects text over 40,000 characters and blocks over the cumulative character limit', async () => {
    slack.reset();
    const long = await platformError(
      web.chat.postMessage({ channel: 'C100', text: 'y'.repeat(40_001), unfurl_links: false, unfurl_media: false }),
    );
    assert.equal(long, 'msg_too_long');
    const blocks = Array.from({ length: 5 }, () => ({
      type: 'section',
      text: { type: 'mrkdwn', text: 'z'.repeat(2900) },
    }));
    const cumulative = await platformError(
      web.chat.postMessage({ channel: 'C100', text: 'fallback', blocks, unfurl_links: false, unfurl_media: false }),
    );
    assert.equal(cumulative, 'msg_blocks_too_long');
  });

  test('spec validation catches a missing required parameter', async () => {
    slack.reset();
    const error = await platformError(web.apiCall('chat.postMessage', { text: 'no channel' }));
    assert.equal(error, 'invalid_arguments');
    assert.equal(slack.violations[0]?.kind, 'spec');
    assert.match(slack.violations[0]?.detail ?? '', /channel/);
    const missingTs = await platformError(web.apiCall('chat.update', { channel: 'C100', text: 'x' }));
    assert.equal(missingTs, 'invalid_arguments');
    assert.match(slack.violations[1]?.detail ?? '', /'ts'/);
  });

  test('records unfurls left on and a missing text fallback as policy violations while accepting the post', async () => {
    slack.reset();
    const posted = await web.chat.postMessage({
      channel: 'C100',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }],
    });
    assert.equal(posted.ok, true);
    assert.deepEqual(slack.violations.map((violation) => violation.error).sort(), [
      'missing_text_fallback',
      'unfurl_not_disabled',
      'unfurl_not_disabled',
    ]);
  });

  test('a wrong token gets invalid_auth and a missing token not_authed', async () => {
    slack.reset();
    assert.equal(await platformError(client(slack, 'xoxb-wrong').auth.test()), 'invalid_auth');
    assert.equal(
      await platformError(
        new WebClient(undefined, { slackApiUrl: slack.url, retryConfig: { retries: 0 } }).auth.test(),
      ),
      'not_authed',
    );
    assert.deepEqual(
      slack.violations.map((violation) => violation.kind),
      ['auth', 'auth'],
    );
  });

  test('a scripted 429 carries Retry-After, applies nothing and only hits the matching channel', async () => {
    slack.reset();
    slack.inject('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 7 }, { channel: 'CA1' });
    const post = (channel: string) =>
      web.chat.postMessage({ channel, text: 'hello', unfurl_links: false, unfurl_media: false });
    await post('CB1');
    assert.equal(slack.messages('CB1').length, 1, 'another channel is not faulted');
    await assert.rejects(post('CA1'), (error: { retryAfter?: number }) => error.retryAfter === 7);
    assert.equal(slack.messages('CA1').length, 0, 'a rate-limited call is not applied');
    assert.equal(slack.callsTo('chat.postMessage')[1]?.status, 429);
    await post('CA1');
    assert.equal(slack.messages('CA1').length, 1, 'the fault was consumed once');
  });

  test('a dropped response applies the post but the client sees a connection error', async () => {
    slack.reset();
    slack.inject('chat.postMessage', { kind: 'drop_response' });
    await assert.rejects(
      web.chat.postMessage({ channel: 'C100', text: 'lost', unfurl_links: false, unfurl_media: false }),
    );
    assert.equal(slack.messages('C100').length, 1);
    assert.equal(slack.callsTo('chat.postMessage')[0]?.status, 0);
  });

  test('a 500 and a delay are served as scripted', async () => {
    slack.reset();
    slack.inject('auth.test', { kind: 'server_error', status: 503 });
    await assert.rejects(web.auth.test(), (error: { statusCode?: number }) => error.statusCode === 503);
    slack.inject('auth.test', { kind: 'delay', ms: 150 });
    const started = performance.now();
    await web.auth.test();
    assert.ok(performance.now() - started >= 140);
  });

  test('views.open refuses a driver-minted trigger_id older than 3 s', async () => {
    slack.reset();
    const view = { type: 'modal', title: { type: 'plain_text', text: 'Ticket' }, blocks: [] };
    const fresh = slackPayloads.slashCommand({ command: '/ticket' }).payload as Record<string, string>;
    await web.views.open({ trigger_id: fresh.trigger_id ?? '', view: view as never });
    const stale = `${Date.now() - 4000}.111.abcdef`;
    assert.equal(await platformError(web.views.open({ trigger_id: stale, view: view as never })), 'expired_trigger_id');
    assert.equal(slack.violations[0]?.error, 'expired_trigger_id');
  });

  test('views open and update, ephemeral messages and newer AI methods are served and checked', async () => {
    slack.reset();
    const view = {
      type: 'modal',
      callback_id: 'ticket_edit',
      title: { type: 'plain_text', text: 'Ticket' },
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }],
    };
    const opened = await web.views.open({ trigger_id: '1.2.3', view: view as never });
    const viewId = opened.view?.id ?? '';
    assert.match(viewId, /^V/);
    await web.views.update({
      view_id: viewId,
      view: { ...view, title: { type: 'plain_text', text: 'Ticket 2' } } as never,
    });
    assert.deepEqual(slack.views.get(viewId)?.view.title, { type: 'plain_text', text: 'Ticket 2' });
    const tooLongTitle = { ...view, title: { type: 'plain_text', text: 'x'.repeat(25) } };
    assert.equal(
      await platformError(web.views.open({ trigger_id: '1.2.4', view: tooLongTitle as never })),
      'invalid_arguments',
    );

    await web.chat.postEphemeral({ channel: 'C100', user: 'W222', text: 'only you' });
    assert.equal(slack.ephemeralMessages[0]?.text, 'only you');

    await web.apiCall('assistant.threads.setStatus', { channel_id: 'C100', thread_ts: '1.2', status: 'is thinking…' });
    assert.equal(slack.statuses[0]?.status, 'is thinking…');
    assert.equal(
      await platformError(web.apiCall('assistant.threads.setStatus', { channel_id: 'C100' })),
      'invalid_arguments',
    );
    const stream = await web.apiCall('chat.startStream', {
      channel: 'C100',
      thread_ts: '1.2',
      recipient_user_id: 'W222',
      recipient_team_id: 'T111',
    });
    const streamTs = String((stream as { ts?: string }).ts);
    await web.apiCall('chat.appendStream', { channel: 'C100', ts: streamTs, markdown_text: 'Hello ' });
    await web.apiCall('chat.stopStream', { channel: 'C100', ts: streamTs, markdown_text: 'world' });
    assert.equal(slack.message('C100', streamTs)?.text, 'Hello world');
    assert.equal(
      await platformError(web.apiCall('chat.appendStream', { channel: 'C100', ts: streamTs, markdown_text: '!' })),
      'message_not_in_streaming_state',
    );
    assert.equal(
      await platformError(web.apiCall('chat.startStream', { channel: 'C100', thread_ts: '1.2' })),
      'invalid_arguments',
      'recipients are required outside DMs',
    );
    const violationsBeforeUnknown = slack.violations.length;
    assert.equal(
      await platformError(web.apiCall('chat.scheduleMessage', { channel: 'C100', text: 'x' })),
      'unknown_method',
    );
    assert.equal(slack.violations.length, violationsBeforeUnknown + 1);
  });
});

describe('spec validator', () => {
  test('turns OpenAPI 3.0 nullable into a null type and validates against it', () => {
    assert.deepEqual(normalizeOpenApiSchema({ type: 'string', nullable: true }), { type: ['string', 'null'] });
    const validator = new OpenApiValidator({
      openapi: '3.0.3',
      paths: {},
      components: {
        schemas: {
          Item: {
            type: 'object',
            required: ['name'],
            properties: { name: { type: 'string' }, note: { type: 'string', nullable: true } },
          },
        },
      },
    });
    assert.deepEqual(validator.validateSchema('Item', { name: 'a', note: null }), { valid: true });
    const missing = validator.validateSchema('Item', { note: 'x' });
    assert.equal(missing.valid, false);
    assert.match(missing.valid ? '' : missing.summary, /missing required property 'name'/);
  });
});
