/**
 * Applying a human's decision (approved, rejected, expired, stopped) on the approval request a run waits for.
 *
 * Guarantees: a decision for any other request than the awaited one changes nothing; an approved write runs only
 * if the request's hash matches the exact pending call (tool, canonical arguments, target, workspace) and runs
 * once, with the request id as idempotency key; an approved extension grows its bound by exactly the amount the
 * card showed, only if the hash matches and the 2× ceiling holds; every refusal is audited; a call that was not
 * approved is fed back to the model as not performed.
 */
import { type AgentRuntime, finish, respond, type Segment, scopeOf } from './agent-runtime.ts';
import { approvalHash } from './approval-hash.ts';
import type { ApprovalRequest } from './approval-request.ts';
import { executeTool } from './execute-tool.ts';
import { boundOutcomes, effectiveLimit, extensionFor, extensionHash, formatBound, formatMore } from './run-bounds.ts';
import type { BoundName, RunState } from './run-state.ts';

export async function applyDecision(
  state: RunState,
  runtime: AgentRuntime,
  request: ApprovalRequest,
  segment: Segment,
): Promise<void> {
  const awaiting = state.awaiting;
  if (!awaiting || awaiting.requestId !== request.requestId) return;
  state.awaiting = undefined;
  state.status = 'running';
  const step = state.steps[awaiting.stepIndex];
  const why =
    request.reason === 'expired'
      ? 'the approval request expired'
      : request.reason === 'stopped'
        ? 'the run was stopped'
        : `rejected by <@${request.decidedBy}>`;
  if (awaiting.extension) {
    await applyExtension(state, runtime, request, { ...awaiting.extension, step, why }, segment);
    return;
  }
  const { call } = awaiting;
  if (!call) return;
  if (request.status !== 'approved') {
    if (step) {
      step.state = 'error';
      step.detail = `not run: ${why}`;
    }
    respond(
      state,
      call,
      `The human reviewer did not approve this call (${request.reason === 'expired' ? 'expired' : 'rejected'}). ` +
        'It was NOT performed. Do not repeat it: finish, or take another approach.',
    );
    return;
  }
  const validation = runtime.registry.validate(call.name, call.argumentsJson);
  const effect = validation.ok ? validation.tool.describe(validation.args as never, scopeOf(state)) : undefined;
  const hash =
    validation.ok && effect
      ? approvalHash({
          tool: call.name,
          canonicalArguments: validation.canonicalArguments,
          target: effect.target,
          workspaceId: state.workspaceId,
        })
      : undefined;
  if (!validation.ok || hash !== request.hash) {
    await runtime.approvals.appendAudit(state.workspaceId, state.runId, {
      at: segment.now(),
      requestId: request.requestId,
      actor: 'agent',
      action: 'execute',
      result: 'refused_hash_mismatch',
    });
    if (step) {
      step.state = 'error';
      step.detail = 'not run: the approved action does not match the pending call';
    }
    respond(state, call, 'Error: the approval did not match this call, so it was not performed.');
    return;
  }
  await executeTool(state, runtime, segment, {
    call,
    tool: validation.tool,
    args: validation.args,
    stepIndex: awaiting.stepIndex,
    idempotencyKey: request.requestId,
    approval: request,
  });
}

/** Approved: the bound grows by exactly the amount the card showed (hash-checked) and the run resumes. */
async function applyExtension(
  state: RunState,
  runtime: AgentRuntime,
  request: ApprovalRequest,
  input: { bound: BoundName; amount: number; step: RunState['steps'][number] | undefined; why: string },
  segment: Segment,
): Promise<void> {
  const { bound, amount, step } = input;
  const reached =
    bound === 'errors'
      ? 'The run stopped after errors'
      : `The run reached its limit of ${formatBound(bound, effectiveLimit(state, runtime.limits, bound))}`;
  if (request.status !== 'approved') {
    if (step) {
      step.state = 'error';
      step.detail = `not continued: ${input.why}`;
    }
    finish(state, boundOutcomes[bound], `${reached}; continuing was not approved (${input.why}).`);
    return;
  }
  const within = extensionFor(state, runtime.limits, bound) >= amount;
  if (request.hash !== extensionHash(state, bound, amount) || !within) {
    await runtime.approvals.appendAudit(state.workspaceId, state.runId, {
      at: segment.now(),
      requestId: request.requestId,
      actor: 'agent',
      action: 'extend',
      result: within ? 'refused_hash_mismatch' : 'refused_over_ceiling',
    });
    if (step) {
      step.state = 'error';
      step.detail = 'not continued: the approval does not match this extension';
    }
    finish(state, boundOutcomes[bound], `${reached}; the approval did not match the requested extension.`);
    return;
  }
  state.extensions = { ...state.extensions, [bound]: (state.extensions?.[bound] ?? 0) + amount };
  if (bound === 'errors') {
    state.failureStreak = 0;
    state.counters.transientFailures = 0;
  }
  if (bound === 'time') {
    segment.deadline = segment.now() + Math.max(0, effectiveLimit(state, runtime.limits, 'time') - state.activeMs);
  }
  await runtime.approvals.appendAudit(state.workspaceId, state.runId, {
    at: segment.now(),
    requestId: request.requestId,
    actor: 'agent',
    action: 'extend',
    result: 'applied',
    detail: `${bound} +${amount} → ${effectiveLimit(state, runtime.limits, bound)}`,
  });
  if (step) {
    step.state = 'complete';
    step.detail =
      bound === 'errors'
        ? `continued by <@${request.decidedBy}>`
        : `<@${request.decidedBy}> allowed ${formatMore(bound, amount)}`;
  }
}
