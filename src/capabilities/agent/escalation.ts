/**
 * Escalation: pausing a run on an approval card — for a write call, for a call that may or may not have
 * happened, or for a reached bound — and keeping those cards in step with their requests.
 *
 * Guarantees: the approval request is persisted and the run saved as awaiting it before the card is posted (a
 * crash in between is repaired by `ensureApprovalCard`); a bound at its 2× ceiling ends the run instead of asking
 * again; a call paused on a bound goes back to the front of the queue, so an approval resumes exactly there.
 */
import { truncate } from '../../slack-kit/mrkdwn.ts';
import { type AgentRuntime, finish, respond } from './agent-runtime.ts';
import { renderApprovalCard, renderResolvedApprovalCard } from './approval-card.ts';
import type { ApprovalKind, ApprovalRequest } from './approval-request.ts';
import {
  baseLimit,
  boundOutcomes,
  continueRunToolName,
  effectiveLimit,
  extensionArguments,
  extensionFor,
  formatBound,
  formatMore,
  maxErrorContinuations,
} from './run-bounds.ts';
import type { BoundName, PendingCall, RunState } from './run-state.ts';
import type { AgentTool, ToolEffect } from './tool-registry.ts';

/**
 * A bound was reached with work left: pause and ask an approver to extend it once (the card says by how much),
 * or, when the bound is already at its 2× ceiling, end the run with what was done so far. `call` is the call
 * that was about to run: it goes back to the front of the queue so an approval resumes exactly there.
 */
export async function reachBound(
  state: RunState,
  runtime: AgentRuntime,
  bound: BoundName,
  reason: string,
  pending?: { call: PendingCall; fingerprint: string },
): Promise<void> {
  const amount = extensionFor(state, runtime.limits, bound);
  if (amount <= 0) {
    if (pending) respond(state, pending.call, 'Refused: the run reached a limit.');
    const ceiling =
      bound === 'errors'
        ? ` Approvers already let it continue after errors ${maxErrorContinuations} times, the most allowed.`
        : ` It was already extended to ${formatBound(bound, effectiveLimit(state, runtime.limits, bound))}, twice the configured limit and the most allowed.`;
    finish(state, boundOutcomes[bound], `${reason}${ceiling}`);
    return;
  }
  if (pending) {
    state.queue.unshift(pending.call);
    if (state.fingerprints.at(-1) === pending.fingerprint) state.fingerprints.pop();
  }
  const current = effectiveLimit(state, runtime.limits, bound);
  const ceiling = 2 * baseLimit(runtime.limits, bound);
  const summary =
    bound === 'errors'
      ? `Let the agent try again after these errors (continuation ${(state.extensions?.errors ?? 0) + 1} of at most ${ceiling / 2}). Reject to end the run with a summary.`
      : `Allow ${formatMore(bound, amount)} (limit ${formatBound(bound, current)} → ${formatBound(bound, current + amount)}; at most ${formatBound(bound, ceiling)}) and resume the run. Reject to end it with a summary.`;
  const stepIndex =
    state.steps.push({
      title: truncate(`${reason} Asked to continue.`, 200),
      state: 'pending',
      detail: 'waiting for approval',
    }) - 1;
  await pause(
    state,
    runtime,
    {
      kind: bound === 'errors' ? 'continue_after_errors' : 'extend_bound',
      tool: continueRunToolName,
      canonicalArguments: extensionArguments(state.runId, bound, amount),
      target: `run:${state.runId}`,
      summary: `${reason} ${summary}`,
      toolCallId: '',
    },
    { stepIndex, extension: { bound, amount } },
  );
}

/** Persists an approval request (before the card), pauses the run and posts the card. */
async function pause(
  state: RunState,
  runtime: AgentRuntime,
  fields: Pick<ApprovalRequest, 'kind' | 'tool' | 'canonicalArguments' | 'target' | 'summary' | 'toolCallId'>,
  awaiting: Omit<NonNullable<RunState['awaiting']>, 'requestId'>,
): Promise<void> {
  const request = await runtime.approvals.create({
    runId: state.runId,
    workspaceId: state.workspaceId,
    channelId: state.channelId,
    threadTs: state.threadTs,
    requesterId: state.requesterId,
    ...fields,
  });
  state.awaiting = { requestId: request.requestId, ...awaiting };
  state.status = 'awaiting_approval';
  await runtime.runs.save(state);
  await postApprovalCard(runtime, request);
}

/** Escalates a write call: the card states exactly what the tool will do. */
export async function escalate(
  state: RunState,
  runtime: AgentRuntime,
  input: {
    call: PendingCall;
    tool: AgentTool;
    canonicalArguments: string;
    effect: ToolEffect;
    kind: ApprovalKind;
    stepIndex: number;
  },
): Promise<void> {
  await pause(
    state,
    runtime,
    {
      kind: input.kind,
      tool: input.tool.name,
      canonicalArguments: input.canonicalArguments,
      target: input.effect.target,
      summary: input.effect.summary,
      toolCallId: input.call.id,
    },
    { call: input.call, stepIndex: input.stepIndex },
  );
}

async function postApprovalCard(runtime: AgentRuntime, request: ApprovalRequest): Promise<void> {
  const posted = await runtime.messenger.post(renderApprovalCard(request));
  await runtime.approvals.attachCard(request.workspaceId, request.requestId, {
    channel: posted.channel,
    ts: posted.ts,
  });
}

/** Re-posts the card of the awaited request if a crash happened between storing it and posting it. */
export async function ensureApprovalCard(state: RunState, runtime: AgentRuntime): Promise<void> {
  if (!state.awaiting) return;
  const request = await runtime.approvals.get(state.workspaceId, state.awaiting.requestId);
  if (request && request.status === 'pending' && !request.card) await postApprovalCard(runtime, request);
}

/** Updates a decided request's card: buttons removed, who decided shown. Safe to repeat. */
export async function resolveApprovalCard(
  runtime: Pick<AgentRuntime, 'messenger' | 'logger'>,
  request: ApprovalRequest,
): Promise<void> {
  if (!request.card || request.status === 'pending') return;
  try {
    await runtime.messenger.update({ ...renderResolvedApprovalCard(request), ...request.card });
  } catch (error) {
    runtime.logger.warn({ err: error, requestId: request.requestId }, 'approval card could not be updated');
  }
}

export async function cancelPendingApproval(state: RunState, runtime: AgentRuntime, stopper: string): Promise<void> {
  if (!state.awaiting) return;
  const cancelled = await runtime.approvals.cancel(state.workspaceId, state.awaiting.requestId, stopper);
  if (cancelled) await resolveApprovalCard(runtime, cancelled);
  const step = state.steps[state.awaiting.stepIndex];
  if (step) {
    step.state = 'error';
    step.detail = 'not run: the run was stopped';
  }
  state.awaiting = undefined;
}
