/**
 * Issue 17, "work never runs unclaimed": with Redis down a delivery cannot be claimed for de-duplication, and it
 * used to run anyway — then the sweeper re-ran it once Redis was back (duplicate replies). The app runs against a
 * Redis server of this test's own (port 7201), which is killed and restarted: an event is not acknowledged (503,
 * which Slack retries) and no listener runs; the redelivery after the restart runs exactly once; a command and a
 * click are answered "try again" instead of being dropped.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { unclaimedText } from '../../src/slack/unclaimed-delivery.ts';
import { actions } from '../../src/slack-kit/ids.ts';
import type { ActionRequest } from '../../src/work/requests.ts';
import { type AppHarness, startAppHarness } from '../e2e/app-harness.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { RedisProcess, waitUntil } from '../support/redis-process.ts';

const redisServer = new RedisProcess(7201);
const handled: CapabilityRequest[] = [];
const clicks: ActionRequest[] = [];
let harness: AppHarness;

before(async () => {
  await redisServer.start();
  harness = await startAppHarness({
    environment: { REDIS_URL: redisServer.url },
    capabilities: {
      question: async (request) => {
        handled.push(request);
        return { kind: 'reply', text: `answer to ${request.text}` };
      },
      ticket: async (request) => {
        handled.push(request);
        return { kind: 'reply', text: 'ticket filed' };
      },
    },
    interactions: {
      actions: {
        [actions.ticketDiscard]: async (request) => {
          clicks.push(request);
          return { kind: 'reply', text: 'Discarded.' };
        },
      },
    },
  });
  // The connection's errors while the server is down are expected here; the app logs its own.
  harness.redis.on('error', () => {});
});

after(async () => {
  await redisServer.start();
  await waitUntil(() => harness.redis.status === 'ready');
  await harness?.close();
  await redisServer.stop();
});

beforeEach(async () => {
  handled.length = 0;
  clicks.length = 0;
  harness.slack.reset();
});

async function settled(): Promise<void> {
  await sleep(20);
  assert.equal(await harness.app.jobs.drain(10_000), true, 'background work did not finish');
}

/** Kills Redis, runs `during`, restarts Redis and waits until the app's connection is ready again. */
async function withRedisDown(during: () => Promise<void>): Promise<void> {
  await redisServer.kill();
  try {
    await during();
  } finally {
    await redisServer.start();
    await waitUntil(() => harness.redis.status === 'ready');
  }
}

describe('a delivery that cannot be claimed does not run', () => {
  test('an event is not acknowledged (503, Slack retries), nothing runs, and the redelivery runs exactly once', async () => {
    const request = slackPayloads.appMention({ text: '<@U0BOT> How do refunds work?' });
    const deliveryId = `event:${String(request.payload.event_id)}`;
    await withRedisDown(async () => {
      const refused = await harness.driver.send(request);
      assert.equal(refused.status, 503, 'a non-2xx answer, so that Slack retries the event');
      assert.equal(refused.headers.get('x-slack-no-retry'), null, 'retries are not turned off');
      assert.ok(refused.latencyMs < 3_000, `answered in ${Math.round(refused.latencyMs)} ms, within Slack's 3 s`);
      // Past the sweeper's first pass and any lease: still nothing ran.
      await sleep(300);
      assert.equal(handled.length, 0, 'no listener ran without a claim');
      assert.equal(harness.slack.callsTo('chat.postMessage').length, 0);
    });
    assert.equal(await harness.app.durable.stored(deliveryId), undefined, 'no work item was left behind');

    const redelivery = await harness.driver.send(request, { retryNum: 1, retryReason: 'http_error' });
    await settled();
    assert.equal(redelivery.status, 200);
    const again = await harness.driver.send(request, { retryNum: 2, retryReason: 'http_error' });
    await settled();
    assert.equal(again.status, 200);
    assert.equal(await harness.app.durable.sweep(), 0, 'the sweeper finds nothing to re-run');
    await settled();
    assert.equal(handled.length, 1, 'the event ran exactly once');
    assert.equal(harness.slack.callsTo('chat.postMessage').length, 1, 'one reply');
  });

  test('a slash command is answered with "try again" in its ack and does not run', async () => {
    await withRedisDown(async () => {
      const response = await harness.driver.send(slackPayloads.slashCommand({ command: '/ticket', text: 'printer' }));
      assert.equal(response.status, 200);
      assert.deepEqual(response.json, { response_type: 'ephemeral', text: unclaimedText });
      await sleep(100);
    });
    await settled();
    assert.equal(handled.length, 0);
  });

  test('a click is acknowledged, does not run, and the clicker is told ephemerally to try again', async () => {
    await withRedisDown(async () => {
      const response = await harness.driver.send(
        slackPayloads.blockActions({ actionId: actions.ticketDiscard, channel: 'C111', user: 'W222' }),
      );
      assert.equal(response.status, 200);
      await harness.slack.waitForCalls('chat.postEphemeral', 1, 5_000);
    });
    await settled();
    assert.equal(clicks.length, 0, 'the click did not run');
    const [told] = harness.slack.callsTo('chat.postEphemeral');
    assert.equal(told?.params.channel, 'C111');
    assert.equal(told?.params.user, 'W222');
    assert.equal(told?.params.text, unclaimedText);
  });
});
