/**
 * Agent progress over Slack's task/plan streaming (chat.startStream / appendStream with task_update chunks /
 * stopStream), through the real SlackMessenger against the fake Slack Web API (spec- and limit-checked), and the
 * fallback when streaming is refused.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import {
  type AgentHarness,
  approver,
  call,
  channelId,
  createAgentHarness,
  threadTs,
  workspaceId,
} from './agent-harness.ts';

let slack: FakeSlackWebApi;
let harness: AgentHarness;

before(async () => {
  slack = await FakeSlackWebApi.start();
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 5000 }),
    logger: createSilentLogger(),
    postIntervalMs: 50,
  });
  harness = await createAgentHarness({ messenger });
});
beforeEach(() => {
  slack.reset();
  harness.reset();
});
afterEach(() => {
  slack.expectNoViolations();
});
after(async () => {
  await harness.cleanup();
  await slack.close();
});

type Chunk = { type: string; id?: string; title?: string; status?: string; details?: string };

/** Every task_update chunk sent in stream calls since `from` (an index into the recorded calls), in order. */
function taskChunks(from = 0): Chunk[] {
  return slack.calls
    .slice(from)
    .filter((recorded) => recorded.method === 'chat.startStream' || recorded.method === 'chat.appendStream')
    .flatMap((recorded) => (recorded.params.chunks as Chunk[] | undefined) ?? []);
}

const methodsSince = (from: number, method: string) => slack.calls.slice(from).filter((c) => c.method === method);

function hasStop(blocks: unknown): boolean {
  return JSON.stringify(blocks ?? []).includes(agentActionIds.stop);
}

async function waitForCalls(method: string, count: number, from: number): Promise<void> {
  for (let waited = 0; methodsSince(from, method).length < count && waited < 400; waited += 1) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.ok(methodsSince(from, method).length >= count, `${count} × ${method}`);
}

describe('progress streams as tasks when the messenger can stream', () => {
  test('plan and steps stream as task_update chunks under a control message with Stop; the summary stops the stream', async () => {
    const from = slack.calls.length;
    harness.passages.push({ title: 'FAQ', source: 'faq.md', text: 'Refunds take 5 days.' });
    harness.fake.enqueueChat({ toolCalls: [call('update_plan', { steps: ['Search the FAQ', 'Answer'] })] });
    harness.fake.enqueueChat({ toolCalls: [call('search_documents', { query: 'refund time' })] });
    harness.fake.enqueueChat({ content: 'Refunds take 5 days.' });
    const runId = await harness.startRun('How long do refunds take?');
    const ended = await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'finished');
    await harness.waitForIdleQueue();
    await waitForCalls('chat.stopStream', 1, from);

    assert.equal(ended.progress?.mode, 'stream');
    const controlPost = methodsSince(from, 'chat.postMessage').find((c) => c.response?.ts === ended.progress?.ts);
    assert.ok(controlPost, 'the control message was posted');
    assert.equal(controlPost.params.thread_ts, threadTs);
    assert.ok(hasStop(controlPost.params.blocks), 'the control message had a Stop button while the run was live');
    const control = slack.message(channelId, ended.progress?.ts ?? '');
    assert.equal(hasStop(control?.blocks), false, 'the Stop button is gone once the run ended');

    const starts = methodsSince(from, 'chat.startStream');
    assert.equal(starts.length, 1);
    assert.equal(starts[0]?.params.thread_ts, threadTs);
    assert.equal(starts[0]?.params.recipient_user_id, ended.requesterId);
    assert.equal(starts[0]?.params.recipient_team_id, workspaceId);
    const chunks = taskChunks(from);
    assert.ok(chunks.length > 0, 'tasks were streamed');
    assert.ok(chunks.every((chunk) => chunk.type === 'task_update'));
    const search = chunks.filter((chunk) => chunk.id === 'step-1');
    assert.match(search.at(-1)?.title ?? '', /Search the channel's documents for "refund time"/);
    assert.equal(search.at(-1)?.status, 'complete');
    const streamed = slack.message(channelId, String(starts[0]?.response?.ts));
    assert.match(streamed?.text ?? '', /\*\*Plan\*\*\n1\. Search the FAQ\n2\. Answer/);

    const stops = methodsSince(from, 'chat.stopStream');
    assert.equal(stops.length, 1);
    const summary = JSON.stringify(stops[0]?.params.blocks);
    assert.match(summary, /Done/);
    assert.match(summary, /3 steps, 1 tool calls \(1 completed\)/);
    assert.match(summary, /Refunds take 5 days\./);
    assert.equal(methodsSince(from, 'chat.update').length, 1, 'one edit: the control message losing its button');
  });

  test('a pause for approval stops the stream; the resumed run streams afresh with every step so far', async () => {
    const from = slack.calls.length;
    harness.passages.push({ title: 'FAQ', source: 'faq.md', text: 'Refunds take 5 days.' });
    harness.fake.enqueueChat({ toolCalls: [call('update_plan', { steps: ['Look up', 'Tell the team'] })] });
    harness.fake.enqueueChat({ toolCalls: [call('search_documents', { query: 'refunds' })] });
    harness.fake.enqueueChat({ toolCalls: [call('post_message', { channel: 'C0TEAM', text: 'Refunds: 5 days' })] });
    harness.fake.enqueueChat({ content: 'Told the team.' });
    const runId = await harness.startRun('Tell the team how long refunds take');
    const waiting = await harness.waitForRun(runId, (state) => state.status === 'awaiting_approval');
    await harness.waitForIdleQueue();
    await waitForCalls('chat.stopStream', 1, from);
    const paused = methodsSince(from, 'chat.stopStream');
    assert.equal(paused.length, 1, 'the stream stopped at the pause');
    assert.match(String(paused[0]?.params.markdown_text), /Paused: waiting for a human decision/);
    const control = slack.message(channelId, waiting.progress?.ts ?? '');
    assert.ok(hasStop(control?.blocks), 'Stop stays available while the run waits');

    const request = await harness.approvals.get(workspaceId, waiting.awaiting?.requestId ?? '');
    const card = slack.message(request?.card?.channel ?? '', request?.card?.ts ?? '');
    const value = JSON.stringify(card?.blocks).match(/"value":"([0-9a-f-]{36}\.[0-9a-f]{64})"/)?.[1] ?? '';
    const decided = await harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(decided.kind, 'decided');
    const ended = await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'finished');
    await harness.waitForIdleQueue();
    await waitForCalls('chat.stopStream', 2, from);

    const starts = methodsSince(from, 'chat.startStream');
    assert.equal(starts.length, 2, 'a fresh stream after the approval');
    const secondFrom = slack.calls.indexOf(starts[1] as (typeof slack.calls)[number]);
    const resumedTasks = taskChunks(secondFrom);
    const step1 = resumedTasks.filter((chunk) => chunk.id === 'step-1').at(-1);
    assert.equal(step1?.status, 'complete', 'the step done before the pause is in the new stream');
    const step2 = resumedTasks.filter((chunk) => chunk.id === 'step-2').at(-1);
    assert.equal(step2?.status, 'complete');
    assert.match(step2?.title ?? '', /C0TEAM/);
    const final = methodsSince(from, 'chat.stopStream').at(-1);
    assert.match(JSON.stringify(final?.params.blocks), /4 steps, 2 tool calls \(2 completed\)/);
  });

  test('when Slack refuses streaming, the same progress arrives as an updated message', async () => {
    const from = slack.calls.length;
    slack.inject(
      'chat.startStream',
      { kind: 'platform_error', error: 'not_allowed' },
      { times: Number.POSITIVE_INFINITY },
    );
    harness.passages.push({ title: 'FAQ', source: 'faq.md', text: 'Refunds take 5 days.' });
    harness.fake.enqueueChat({ toolCalls: [call('update_plan', { steps: ['Search', 'Answer'] })] });
    harness.fake.enqueueChat({ toolCalls: [call('search_documents', { query: 'refund delay' })] });
    harness.fake.enqueueChat({ content: 'Five days.' });
    const runId = await harness.startRun('Refund delay?');
    const ended = await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'finished');
    await harness.waitForIdleQueue();
    assert.ok(methodsSince(from, 'chat.startStream').length >= 1, 'streaming was tried');
    assert.equal(methodsSince(from, 'chat.stopStream').length, 0);
    let shown = '';
    for (let waited = 0; waited < 400; waited += 1) {
      shown = JSON.stringify(slack.thread(channelId, threadTs).map((message) => [message.text, message.blocks]));
      if (/3 steps, 1 tool calls/.test(shown) && /refund delay/.test(shown)) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.match(shown, /Search the channel's documents for \\+"refund delay/, 'the steps are shown');
    assert.match(shown, /3 steps, 1 tool calls \(1 completed\)/, 'the summary is shown');
    assert.match(shown, /Five days\./);
    slack.clearFaults();
  });
});
