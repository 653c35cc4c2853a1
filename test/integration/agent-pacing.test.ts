/**
 * 20 concurrent agent runs in one workspace and one channel, through the real SlackMessenger against the fake
 * Slack Web API (which validates every call against Slack's spec and limits). Pacing is scaled ×12 so the test
 * is short: `chat.update` at 600/min with a burst of 5 (Slack: ~50/min), posts 100 ms apart per channel
 * (Slack: ~1 s). The property checked is the same: no window ever holds more updates than the bucket allows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { type AgentHarness, call, channelId, createAgentHarness, requester, workspaceId } from './agent-harness.ts';

const runs = 20;
const updatesPerMinute = 600;
const updateBurst = 5;
const postIntervalMs = 100;

let slack: FakeSlackWebApi;
let harness: AgentHarness;
let messenger: SlackMessenger;
/** When the messenger issued each Web API call (client side: what Deskhand's pacing controls). */
const issued: { method: string; at: number }[] = [];

before(async () => {
  slack = await FakeSlackWebApi.start();
  const client = createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 5000 });
  const apiCall = client.apiCall.bind(client);
  client.apiCall = (method, options) => {
    issued.push({ method, at: performance.now() });
    return apiCall(method, options);
  };
  messenger = new SlackMessenger({
    client,
    logger: createSilentLogger(),
    postIntervalMs,
    updatesPerMinute,
    updateBurst,
  });
  // The coalesced chat.update path (the fallback when streaming is unavailable): the messenger without startStream.
  const updatesOnly = new Proxy(messenger, {
    get(target, property) {
      if (property === 'startStream') return undefined;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  harness = await createAgentHarness({ messenger: updatesOnly, concurrency: 8, limits: { maxSteps: 100 } });
});
after(async () => {
  await harness.cleanup();
  await slack.close();
});

test('20 concurrent runs in one workspace stay within the chat.update and per-channel post pacing', async () => {
  harness.passages.push({ title: 'FAQ', source: 'faq.md', text: 'Refunds take five days.' });
  for (let index = 0; index < runs * 2; index += 1) {
    harness.fake.enqueueChat({
      toolCalls: [
        call('update_plan', { steps: [`Look up ${index}`, 'Answer'] }),
        call('search_documents', { query: `refunds ${index}` }),
      ],
    });
  }
  for (let index = 0; index < runs * 2; index += 1)
    harness.fake.enqueueChat({ content: `Refunds take five days (${index}).` });

  const started = performance.now();
  const runIds = await Promise.all(
    Array.from({ length: runs }, (_, index) =>
      harness.service
        .startRun({
          workspaceId,
          channelId,
          threadTs: `1700000001.${String(index).padStart(6, '0')}`,
          userId: requester,
          goal: `Question ${index}`,
        })
        .then((result) => (result.kind === 'started' ? result.runId : assert.fail(result.message))),
    ),
  );
  const ended = await Promise.all(
    runIds.map((runId) => harness.waitForRun(runId, (state) => state.status === 'ended', 60_000)),
  );
  // A run's checkpoint says "ended" before its last progress update has gone through the update bucket.
  await harness.waitForIdleQueue();
  await messenger.drain();
  const elapsedMs = performance.now() - started;

  // Concurrent runs share the fake's FIFO script, so a fast run may take several tool replies; the step bound is
  // set above what the script holds (a run at its bound would pause for an approval instead of ending).
  for (const state of ended)
    assert.ok(['finished', 'step_limit'].includes(state.outcome?.kind ?? ''), JSON.stringify(state.outcome));
  slack.expectNoViolations();

  const updates = issued.filter((call) => call.method === 'chat.update').map((call) => call.at);
  const posts = issued.filter((call) => call.method === 'chat.postMessage').map((call) => call.at);
  assert.equal(updates.length, slack.callsTo('chat.update').length, 'every issued update reached Slack');
  assert.ok(updates.length >= runs, `every run updated its progress (${updates.length} updates)`);
  // In any window of w ms at most burst + rate × w calls (+1 for the window's boundary), measured when the
  // messenger issued each call. (The fake's receive times add this process's event-loop jitter on a loaded
  // machine; they are printed below for information.)
  assert.equal(worstExcess(updates, updateBurst, updatesPerMinute / 60_000), 0, 'chat.update exceeded its pacing');
  assert.equal(worstExcess(posts, 1, 1 / postIntervalMs), 0, 'posts in one channel exceeded their pacing');
  // The final summary of every run is what Slack shows (coalescing kept the latest content).
  for (const state of ended) {
    const shown = slack.message(state.progress?.channel ?? '', state.progress?.ts ?? '');
    if (!JSON.stringify(shown?.blocks ?? []).includes('Done')) {
      const mine = slack.callsTo('chat.update').filter((c) => c.params.ts === state.progress?.ts);
      console.log(
        'DEBUG',
        state.progress,
        mine.length,
        JSON.stringify(mine.map((c) => [c.status, c.response?.ok, c.response?.error, c.fault])),
      );
    }
    const blocks = JSON.stringify(shown?.blocks ?? []);
    assert.match(
      blocks,
      /\d+ steps, \d+ tool calls \(\d+ completed\), (< )?\$\d\.\d+ spent/,
      'the final summary is shown',
    );
    assert.equal(blocks.includes('agent_stop'), false, 'the Stop button is gone');
  }
  const received = slack.callsTo('chat.update').map((recorded) => recorded.receivedAtMonotonic);
  const rate = (updates.length / elapsedMs) * 60_000;
  console.log(
    `agent pacing: ${runs} runs, ${posts.length} posts, ${updates.length} updates in ${elapsedMs.toFixed(0)} ms ` +
      `(${rate.toFixed(0)}/min against a ${updatesPerMinute}/min bucket with burst ${updateBurst}); ` +
      `worst window excess as received by the fake: ${worstExcess(received, updateBurst, updatesPerMinute / 60_000)}`,
  );
});

/** How many calls beyond the allowance the worst window holds (0 when the pacing held everywhere). */
function worstExcess(times: number[], burst: number, perMs: number): number {
  let worst = 0;
  for (let first = 0; first < times.length; first += 1) {
    for (let last = first; last < times.length; last += 1) {
      const windowMs = (times[last] ?? 0) - (times[first] ?? 0);
      const allowed = burst + Math.floor(windowMs * perMs) + 1;
      worst = Math.max(worst, last - first + 1 - allowed);
    }
  }
  return worst;
}
