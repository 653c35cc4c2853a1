import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import {
  type AgentHarness,
  approver,
  blockText,
  buttonValue,
  bystander,
  call,
  channelId,
  createAgentHarness,
  hasButtons,
  requester,
  secondApprover,
  workspaceId,
} from './agent-harness.ts';

let harness: AgentHarness;

before(async () => {
  harness = await createAgentHarness();
});
after(async () => {
  await harness.cleanup();
});
beforeEach(() => harness.reset());

const ticket = { summary: 'Order 4411 never arrived', category: 'missing_delivery', urgency: 'high' };

/** Plan → search → file_ticket (needs approval); after the decision, the model finishes. */
function scriptTicketRun(finalText = 'Filed the ticket for the missing order.') {
  harness.passages.push({ title: 'Delivery policy', source: 'policy.md', text: 'Missing deliveries get a ticket.' });
  harness.fake.enqueueChat({ toolCalls: [call('update_plan', { steps: ['Check the policy', 'File a ticket'] })] });
  harness.fake.enqueueChat({ toolCalls: [call('search_documents', { query: 'missing delivery policy' })] });
  harness.fake.enqueueChat({ toolCalls: [call('file_ticket', ticket)] });
  harness.fake.enqueueChat({ content: finalText });
}

async function runUntilCard(goal = 'File a ticket for the missing order 4411', userId = requester) {
  const runId = await harness.startRun(goal, userId);
  const waiting = await harness.waitForRun(runId, (state) => state.status === 'awaiting_approval');
  // The pause is checkpointed before the card and the progress update are sent; the job ends after both.
  await harness.waitForIdleQueue();
  const requestId = waiting.awaiting?.requestId;
  assert.ok(requestId, 'the run waits on a request');
  const request = await harness.approvals.get(workspaceId, requestId);
  assert.ok(request?.card, 'the card was posted and recorded');
  const card = harness.messenger.current(request.card.channel, request.card.ts);
  return { runId, request, card };
}

describe('agent run with a write that needs approval', () => {
  test('goal → plan → steps → escalation → refused non-approver → one approved execution → summary', async () => {
    scriptTicketRun();
    const { runId, request, card } = await runUntilCard();

    // The card states exactly what will happen and carries the request's buttons.
    assert.match(blockText(card), /File a high-urgency "missing_delivery" ticket in the support queue/);
    assert.match(blockText(card), /Order 4411 never arrived/);
    const value = buttonValue(card, agentActionIds.approve);
    assert.ok(value);
    assert.equal(buttonValue(card, agentActionIds.reject), value);
    assert.equal(harness.filed.length, 0, 'nothing filed before approval');

    // Progress shows the plan, the completed search and the pending write, with a Stop button.
    const waiting = await harness.runs.load(workspaceId, runId);
    assert.ok(waiting?.progress);
    const progress = harness.messenger.current(waiting.progress.channel, waiting.progress.ts);
    assert.match(blockText(progress), /Check the policy/);
    assert.match(blockText(progress), /white_check_mark: 1\. Search the channel's documents/);
    assert.match(blockText(progress), /waiting for approval/);
    assert.ok(buttonValue(progress, agentActionIds.stop));

    const refused = await harness.service.handleApprovalAction({
      workspaceId,
      userId: bystander,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(refused.kind, 'not_authorised');
    const requesterClick = await harness.service.handleApprovalAction({
      workspaceId,
      userId: requester,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(requesterClick.kind, 'not_authorised');
    assert.equal((await harness.approvals.get(workspaceId, request.requestId))?.status, 'pending');

    const approved = await harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(approved.kind, 'decided');
    const ended = await harness.waitForRun(runId, (state) => state.status === 'ended');

    assert.equal(harness.filed.length, 1, 'the tool ran exactly once');
    assert.deepEqual(harness.filed[0]?.summary, ticket.summary);
    assert.equal(ended.outcome?.kind, 'finished');
    assert.equal(ended.outcome?.answer, 'Filed the ticket for the missing order.');
    assert.equal(ended.counters.toolCalls, 2);
    assert.ok(ended.counters.spentMicroUsd > 0, 'model calls were charged');

    // A late double click changes nothing and names who decided.
    const late = await harness.service.handleApprovalAction({
      workspaceId,
      userId: secondApprover,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(late.kind, 'already_decided');
    assert.match(late.message, new RegExp(`approved by <@${approver}>`));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(harness.filed.length, 1, 'still exactly once after a replayed click');

    // Resolved card: no buttons, says who approved. Final progress: summary, no Stop button.
    const resolved = harness.messenger.current(request.card?.channel ?? '', request.card?.ts ?? '');
    assert.equal(hasButtons(resolved), false);
    assert.match(blockText(resolved), new RegExp(`Approved\\* by <@${approver}>`));
    const finalProgress = harness.messenger.current(ended.progress?.channel ?? '', ended.progress?.ts ?? '');
    assert.equal(hasButtons(finalProgress), false);
    assert.match(blockText(finalProgress), /Done/);
    assert.match(blockText(finalProgress), /4 steps, 2 tool calls \(2 completed\), \$0\.\d{4} spent/);
    assert.match(blockText(finalProgress), /Filed ticket TCK-1/);

    // Audit: request, both refusals, the decision, execution start/finish and the late click.
    const audit = await harness.service.auditLog(workspaceId, runId);
    const summary = audit.map((entry) => `${entry.actor}:${entry.action}:${entry.result}`);
    assert.deepEqual(summary, [
      `${requester}:request:pending`,
      `${bystander}:approve:refused_not_approver`,
      `${requester}:approve:refused_not_approver`,
      `${approver}:approve:approved`,
      'agent:execute:started',
      'agent:execute:finished',
      `${secondApprover}:approve:already_decided`,
    ]);

    // The log is viewable per run by the requester or an approver, not by anyone else.
    const shown = await harness.service.viewAudit({ workspaceId, userId: requester, runId });
    assert.equal(shown.kind, 'shown');
    assert.match(shown.message, new RegExp(`<@${approver}> · approve → approved`));
    assert.match(
      shown.message,
      new RegExp(`<@${secondApprover}> · approve → already_decided \\(decided by ${approver}\\)`),
    );
    const hidden = await harness.service.viewAudit({ workspaceId, userId: bystander, runId });
    assert.equal(hidden.kind, 'not_authorised');
    assert.equal(hidden.message.includes(approver), false);

    const metrics = await harness.metrics.getMetricsAsJSON();
    const values = (name: string) =>
      metrics.find((metric) => metric.name === name)?.values.map((value) => [value.labels, value.value]) ?? [];
    assert.deepEqual(values('deskhand_agent_runs_total'), [[{ outcome: 'finished' }, 1]]);
    assert.deepEqual(values('deskhand_agent_approvals_total'), [
      [{ result: 'refused_not_approver' }, 2],
      [{ result: 'approved' }, 1],
      [{ result: 'already_decided' }, 1],
    ]);

    // Agent steps are never cached, and every request the gateway sent matched the OpenAI spec.
    assert.equal(harness.fake.violations.length, 0, JSON.stringify(harness.fake.violations));
    assert.equal(harness.messenger.violations.length, 0);
  });

  test('an approver cannot approve a run they started, but another approver can', async () => {
    scriptTicketRun();
    const { runId, card } = await runUntilCard('File a ticket for order 4411', approver);
    const value = buttonValue(card, agentActionIds.approve);
    assert.ok(value);
    const own = await harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(own.kind, 'not_authorised');
    assert.match(own.message, /someone else has to approve/);
    const other = await harness.service.handleApprovalAction({
      workspaceId,
      userId: secondApprover,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(other.kind, 'decided');
    await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(harness.filed.length, 1);
    const audit = await harness.service.auditLog(workspaceId, runId);
    assert.ok(audit.some((entry) => entry.actor === approver && entry.result === 'refused_self_approval'));
  });

  test('a forged button value (wrong hash) decides nothing', async () => {
    scriptTicketRun();
    const { runId, request, card } = await runUntilCard();
    const value = buttonValue(card, agentActionIds.approve) ?? '';
    const forged = `${value.slice(0, -4)}0000`;
    const result = await harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.approve,
      value: forged === value ? `${value.slice(0, -4)}1111` : forged,
    });
    assert.equal(result.kind, 'hash_mismatch');
    assert.equal((await harness.approvals.get(workspaceId, request.requestId))?.status, 'pending');
    await harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.reject,
      value,
    });
    await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(harness.filed.length, 0);
  });

  test('a click replayed into another workspace finds nothing to decide', async () => {
    scriptTicketRun();
    const { runId, request, card } = await runUntilCard();
    const value = buttonValue(card, agentActionIds.approve) ?? '';
    const elsewhere = await harness.service.handleApprovalAction({
      workspaceId: 'T0OTHERTENANT',
      userId: approver,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(elsewhere.kind, 'not_found');
    assert.equal((await harness.approvals.get(workspaceId, request.requestId))?.status, 'pending');
    await harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.reject,
      value,
    });
    await harness.waitForRun(runId, (state) => state.status === 'ended');
  });

  test('a rejection is not executed and the run finishes with the rejection observed', async () => {
    scriptTicketRun('I did not file the ticket because it was rejected.');
    const { runId, request, card } = await runUntilCard();
    const value = buttonValue(card, agentActionIds.reject);
    assert.ok(value);
    const rejected = await harness.service.handleApprovalAction({
      workspaceId,
      userId: secondApprover,
      actionId: agentActionIds.reject,
      value,
    });
    assert.equal(rejected.kind, 'decided');
    const ended = await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(harness.filed.length, 0);
    assert.equal(ended.outcome?.kind, 'finished');
    const lastModelCall = harness.fake.chatCalls().at(-1) as { messages: { role: string; content: string }[] };
    assert.match(lastModelCall.messages.at(-1)?.content ?? '', /NOT performed/);
    const resolved = harness.messenger.current(request.card?.channel ?? '', request.card?.ts ?? '');
    assert.equal(hasButtons(resolved), false);
    assert.match(blockText(resolved), new RegExp(`Rejected\\* by <@${secondApprover}>`));
  });

  test('simultaneous approve and reject clicks from two approvers yield exactly one outcome', async () => {
    scriptTicketRun('Done.');
    const { runId, request: pending, card } = await runUntilCard();
    const value = buttonValue(card, agentActionIds.approve);
    assert.ok(value);
    const clicks = Array.from({ length: 12 }, (_, index) =>
      harness.service.handleApprovalAction({
        workspaceId,
        userId: index % 2 === 0 ? approver : secondApprover,
        actionId: index % 3 === 0 ? agentActionIds.reject : agentActionIds.approve,
        value,
      }),
    );
    const results = await Promise.all(clicks);
    const winners = results.filter((result) => result.kind === 'decided');
    assert.equal(winners.length, 1);
    assert.equal(results.filter((result) => result.kind === 'already_decided').length, 11);
    await harness.waitForRun(runId, (state) => state.status === 'ended');
    const request = await harness.approvals.get(workspaceId, pending.requestId);
    assert.ok(request);
    assert.equal(harness.filed.length, request.status === 'approved' ? 1 : 0);
    for (const result of results.filter((item) => item.kind === 'already_decided')) {
      assert.match(result.message, new RegExp(`Already ${request.status} by <@${request.decidedBy}>`));
    }
  });

  test('a worker restarted after the card was posted completes the run on approval', async () => {
    scriptTicketRun('Filed after the restart.');
    const { runId, card } = await runUntilCard();
    await harness.restartWorker();
    const value = buttonValue(card, agentActionIds.approve);
    assert.ok(value);
    const approved = await harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(approved.kind, 'decided');
    const ended = await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.answer, 'Filed after the restart.');
    assert.equal(harness.filed.length, 1);
  });

  test('an expired request is rejected, its card updated, and the run resumes without the write', async () => {
    scriptTicketRun('The approval expired, so nothing was filed.');
    const { runId, request } = await runUntilCard();
    assert.equal(await harness.service.sweepExpiredApprovals(), 0, 'nothing is due yet');
    harness.clock.offsetMs = 3601_000;
    assert.equal(await harness.service.sweepExpiredApprovals(), 1);
    assert.equal(await harness.service.sweepExpiredApprovals(), 0, 'expired exactly once');
    const ended = await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(harness.filed.length, 0);
    assert.equal(ended.outcome?.kind, 'finished');
    const stored = await harness.approvals.get(workspaceId, request.requestId);
    assert.equal(stored?.status, 'rejected');
    assert.equal(stored?.decidedBy, 'expiry');
    const resolved = harness.messenger.current(request.card?.channel ?? '', request.card?.ts ?? '');
    assert.equal(hasButtons(resolved), false);
    assert.match(blockText(resolved), /Expired/);
  });

  test('Stop from a bystander is refused; Stop from the requester ends a waiting run and cancels its card', async () => {
    scriptTicketRun();
    const { runId, request } = await runUntilCard();
    const refused = await harness.service.handleStopAction({ workspaceId, userId: bystander, value: runId });
    assert.equal(refused.kind, 'not_authorised');
    const stopping = await harness.service.handleStopAction({ workspaceId, userId: requester, value: runId });
    assert.equal(stopping.kind, 'stopping');
    const ended = await harness.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'stopped');
    assert.match(ended.outcome?.message ?? '', /Done so far: Search the channel's documents/);
    assert.equal(harness.filed.length, 0);
    const stored = await harness.approvals.get(workspaceId, request.requestId);
    assert.equal(stored?.status, 'rejected');
    assert.equal(stored?.reason, 'stopped');
    const resolved = harness.messenger.current(request.card?.channel ?? '', request.card?.ts ?? '');
    assert.equal(hasButtons(resolved), false);
    const late = await harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.approve,
      value:
        buttonValue(
          harness.messenger.posts.find((post) => blockText(post).includes(request.requestId)),
          agentActionIds.approve,
        ) ?? '',
    });
    assert.equal(late.kind, 'already_decided');
    assert.equal(harness.filed.length, 0, 'an approval after Stop does not run the tool');
    assert.equal(channelId, ended.channelId);
  });
});
