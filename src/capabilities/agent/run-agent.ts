/**
 * The bounded agent loop: plan, act, observe, decide (continue, revise, finish, escalate).
 *
 * Guarantees, enforced in code whatever the model or a document says:
 * - Bounds: model turns plus refused calls ≤ `maxSteps`; executed tool calls ≤ `maxToolCalls`; money spent
 *   (model calls through the gateway's reservations, which also hold the channel cap, plus tool costs) ≤
 *   `maxRunMicroUsd` (checked before each call against the declared tool cost and, when a price estimator is
 *   given, the model call's worst case); active wall-clock ≤ `maxRunMs` (time waiting for a human does not
 *   count). Reaching a bound with work left pauses the run on an approval card stating how much more
 *   continuing allows; Approve extends that bound once (bound to a hash of run, bound and amount), Reject or
 *   expiry ends the run with a clear message and what was done so far. Extensions never take a bound past 2× its
 *   configured value; at that ceiling the run ends. Errors that need a human (tool calls failing
 *   three times in a row, a model call that keeps failing) pause the same way.
 * - A tool outside the registry or with arguments that fail its schema is refused, fed back as an error
 *   observation and counted as a step. The same call (tool + canonical arguments) twice stops the run.
 * - A write tool never runs without an approved request whose hash matches the exact call being run.
 * - Agent model calls are never cached. Tool output returns to the model inside `<untrusted_data>`.
 * - The state is checkpointed after every step; a tool is marked in flight before it runs, so a crash during
 *   a non-idempotent call is escalated as uncertain instead of being repeated blindly.
 *
 * This file is the loop itself (one drive of a run, a model turn, the next queued call); the parts it drives live
 * beside it: `run-bounds.ts` (bounds and extension arithmetic), `agent-prompt.ts` (system prompt, plan tool),
 * `escalation.ts` (approval cards, pausing), `execute-tool.ts` (running a call, crash recovery), `decisions.ts`
 * (applying an approver's decision) and `agent-runtime.ts` (the runtime and the state edits they share).
 */
import { DeskhandError, toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { ChatMessage, ChatRequest, ChatResult } from '../../ports/language-model.ts';
import { truncate } from '../../slack-kit/mrkdwn.ts';
import { agentPromptVersion, planSchema, planTool, planToolName, systemPrompt } from './agent-prompt.ts';
import { type AgentRuntime, finish, respond, type Segment, scopeOf } from './agent-runtime.ts';
import type { ApprovalRequest } from './approval-request.ts';
import { applyDecision } from './decisions.ts';
import { cancelPendingApproval, ensureApprovalCard, escalate, reachBound } from './escalation.ts';
import { executeTool, recoverInFlight } from './execute-tool.ts';
import { effectiveLimit, formatBound } from './run-bounds.ts';
import { offerRunHandOver } from './run-hand-over.ts';
import type { PendingCall, RunState } from './run-state.ts';
import { callFingerprint } from './tool-registry.ts';

/** Failures worth retrying the step for (through the queue's backoff) before the run is ended as failed. */
const transientCodes = new Set<string>(['budget_unenforceable', 'upstream_unavailable', 'upstream_rate_limited']);
const maxTransientFailures = 3;

/**
 * Advances a run until it ends or waits for a human, checkpointing after every step. Idempotent on a state
 * that has ended. `decision` is an approval request that has just been decided (approved, rejected, expired).
 */
export async function driveRun(
  state: RunState,
  runtime: AgentRuntime,
  options: { decision?: ApprovalRequest } = {},
): Promise<RunState> {
  if (state.status === 'ended') return state;
  const now = runtime.now ?? Date.now;
  const segmentStart = now();
  const activeAtStart = state.activeMs;
  const segment: Segment = {
    deadline: segmentStart + Math.max(0, effectiveLimit(state, runtime.limits, 'time') - activeAtStart),
    now,
  };
  const tick = () => {
    state.activeMs = activeAtStart + (now() - segmentStart);
  };
  const logger = runtime.logger.child({ runId: state.runId, workspaceId: state.workspaceId });

  if (state.status === 'awaiting_approval') {
    const stopper = await runtime.runs.stopRequestedBy(state.workspaceId, state.runId);
    if (stopper) {
      await cancelPendingApproval(state, runtime, stopper);
      finish(state, 'stopped', `Stopped by <@${stopper}> while waiting for approval.`);
      await checkpoint(state, runtime);
      runtime.metrics?.runEnded('stopped');
      return state;
    }
    const decision = options.decision;
    if (!decision || decision.requestId !== state.awaiting?.requestId || decision.status === 'pending') {
      await ensureApprovalCard(state, runtime);
      return state;
    }
  }
  if (state.status === 'queued') state.status = 'running';
  if (!state.progress) await checkpoint(state, runtime);

  for (;;) {
    tick();
    const stopper = await runtime.runs.stopRequestedBy(state.workspaceId, state.runId);
    if (stopper) {
      if (state.awaiting) await cancelPendingApproval(state, runtime, stopper);
      finish(state, 'stopped', `Stopped by <@${stopper}>.`);
    } else if (state.awaiting && options.decision) {
      const decision = options.decision;
      delete options.decision;
      await applyDecision(state, runtime, decision, segment);
    } else if (now() >= segment.deadline) {
      await reachBound(
        state,
        runtime,
        'time',
        `The run used its ${formatBound('time', effectiveLimit(state, runtime.limits, 'time'))}.`,
      );
    } else if (state.inFlight) {
      await recoverInFlight(state, runtime, segment, logger);
    } else if (state.queue.length > 0) {
      await processNextCall(state, runtime, segment);
    } else {
      await modelTurn(state, runtime, segment, logger);
    }
    tick();
    await checkpoint(state, runtime);
    if (state.status !== 'running') break;
  }
  if (state.outcome) runtime.metrics?.runEnded(state.outcome.kind);
  return state;
}

async function checkpoint(state: RunState, runtime: AgentRuntime): Promise<void> {
  // Before the save and the final publish, so the stored run and its summary agree on the button.
  await offerRunHandOver(state, runtime.handOvers, (error) =>
    runtime.logger.warn({ err: error, runId: state.runId }, 'could not record the hand-over; no "Get a human" button'),
  );
  await runtime.runs.save(state);
  const hadProgress = state.progress !== undefined;
  await runtime.progress.publish(state, { wait: state.status !== 'running' });
  if (!hadProgress && state.progress) {
    // A run started outside a thread (a slash command) keeps its cards in the progress message's thread.
    if (!state.threadTs) state.threadTs = state.progress.ts;
    await runtime.runs.save(state);
  }
}

async function modelTurn(state: RunState, runtime: AgentRuntime, segment: Segment, logger: Logger): Promise<void> {
  const { limits } = runtime;
  const maxSteps = effectiveLimit(state, limits, 'steps');
  const maxRunMicroUsd = effectiveLimit(state, limits, 'cost');
  if (state.counters.steps >= maxSteps) {
    await reachBound(state, runtime, 'steps', `The run reached its limit of ${maxSteps} steps.`);
    return;
  }
  if (state.counters.spentMicroUsd >= maxRunMicroUsd) {
    await reachBound(state, runtime, 'cost', `The run used its budget of ${formatBound('cost', maxRunMicroUsd)}.`);
    return;
  }
  if (state.messages.length === 0) {
    state.messages.push(
      { role: 'system', content: systemPrompt(state, runtime.registry) },
      { role: 'user', content: state.goal },
    );
  }
  const request: ChatRequest = {
    purpose: 'agent_step',
    promptVersion: agentPromptVersion,
    messages: state.messages,
    maxOutputTokens: runtime.maxOutputTokensPerTurn,
    temperature: 0,
    tools: [planTool, ...runtime.registry.definitions()],
    toolChoice: state.plan.length === 0 ? { name: planToolName } : 'auto',
    cache: { enabled: false },
    deadline: segment.deadline,
    ...(runtime.model ? { model: runtime.model } : {}),
  };
  if (runtime.estimateChatCostMicroUsd) {
    // Counted once: the cap check below and the gateway's reservation use this count.
    request.inputTokens = runtime.gateway.countChatTokens(request);
    const worstCase = runtime.estimateChatCostMicroUsd(request);
    if (state.counters.spentMicroUsd + worstCase > maxRunMicroUsd) {
      await reachBound(
        state,
        runtime,
        'cost',
        `The next model call could exceed the run budget of ${formatBound('cost', maxRunMicroUsd)}, so I paused before making it.`,
      );
      return;
    }
  }
  let result: ChatResult;
  try {
    result = await runtime.gateway.chat(request, {
      workspaceId: state.workspaceId,
      channelId: state.channelId,
      userId: state.requesterId,
      requestId: `${state.runId}:turn:${state.counters.modelCalls + 1}`,
    });
  } catch (error) {
    await modelCallFailed(state, runtime, error, logger);
    return;
  }
  state.counters.steps += 1;
  state.counters.modelCalls += 1;
  state.counters.spentMicroUsd += result.costMicroUsd;
  const assistant: ChatMessage = {
    role: 'assistant',
    content: result.text === '' ? null : result.text,
    ...(result.toolCalls.length > 0 ? { toolCalls: result.toolCalls } : {}),
  };
  state.messages.push(assistant);
  if (result.toolCalls.length === 0) {
    const answer = result.text.trim();
    finish(state, 'finished', 'The agent finished.', answer === '' ? 'The agent ended without an answer.' : answer);
    return;
  }
  state.queue = result.toolCalls.map((call) => ({ id: call.id, name: call.name, argumentsJson: call.argumentsJson }));
}

/**
 * A model call failed: a transient failure is rethrown as retryable (the queue retries the step from the last
 * checkpoint, at most `maxTransientFailures` times); otherwise the run ends over budget or pauses on a bound.
 */
async function modelCallFailed(state: RunState, runtime: AgentRuntime, error: unknown, logger: Logger): Promise<void> {
  const coded = toDeskhandError(error);
  logger.warn({ err: coded, code: coded.code }, 'agent model call failed');
  if (transientCodes.has(coded.code) && state.counters.transientFailures < maxTransientFailures) {
    // The step is retried by the queue (with backoff) from the last checkpoint instead of ending the run.
    state.counters.transientFailures += 1;
    await runtime.runs.save(state);
    throw new DeskhandError(coded.code, `Agent step failed transiently: ${coded.message}`, {
      cause: coded,
      retryable: true,
    });
  }
  if (coded.code === 'over_budget') finish(state, 'over_budget', coded.userMessage);
  else if (coded.code === 'deadline_exceeded')
    await reachBound(state, runtime, 'time', 'The model did not answer in the working time left.');
  else await reachBound(state, runtime, 'errors', `The model call failed: ${coded.userMessage}`);
}

async function processNextCall(state: RunState, runtime: AgentRuntime, segment: Segment): Promise<void> {
  const call = state.queue.shift();
  if (!call) return;
  const fingerprint = callFingerprint(call.name, call.argumentsJson);
  if (state.fingerprints.includes(fingerprint)) {
    respond(state, call, 'Refused: this exact call was already made.');
    finish(
      state,
      'loop_detected',
      `The agent asked for \`${truncate(call.name, 64)}\` with the same arguments again, so I stopped the run.`,
    );
    return;
  }
  state.fingerprints.push(fingerprint);

  if (call.name === planToolName) {
    recordPlan(state, call);
    return;
  }

  const validation = runtime.registry.validate(call.name, call.argumentsJson);
  if (!validation.ok) {
    state.counters.steps += 1;
    state.steps.push({
      title: `Refused a call to ${truncate(call.name, 64)}`,
      state: 'error',
      detail: validation.message,
    });
    respond(state, call, `Error: ${validation.message}`);
    return;
  }
  const { tool, args, canonicalArguments } = validation;
  const maxToolCalls = effectiveLimit(state, runtime.limits, 'tool_calls');
  if (state.counters.toolCalls >= maxToolCalls) {
    await reachBound(state, runtime, 'tool_calls', `The run reached its limit of ${maxToolCalls} tool calls.`, {
      call,
      fingerprint,
    });
    return;
  }
  const maxRunMicroUsd = effectiveLimit(state, runtime.limits, 'cost');
  if (state.counters.spentMicroUsd + tool.costMicroUsd > maxRunMicroUsd) {
    await reachBound(
      state,
      runtime,
      'cost',
      `Calling \`${tool.name}\` would exceed the run budget of ${formatBound('cost', maxRunMicroUsd)}.`,
      { call, fingerprint },
    );
    return;
  }
  const effect = tool.describe(args, scopeOf(state));
  if (tool.risk === 'write') {
    const stepIndex = state.steps.push({ title: effect.summary, state: 'pending', detail: 'waiting for approval' }) - 1;
    await escalate(state, runtime, { call, tool, canonicalArguments, effect, kind: 'write', stepIndex });
    return;
  }
  const stepIndex = state.steps.push({ title: effect.summary, state: 'in_progress' }) - 1;
  await executeTool(state, runtime, segment, {
    call,
    tool,
    args,
    stepIndex,
    idempotencyKey: `${state.runId}:${fingerprint.slice(0, 32)}`,
  });
}

/** The model stated or revised its plan: recorded if it matches the plan schema, else refused as a step. */
function recordPlan(state: RunState, call: PendingCall): void {
  const parsed = safeJson(call.argumentsJson);
  const plan = planSchema.safeParse(parsed);
  if (!plan.success) {
    state.counters.steps += 1;
    state.steps.push({
      title: 'Refused an invalid plan',
      state: 'error',
      detail: 'the plan did not match its schema',
    });
    respond(state, call, `Error: invalid plan: ${plan.error.issues.map((issue) => issue.message).join('; ')}`);
    return;
  }
  state.plan = plan.data.steps;
  respond(state, call, 'Plan recorded.');
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
