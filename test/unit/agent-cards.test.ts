import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderApprovalCard, renderResolvedApprovalCard } from '../../src/capabilities/agent/approval-card.ts';
import { approvalHash } from '../../src/capabilities/agent/approval-hash.ts';
import type { ApprovalRequest } from '../../src/capabilities/agent/approval-request.ts';
import { ProgressReporter, renderProgress } from '../../src/capabilities/agent/progress.ts';
import { newRunState } from '../../src/capabilities/agent/run-state.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import { actions } from '../../src/slack-kit/ids.ts';
import { RecordingMessenger } from '../fakes/recording-messenger.ts';
import { checkMessage } from '../fakes/slack-limits.ts';

const limits = { maxSteps: 8, maxToolCalls: 12, maxRunMicroUsd: 500_000 };

function request(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  const base = {
    tool: 'post_message',
    canonicalArguments: '{"channel":"C0GENERAL","text":"<!channel> refunds for all"}',
    target: 'channel:C0GENERAL',
    workspaceId: 'T1',
  };
  return {
    ...base,
    requestId: '0b5a4c84-0f0e-4d4b-9c9f-0a4f1b7e9a11',
    runId: '7f1d9a3e-2b1c-4f5e-8a9b-1c2d3e4f5a6b',
    channelId: 'C0SUPPORT',
    threadTs: '1700000000.000100',
    requesterId: 'U0REQ',
    kind: 'write',
    summary: 'Post a message to channel C0GENERAL: "<!channel> refunds for all"',
    toolCallId: 'call_1',
    hash: approvalHash(base),
    createdAt: 1_800_000_000_000,
    expiresAt: 1_800_086_400_000,
    status: 'pending',
    decidedBy: undefined,
    decidedAt: undefined,
    reason: undefined,
    card: undefined,
    ...overrides,
  };
}

function actionElements(blocks: Record<string, unknown>[] | undefined) {
  return (blocks ?? [])
    .filter((block) => block.type === 'actions')
    .flatMap((block) => block.elements as Record<string, unknown>[]);
}

describe('approval card', () => {
  test('states the effect, target and arguments, with Approve and Reject bound to the request', () => {
    const card = renderApprovalCard(request());
    assert.equal(checkMessage(card.text, card.blocks), undefined);
    assert.equal(card.threadTs, '1700000000.000100');
    const buttons = actionElements(card.blocks);
    assert.deepEqual(
      buttons.map((button) => button.action_id),
      [actions.approvalApprove, actions.approvalReject],
    );
    assert.deepEqual(
      [agentActionIds.approve, agentActionIds.reject],
      [actions.approvalApprove, actions.approvalReject],
    );
    for (const button of buttons) assert.equal(button.value, `${request().requestId}.${request().hash}`);
    const text = JSON.stringify(card.blocks);
    assert.match(text, /<#C0GENERAL>/);
    assert.match(text, /post_message/);
  });

  test('escapes model-written text so it cannot ping the channel', () => {
    const text = JSON.stringify(renderApprovalCard(request()).blocks);
    assert.equal(text.includes('<!channel>'), false);
    assert.match(text, /&lt;!channel&gt;/);
  });

  test('a resolved card has no buttons and says who decided', () => {
    const approved = renderResolvedApprovalCard(
      request({ status: 'approved', decidedBy: 'U0BOSS', decidedAt: 1_800_000_100_000, reason: 'decision' }),
    );
    assert.equal(actionElements(approved.blocks).length, 0);
    assert.match(JSON.stringify(approved.blocks), /Approved\* by <@U0BOSS>/);
    const expired = renderResolvedApprovalCard(
      request({ status: 'rejected', decidedBy: 'expiry', decidedAt: 1_800_086_400_000, reason: 'expired' }),
    );
    assert.equal(actionElements(expired.blocks).length, 0);
    assert.match(JSON.stringify(expired.blocks), /Expired\* without a decision/);
    assert.equal(checkMessage(expired.text, expired.blocks), undefined);
  });

  test('an uncertain write says it may already have happened', () => {
    const card = renderApprovalCard(request({ kind: 'uncertain_write' }));
    assert.match(JSON.stringify(card.blocks), /may or may not have happened/);
  });
});

describe('progress message', () => {
  function state() {
    return newRunState({
      workspaceId: 'T1',
      channelId: 'C1',
      threadTs: '1700000000.000100',
      requesterId: 'U0REQ',
      goal: 'Find the refund policy',
      now: 0,
    });
  }

  test('shows the plan, each step with its state and a Stop button while running', () => {
    const running = state();
    running.status = 'running';
    running.plan = ['Search the docs', 'Answer'];
    running.steps = [
      { title: 'Search for refunds', state: 'complete', detail: '3 passages' },
      { title: 'File a ticket', state: 'pending', detail: 'waiting for approval' },
      { title: 'Bad call', state: 'error' },
      { title: 'Summarise', state: 'in_progress' },
    ];
    const message = renderProgress(running, limits);
    const text = JSON.stringify(message.blocks);
    assert.match(text, /1\. Search the docs\\n2\. Answer/);
    assert.match(text, /:white_check_mark: 1\. Search for refunds — 3 passages/);
    assert.match(text, /:white_circle: 2\. File a ticket — waiting for approval/);
    assert.match(text, /:x: 3\. Bad call/);
    assert.match(text, /:hourglass_flowing_sand: 4\. Summarise/);
    const stop = actionElements(message.blocks);
    assert.equal(stop[0]?.action_id, agentActionIds.stop);
    assert.equal(stop[0]?.value, running.runId);
  });

  test('the final summary has steps, cost and outcome, and no Stop button', () => {
    const ended = state();
    ended.status = 'ended';
    ended.counters = { steps: 3, toolCalls: 2, modelCalls: 3, spentMicroUsd: 1234, transientFailures: 0 };
    ended.steps = [{ title: 'Search', state: 'complete' }];
    ended.outcome = { kind: 'step_limit', message: 'The run reached its limit of 3 steps. Done so far: Search.' };
    const message = renderProgress(ended, limits);
    assert.equal(actionElements(message.blocks).length, 0);
    assert.match(JSON.stringify(message.blocks), /Stopped at the step limit/);
    assert.match(JSON.stringify(message.blocks), /3 steps, 2 tool calls \(1 completed\), \$0\.0012 spent/);
    assert.match(message.text, /^Stopped at the step limit: /);
  });

  test('stays within Slack limits with many long steps, a long plan and a long answer', () => {
    const big = state();
    big.goal = 'g'.repeat(5000);
    big.plan = Array.from({ length: 8 }, () => 'p'.repeat(500));
    big.steps = Array.from({ length: 100 }, (_, index) => ({
      title: `${'t'.repeat(400)} ${index}`,
      state: 'complete' as const,
      detail: 'd'.repeat(400),
    }));
    big.status = 'ended';
    big.outcome = { kind: 'finished', message: 'The agent finished.', answer: 'a'.repeat(20_000) };
    const message = renderProgress(big, limits);
    assert.equal(checkMessage(message.text, message.blocks), undefined);
    assert.ok((message.blocks?.length ?? 0) <= 50);
    assert.match(JSON.stringify(message.blocks), /85 earlier steps/);
  });
});

describe('progress reporter', () => {
  test('a failed first post is not retried at every step (its outcome is unknown), only when the run ends', async () => {
    const messenger = new RecordingMessenger();
    const reporter = new ProgressReporter({ messenger, limits, logger: createSilentLogger() });
    const run = newRunState({
      workspaceId: 'T1',
      channelId: 'C1',
      threadTs: undefined,
      requesterId: 'U1',
      goal: 'x',
      now: 0,
    });
    run.status = 'running';
    messenger.failNextPosts(1);
    await reporter.publish(run);
    assert.equal(run.progress, undefined);
    await reporter.publish(run);
    await reporter.publish(run);
    assert.equal(messenger.posts.length, 0, 'no blind re-post while the run works');
    run.status = 'ended';
    run.outcome = { kind: 'finished', message: 'The agent finished.', answer: 'done' };
    await reporter.publish(run, { wait: true });
    assert.equal(messenger.posts.length, 1, 'the summary is posted once the run ends');
    assert.ok(run.progress);
    await reporter.publish(run, { wait: true });
    assert.equal(messenger.posts.length, 1);
    assert.equal(messenger.updates.length, 1, 'later publishes update the message');
  });
});
