/**
 * A half-open Socket Mode connection is noticed and replaced (issue 17 item 5). A NAT or proxy that forgets a
 * WebSocket sends no FIN: the socket still looks open, so only the heartbeat can tell, and Deskhand would
 * otherwise sit on a dead connection while Slack queues its events. Here Deskhand's real receiver (createApp →
 * createReceiver → Bolt's SocketModeReceiver, with the timeouts from configuration) runs against a fake Socket
 * Mode server (test/fakes/socket-mode-server.ts) and the fake Web API's `apps.connections.open`; the work side
 * is a stub that records what reaches it, with real delivery de-duplication on Redis.
 *
 * Timing of @slack/socket-mode 3.1.0 with client ping timeout T: it pings every T/3 and, at each ping, drops the
 * connection once the last pong is more than T old — at most 4T/3 after the last answered ping; it tears the
 * socket down at the following ping (T/3), then waits T (its reconnect back-off) before `apps.connections.open`.
 * The last answered ping is at most T/3 before the connection went half-open, so the new socket comes 7T/3 to
 * 8T/3 after it: 2.3–2.7 s for T = 1 s, 11.7–13.3 s for the default 5 s (which the wait below refuses).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createApp, type DeskhandApp } from '../../src/composition/app.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { IncomingRequest } from '../../src/ports/capability.ts';
import type { Work } from '../../src/work/work.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { FakeSocketModeServer } from '../fakes/socket-mode-server.ts';

const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
const keyPrefix = `test:${randomUUID()}:`;
const dataDir = mkdtempSync(join(tmpdir(), 'deskhand-socket-mode-'));

interface Running {
  app: DeskhandApp;
  slack: FakeSlackWebApi;
  socketMode: FakeSocketModeServer;
  routed: IncomingRequest[];
}
let running: Running | undefined;

/** SocketModeReceiver's HTTP server (health routes) listens on PORT, which cannot be 0: ask the OS for one. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startSocketModeApp(environment: Record<string, string>): Promise<Running> {
  const slack = await FakeSlackWebApi.start();
  const socketMode = await FakeSocketModeServer.start({ serverPingIntervalMs: 250 });
  slack.serveSocketMode(() => socketMode.issueUrl());
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: slack.token,
    SLACK_SIGNING_SECRET: 'socket-mode-secret-123456',
    SLACK_APP_TOKEN: slack.appToken,
    SLACK_API_URL: slack.url,
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    LOG_LEVEL: 'silent',
    ...environment,
  });
  if (!loaded.ok) throw new Error(loaded.problems.join('; '));
  const routed: IncomingRequest[] = [];
  const work = {
    route: async (request: IncomingRequest) => {
      routed.push(request);
      return { status: 'done', route: 'question', classified: false };
    },
    setIdentity: () => {},
    ready: async () => true,
    close: async () => {},
  } as unknown as Work;
  const app = createApp({
    configuration: loaded.configuration,
    logger: createSilentLogger(),
    redis,
    work,
    registry: createMetricsRegistry(),
    shutdownTimeoutMs: 2_000,
  });
  running = { app, slack, socketMode, routed };
  // Resolves once the first connection got its `hello`; a client asking the wrong host (SLACK_API_URL not passed
  // on) would retry forever instead.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('Socket Mode did not connect within 10 s')), 10_000);
  });
  await Promise.race([app.start(), late]).finally(() => clearTimeout(timer));
  return running;
}

/** Pushes a mention on the newest live connection; resolves when it was acked and its work has finished. */
async function mentionAcked({ app, socketMode }: Running, text: string) {
  const event = slackPayloads.appMention({ text: `<@U0BOT> ${text}` }).payload;
  const envelopeId = socketMode.pushEvent(event);
  const ack = await socketMode.waitForAck(envelopeId, 3_000);
  assert.equal(await app.jobs.drain(5_000), true, 'the routed work finished');
  return { ack, requestId: `event:${String(event.event_id)}`, sentOn: socketMode.pushed.get(envelopeId) };
}

afterEach(async () => {
  if (!running) return;
  await running.app.stop();
  // Bolt's stop sends the close frame without waiting for the answer: let the handshake finish, or the Socket
  // Mode client's 30 s close-handshake timer outlives the test.
  await running.socketMode.waitForClientsGone();
  await running.socketMode.close();
  await running.slack.close();
  running = undefined;
});

after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Socket Mode over a connection that goes half-open', () => {
  test('no pong within SOCKET_MODE_CLIENT_PING_TIMEOUT_MS: a new connection, and events flow on it once', async (t) => {
    const timeoutMs = 1_000;
    const running = await startSocketModeApp({
      SOCKET_MODE_CLIENT_PING_TIMEOUT_MS: String(timeoutMs),
      SOCKET_MODE_SERVER_PING_TIMEOUT_MS: '30000',
    });
    const { slack, socketMode, routed } = running;
    assert.equal(slack.callsTo('apps.connections.open').length, 1);
    assert.equal(slack.callsTo('apps.connections.open')[0]?.token, slack.appToken);

    // (a) An event on the first connection is acked there and routed.
    const first = await mentionAcked(running, 'ask how do I reset my password?');
    assert.equal(first.sentOn, 1);
    assert.equal(first.ack.connection, 1);
    assert.deepEqual(
      routed.map((request) => request.requestId),
      [first.requestId],
    );

    // (b) The connection goes half-open: TCP stays up, nothing answers. A second connection must follow.
    socketMode.goHalfOpen(1);
    const bound = (8 * timeoutMs) / 3 + 1_000;
    const second = await socketMode.waitForConnection(2, bound);
    const halfOpenAt = socketMode.connections[0]?.halfOpenAt ?? Number.NaN;
    const reopenedAfterMs = Math.round(second.openedAt - halfOpenAt);
    const opens = slack.callsTo('apps.connections.open');
    assert.equal(opens.length, 2, 'a fresh URL was asked for');
    const askedAfterMs = Math.round((opens[1]?.receivedAtMonotonic ?? Number.NaN) - halfOpenAt);
    t.diagnostic(`half-open → apps.connections.open ${askedAfterMs} ms, → new socket ${reopenedAfterMs} ms`);
    assert.ok(reopenedAfterMs <= bound, `reconnected after ${reopenedAfterMs} ms (bound ${bound} ms)`);
    // Not before the timeout and the back-off: the heartbeat dropped it, not something else closing the socket.
    assert.ok(askedAfterMs >= 2 * timeoutMs, `asked for a new URL after only ${askedAfterMs} ms`);

    // (c) An event on the new connection is acked there and routed exactly once.
    const next = await mentionAcked(running, 'ask where is the VPN guide?');
    assert.equal(next.sentOn, 2);
    assert.equal(next.ack.connection, 2);
    assert.deepEqual(
      routed.map((request) => request.requestId),
      [first.requestId, next.requestId],
    );
    assert.deepEqual(socketMode.refusedTickets, []);
    slack.expectNoViolations();
  });

  test('no ping from Slack within SOCKET_MODE_SERVER_PING_TIMEOUT_MS: a new connection too', async (t) => {
    const clientTimeoutMs = 1_000;
    const serverTimeoutMs = 1_500;
    const running = await startSocketModeApp({
      SOCKET_MODE_CLIENT_PING_TIMEOUT_MS: String(clientTimeoutMs),
      SOCKET_MODE_SERVER_PING_TIMEOUT_MS: String(serverTimeoutMs),
    });
    const { socketMode, routed } = running;
    // The client arms this timeout at Slack's first ping only. Pongs keep coming, so only this timeout can
    // notice the silence; the fake answers the close frame at once.
    await socketMode.waitForServerPings(1, 2);
    socketMode.stopPinging(1);
    const stoppedAt = performance.now();
    const bound = serverTimeoutMs + clientTimeoutMs + 1_000;
    const second = await socketMode.waitForConnection(2, bound);
    const reopenedAfterMs = Math.round(second.openedAt - stoppedAt);
    t.diagnostic(`pings stopped → new socket ${reopenedAfterMs} ms`);
    assert.ok(reopenedAfterMs >= serverTimeoutMs - 250, `reconnected after only ${reopenedAfterMs} ms`);

    const next = await mentionAcked(running, 'ask where is the VPN guide?');
    assert.equal(next.ack.connection, 2);
    assert.deepEqual(
      routed.map((request) => request.requestId),
      [next.requestId],
    );
  });
});
