/**
 * The Socket Mode fakes hold to Slack's rules, so the half-open test (test/e2e/socket-mode-half-open.test.ts)
 * proves something about Slack and not about a lenient fake: only the app-level token opens connections and it
 * opens nothing else, each URL is good for one connection, and a connection starts with Slack's `hello`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebClient } from '@slack/web-api';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { FakeSocketModeServer } from '../fakes/socket-mode-server.ts';

let slack: FakeSlackWebApi;
let socketMode: FakeSocketModeServer;

before(async () => {
  slack = await FakeSlackWebApi.start();
  socketMode = await FakeSocketModeServer.start({ serverPingIntervalMs: 0 });
  slack.serveSocketMode(() => socketMode.issueUrl());
});

after(async () => {
  await socketMode.close();
  await slack.close();
});

function client(token: string): WebClient {
  return new WebClient(token, { slackApiUrl: slack.url, retryConfig: { retries: 0 }, timeout: 2000 });
}

async function platformError(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { data?: { error?: string } }).data?.error;
  }
}

/** Opens a WebSocket with Node's own client; resolves with its first message, or rejects if it cannot open. */
function firstMessage(url: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.addEventListener('message', (event) => {
      resolve(JSON.parse(String(event.data)) as Record<string, unknown>);
      socket.close();
    });
    socket.addEventListener('error', () => reject(new Error('the WebSocket did not open')));
  });
}

describe('Socket Mode fakes', () => {
  test('apps.connections.open takes the app-level token only, and that token calls nothing else', async () => {
    slack.reset();
    const opened = await client(slack.appToken).apps.connections.open();
    assert.match(String(opened.url), /^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=[\w-]+&app_id=A111$/);
    assert.equal(await platformError(client(slack.token).apps.connections.open()), 'not_allowed_token_type');
    assert.equal(
      await platformError(client(slack.appToken).chat.postMessage({ channel: 'C1', text: 'hi' })),
      'not_allowed_token_type',
    );
    assert.equal(await platformError(client('xapp-1-A999-1-other').apps.connections.open()), 'invalid_auth');
    assert.deepEqual(
      slack.violations.map((violation) => violation.error),
      ['not_allowed_token_type', 'not_allowed_token_type', 'invalid_auth'],
    );
  });

  test('a URL opens one connection, which starts with hello; used again it is refused', async () => {
    const url = String((await client(slack.appToken).apps.connections.open()).url);
    const hello = await firstMessage(url);
    assert.equal(hello.type, 'hello');
    assert.equal(hello.num_connections, 1);
    assert.deepEqual(hello.connection_info, { app_id: 'A111' });
    assert.equal(typeof (hello.debug_info as Record<string, unknown>).approximate_connection_time, 'number');
    await assert.rejects(firstMessage(url), /did not open/);
    assert.equal(socketMode.connections.length, 1);
    assert.ok(socketMode.refusedTickets.includes(new URL(url).searchParams.get('ticket') ?? ''));
  });
});
