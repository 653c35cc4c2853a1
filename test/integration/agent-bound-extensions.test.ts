import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApprovalActionResult } from '../../src/capabilities/agent/agent-service.ts';
import type { RunState } from '../../src/capabilities/agent/run-state.ts';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import {
  type AgentHarness,
  approver,
  blockText,
  buttonValue,
  bystander,
  call,
  harnessPerTest,
  hasButtons,
  requester,
  secondApprover,
  workspaceId,
} from './agent-harness.ts';

const withHarness = harnessPerTest();

const plan = () => call('update_plan', { steps: ['Look things up', 'Answer'] });
const search = (query: string) => call('search_documents', { query });

/** Waits until the run pauses on a bound (other than `previous`) and returns the state, request and card. */
async function waitForExtensionCard(h: AgentHarness, runId: string, previous?: string) {
  const waiting = await h.waitForRun(
    runId,
    (state) => state.awaiting?.extension !== undefined && state.awaiting.requestId !== previous,
  );
  await h.waitForIdleQueue();
  const request = await h.approvals.get(workspaceId, waiting.awaiting?.requestId ?? '');
  assert.ok(request?.card, 'the card was posted');
  const card = h.messenger.current(request.card.channel, request.card.ts);
  return { waiting, request, card };
}

function click(
  h: AgentHarness,
  card: ReturnType<AgentHarness['messenger']['current']>,
  userId: string,
  actionId: string,
): Promise<ApprovalActionResult> {
  return h.service.handleApprovalAction({ workspaceId, userId, actionId, value: buttonValue(card, actionId) ?? '' });
}

describe('continuing past a bound needs an approver', () => {
  test('step bound mid-task → card → non-approver refused → approver extends → the run finishes', async () => {
    const h = await withHarness({ limits: { maxSteps: 2 } });
    h.passages.push({ title: 'FAQ', source: 'faq.md', text: 'Refunds take 5 days.' });
    h.fake.enqueueChat({ toolCalls: [plan()] });
    h.fake.enqueueChat({ toolCalls: [search('refund time')] });
    h.fake.enqueueChat({ content: 'Refunds take 5 days.' });
    const runId = await h.startRun('How long do refunds take?');

    const { waiting, request, card } = await waitForExtensionCard(h, runId);
    assert.equal(waiting.status, 'awaiting_approval');
    assert.equal(waiting.counters.steps, 2);
    assert.equal(h.fake.chatCalls().length, 2, 'no model call past the bound before the approval');
    assert.equal(request.kind, 'extend_bound');
    assert.equal(request.target, `run:${runId}`);
    assert.deepEqual(JSON.parse(request.canonicalArguments), { amount: 1, bound: 'steps', runId });
    assert.match(blockText(card), /Allow 1 more steps \(limit 2 steps → 3 steps; at most 4 steps\)/);

    const refused = await click(h, card, bystander, agentActionIds.approve);
    assert.equal(refused.kind, 'not_authorised');
    const selfApproval = await click(h, card, requester, agentActionIds.approve);
    assert.equal(selfApproval.kind, 'not_authorised', 'the requester (not an approver) cannot extend their own run');
    assert.equal((await h.runs.load(workspaceId, runId))?.status, 'awaiting_approval');

    const approved = await click(h, card, approver, agentActionIds.approve);
    assert.equal(approved.kind, 'decided');
    assert.match(approved.message, /will continue/);
    const late = await click(h, card, secondApprover, agentActionIds.reject);
    assert.equal(late.kind, 'already_decided');
    assert.match(late.message, /Already approved by <@U0APPROVER1>/);

    const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'finished');
    assert.equal(ended.outcome?.answer, 'Refunds take 5 days.');
    assert.equal(ended.counters.steps, 3);
    assert.deepEqual(ended.extensions, { steps: 1 });
    assert.match(ended.steps.at(-1)?.detail ?? '', /<@U0APPROVER1> allowed 1 more steps/);
    await h.waitForIdleQueue();
    const resolved = await h.approvals.get(workspaceId, request.requestId);
    const resolvedCard = h.messenger.current(resolved?.card?.channel ?? '', resolved?.card?.ts ?? '');
    assert.equal(hasButtons(resolvedCard), false, 'the resolved card lost its buttons');
    assert.match(blockText(resolvedCard), /Approved\* by <@U0APPROVER1>/);
    const audit = await h.service.auditLog(workspaceId, runId);
    assert.deepEqual(
      audit.map((entry) => `${entry.actor}:${entry.action}:${entry.result}`),
      [
        'U0REQUESTER:request:pending',
        'U0BYSTANDER:approve:refused_not_approver',
        'U0REQUESTER:approve:refused_not_approver',
        'U0APPROVER1:approve:approved',
        'U0APPROVER2:reject:already_decided',
        'agent:extend:applied',
      ],
    );
  });

  test('rejecting the extension ends the run with a summary of what was done', async () => {
    const h = await withHarness({ limits: { maxSteps: 2 } });
    h.passages.push({ title: 'FAQ', source: 'faq.md', text: 'Refunds take 5 days.' });
    h.fake.enqueueChat({ toolCalls: [plan()] });
    h.fake.enqueueChat({ toolCalls: [search('refund time')] });
    const runId = await h.startRun('How long do refunds take?');
    const { card } = await waitForExtensionCard(h, runId);
    assert.equal((await click(h, card, approver, agentActionIds.reject)).kind, 'decided');
    const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'step_limit');
    assert.match(ended.outcome?.message ?? '', /continuing was not approved \(rejected by <@U0APPROVER1>\)/);
    assert.match(ended.outcome?.message ?? '', /Done so far: Search the channel's documents for "refund time"/);
    assert.equal(h.fake.chatCalls().length, 2);
    await h.waitForIdleQueue();
    const progress = h.messenger.current(ended.progress?.channel ?? '', ended.progress?.ts ?? '');
    assert.match(blockText(progress), /Stopped at the step limit/);
    assert.match(blockText(progress), /2 steps, 1 tool calls \(1 completed\)/);
  });

  test('an extension request that expires is treated as rejected', async () => {
    const h = await withHarness({ limits: { maxSteps: 2 } });
    h.fake.enqueueChat({ toolCalls: [plan()] });
    h.fake.enqueueChat({ toolCalls: [search('anything')] });
    const runId = await h.startRun('Search');
    const { request } = await waitForExtensionCard(h, runId);
    h.clock.offsetMs = 3601_000;
    assert.equal(await h.service.sweepExpiredApprovals(), 1);
    const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'step_limit');
    assert.match(ended.outcome?.message ?? '', /the approval request expired/);
    assert.equal((await h.approvals.get(workspaceId, request.requestId))?.decidedBy, 'expiry');
  });

  test('extensions stop at twice the configured bound: the run then ends instead of asking again', async () => {
    const h = await withHarness({ limits: { maxSteps: 2 } });
    h.fake.enqueueChat({ toolCalls: [plan()] });
    for (let index = 0; index < 5; index += 1) h.fake.enqueueChat({ toolCalls: [search(`query ${index}`)] });
    const runId = await h.startRun('Keep searching');
    let previous: string | undefined;
    const shown: string[] = [];
    for (let round = 0; round < 2; round += 1) {
      const { waiting, card } = await waitForExtensionCard(h, runId, previous);
      previous = waiting.awaiting?.requestId;
      shown.push(blockText(card));
      assert.equal((await click(h, card, approver, agentActionIds.approve)).kind, 'decided');
    }
    assert.match(shown[0] ?? '', /limit 2 steps → 3 steps; at most 4 steps/);
    assert.match(shown[1] ?? '', /limit 3 steps → 4 steps; at most 4 steps/);
    const ended = await h.waitForRun(runId, (state: RunState) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'step_limit');
    assert.match(ended.outcome?.message ?? '', /already extended to 4 steps, twice the configured limit/);
    assert.equal(ended.counters.steps, 4);
    assert.equal(h.fake.chatCalls().length, 4, 'no model call beyond 2× the bound');
    const requests = (await h.service.auditLog(workspaceId, runId)).filter((entry) => entry.action === 'request');
    assert.equal(requests.length, 2, 'exactly two extension cards');
  });

  test('an approved tool-call extension runs the held call exactly once', async () => {
    const h = await withHarness({ limits: { maxToolCalls: 1 } });
    h.fake.enqueueChat({ toolCalls: [plan()] });
    h.fake.enqueueChat({ toolCalls: [search('one'), search('two')] });
    h.fake.enqueueChat({ content: 'Both searched.' });
    const runId = await h.startRun('Search twice');
    const { waiting, card } = await waitForExtensionCard(h, runId);
    assert.deepEqual(waiting.awaiting?.extension, { bound: 'tool_calls', amount: 1 });
    assert.equal((await click(h, card, approver, agentActionIds.approve)).kind, 'decided');
    const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'finished');
    assert.equal(ended.counters.toolCalls, 2);
    const results = ended.messages.filter((message) => message.role === 'tool');
    assert.equal(results.length, 3, 'plan + two searches, each answered once');
  });

  test('a model call that keeps failing asks a human to continue; approved, the run goes on', async () => {
    const h = await withHarness();
    h.fake.enqueueChat({ toolCalls: [plan()] });
    h.fake.enqueueChat({ fault: 'bad_request', message: 'the model rejected the request' });
    h.fake.enqueueChat({ content: 'Recovered after the error.' });
    const runId = await h.startRun('Answer despite an error');
    const waiting = await h.waitForRun(runId, (state) => state.awaiting?.extension !== undefined);
    assert.deepEqual(waiting.awaiting?.extension, { bound: 'errors', amount: 1 });
    await h.waitForIdleQueue();
    const request = await h.approvals.get(workspaceId, waiting.awaiting?.requestId ?? '');
    assert.equal(request?.kind, 'continue_after_errors');
    const card = h.messenger.current(request?.card?.channel ?? '', request?.card?.ts ?? '');
    assert.match(blockText(card), /The model call failed/);
    assert.match(blockText(card), /continuation 1 of at most 2/);
    assert.equal((await click(h, card, approver, agentActionIds.approve)).kind, 'decided');
    const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'finished');
    assert.equal(ended.outcome?.answer, 'Recovered after the error.');
  });

  test('a tool failing three times in a row pauses for a human; rejected, the run ends as failed with a summary', async () => {
    let attempts = 0;
    const h = await withHarness({
      search: async () => {
        attempts += 1;
        throw new Error('index unavailable');
      },
    });
    h.fake.enqueueChat({ toolCalls: [plan()] });
    h.fake.enqueueChat({ toolCalls: [search('one'), search('two'), search('three'), search('four')] });
    const runId = await h.startRun('Search until it works');
    const waiting = await h.waitForRun(runId, (state) => state.awaiting?.extension !== undefined);
    assert.deepEqual(waiting.awaiting?.extension, { bound: 'errors', amount: 1 });
    assert.equal(attempts, 3, 'no fourth call before a human decides');
    assert.equal(waiting.queue.length, 1, 'the fourth call is still queued');
    await h.waitForIdleQueue();
    const request = await h.approvals.get(workspaceId, waiting.awaiting?.requestId ?? '');
    assert.equal(request?.kind, 'continue_after_errors');
    const card = h.messenger.current(request?.card?.channel ?? '', request?.card?.ts ?? '');
    assert.match(blockText(card), /Tool calls failed 3 times in a row \(last: search_documents/);
    assert.equal((await click(h, card, approver, agentActionIds.reject)).kind, 'decided');
    const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'failed');
    assert.match(ended.outcome?.message ?? '', /continuing was not approved \(rejected by <@U0APPROVER1>\)/);
    assert.equal(attempts, 3);
  });

  test('an approved time extension gives the run more working time and it finishes', async () => {
    const h = await withHarness({ limits: { maxRunMs: 500 } });
    h.fake.enqueueChat({ toolCalls: [plan()] });
    h.fake.enqueueChat({ toolCalls: [search('slow')], delayMs: 900 });
    h.fake.enqueueChat({ content: 'Done in time.' });
    const runId = await h.startRun('Be slow once');
    const { waiting, card } = await waitForExtensionCard(h, runId);
    assert.deepEqual(waiting.awaiting?.extension, { bound: 'time', amount: 500 });
    assert.ok(waiting.activeMs <= 800, `active ${waiting.activeMs} ms when paused`);
    assert.match(blockText(card), /The model did not answer in the working time left/);
    assert.equal((await click(h, card, approver, agentActionIds.approve)).kind, 'decided');
    const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'finished');
    assert.equal(ended.outcome?.answer, 'Done in time.');
    assert.deepEqual(ended.extensions, { time: 500 });
  });
});
