/**
 * Running one validated tool call, and recovering a call a crash interrupted.
 *
 * Guarantees: a write tool never runs without an approver (`approval` or `approvedBy`), and its start, finish or
 * failure is audited, the start before the in-flight checkpoint; the call is marked in flight and checkpointed
 * before it runs, so after a crash an idempotent call is re-run with the same idempotency key and a
 * non-idempotent one is escalated as uncertain instead of being repeated blindly; a call never outlives its own
 * timeout or the run's working time; its output returns to the model inside `<untrusted_data>`, truncated;
 * tool calls failing `repeatedFailureLimit` times in a row pause the run on the `errors` bound.
 */
import { DeskhandError, toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { truncate } from '../../slack-kit/mrkdwn.ts';
import { type AgentRuntime, finish, respond, type Segment, scopeOf } from './agent-runtime.ts';
import type { ApprovalRequest, AuditEntry } from './approval-request.ts';
import { escalate, reachBound } from './escalation.ts';
import type { PendingCall, RunState } from './run-state.ts';
import { type AgentTool, canonicalJson, type ToolOutput } from './tool-registry.ts';
import { wrapUntrusted } from './untrusted.ts';

/** Tool calls failing in a row before a human is asked whether the run should go on. */
export const repeatedFailureLimit = 3;

const observationChars = 6000;

/** A validated call about to run: which step shows it, its idempotency key and, for a write, who approved it. */
export interface ToolExecution {
  call: PendingCall;
  tool: AgentTool;
  args: unknown;
  stepIndex: number;
  idempotencyKey: string;
  approval?: ApprovalRequest;
  approvedBy?: string;
}

type Step = RunState['steps'][number] | undefined;

export async function executeTool(
  state: RunState,
  runtime: AgentRuntime,
  segment: Segment,
  input: ToolExecution,
): Promise<void> {
  const { tool, stepIndex } = input;
  const approvedBy = input.approval?.decidedBy ?? input.approvedBy;
  const step = state.steps[stepIndex];
  if (tool.risk === 'write' && !approvedBy) {
    // Unreachable by construction; kept as the last line of defence for the write-needs-approval invariant.
    throw new DeskhandError('internal', `Write tool ${tool.name} reached execution without an approval`);
  }
  const startedAt = segment.now();
  await markInFlight(state, runtime, input, { step, startedAt, approvedBy });
  const controller = new AbortController();
  const toolDeadline = Math.min(segment.deadline, startedAt + tool.timeoutMs);
  const timeoutError = new DeskhandError('deadline_exceeded', `Tool ${tool.name} timed out`, {
    userMessage: `timed out after ${Math.round((toolDeadline - startedAt) / 1000)} s`,
  });
  let timer: NodeJS.Timeout | undefined;
  let failedRepeatedly: string | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        controller.abort(timeoutError);
        reject(timeoutError);
      },
      Math.max(0, toolDeadline - startedAt),
    );
  });
  try {
    const output = await Promise.race([
      tool.run(input.args, {
        runId: state.runId,
        workspaceId: state.workspaceId,
        channelId: state.channelId,
        threadTs: state.threadTs,
        requesterId: state.requesterId,
        ...(state.documentScope ? { documentScope: state.documentScope } : {}),
        ...(approvedBy ? { approvedBy } : {}),
        signal: controller.signal,
        deadline: toolDeadline,
        idempotencyKey: input.idempotencyKey,
      }),
      timedOut,
    ]);
    await recordSuccess(state, runtime, segment, input, { step, output });
  } catch (error) {
    failedRepeatedly = await recordFailure(state, runtime, segment, input, { step, error });
  } finally {
    clearTimeout(timer);
    state.inFlight = undefined;
  }
  // After the in-flight marker is cleared, so the paused checkpoint never looks like a crashed call.
  if (failedRepeatedly !== undefined) {
    await reachBound(
      state,
      runtime,
      'errors',
      `Tool calls failed ${state.failureStreak ?? repeatedFailureLimit} times in a row (last: ${tool.name}: ${truncate(failedRepeatedly, 160)}).`,
    );
  }
}

/** Marks the call in flight (audited first for a write) and checkpoints, so a crash from here on is recoverable. */
async function markInFlight(
  state: RunState,
  runtime: AgentRuntime,
  input: ToolExecution,
  at: { step: Step; startedAt: number; approvedBy: string | undefined },
): Promise<void> {
  const { call, tool, stepIndex } = input;
  const { step, startedAt, approvedBy } = at;
  state.inFlight = {
    call,
    stepIndex,
    startedAt,
    idempotencyKey: input.idempotencyKey,
    ...(approvedBy ? { approvedBy } : {}),
  };
  if (step) {
    step.state = 'in_progress';
    delete step.detail;
  }
  // Audited before the in-flight checkpoint, so a crash after the checkpoint always has its "started" entry.
  await auditExecution(state, runtime, input, {
    at: startedAt,
    result: 'started',
    detail: `${tool.name} ${canonicalJson(input.args)}`,
  });
  await runtime.runs.save(state);
  await runtime.progress.publish(state);
}

async function recordSuccess(
  state: RunState,
  runtime: AgentRuntime,
  segment: Segment,
  input: ToolExecution,
  result: { step: Step; output: ToolOutput },
): Promise<void> {
  const { tool } = input;
  const { output } = result;
  countCall(state, runtime, input, {
    step: result.step,
    outcome: 'ok',
    costMicroUsd: output.costMicroUsd ?? tool.costMicroUsd,
    detail: truncate(output.content.split('\n')[0] ?? '', 120),
    reply: wrapUntrusted(tool.name, truncate(output.content, observationChars)),
  });
  state.failureStreak = 0;
  await auditExecution(state, runtime, input, { at: segment.now(), result: 'finished' });
}

/** What every finished call records, success or failure: its count and cost, its step, the model's reply, the metric. */
function countCall(
  state: RunState,
  runtime: AgentRuntime,
  input: ToolExecution,
  result: { step: Step; outcome: 'ok' | 'error'; costMicroUsd: number; detail: string; reply: string },
): void {
  state.counters.toolCalls += 1;
  state.counters.spentMicroUsd += result.costMicroUsd;
  if (result.step) {
    result.step.state = result.outcome === 'ok' ? 'complete' : 'error';
    result.step.detail = result.detail;
  }
  respond(state, input.call, result.reply);
  runtime.metrics?.toolCall(input.tool.name, result.outcome);
}

/** A write tool's `execute` entry in the run's audit log (`started`, `finished`, `failed:<code>`); reads leave none. */
async function auditExecution(
  state: RunState,
  runtime: AgentRuntime,
  input: ToolExecution,
  entry: Pick<AuditEntry, 'at' | 'result' | 'detail'>,
): Promise<void> {
  if (input.tool.risk !== 'write') return;
  await runtime.approvals.appendAudit(state.workspaceId, state.runId, {
    at: entry.at,
    ...(input.approval ? { requestId: input.approval.requestId } : {}),
    actor: 'agent',
    action: 'execute',
    result: entry.result,
    ...(entry.detail === undefined ? {} : { detail: entry.detail }),
  });
}

/** Records a failed (or timed-out) call; returns its message when failures in a row reached the limit. */
async function recordFailure(
  state: RunState,
  runtime: AgentRuntime,
  segment: Segment,
  input: ToolExecution,
  result: { step: Step; error: unknown },
): Promise<string | undefined> {
  const { tool } = input;
  const coded = toDeskhandError(result.error);
  countCall(state, runtime, input, {
    step: result.step,
    outcome: 'error',
    costMicroUsd: tool.costMicroUsd,
    detail: coded.userMessage,
    reply: `Error: ${tool.name} failed (${coded.code}): ${coded.userMessage}`,
  });
  state.failureStreak = (state.failureStreak ?? 0) + 1;
  await auditExecution(state, runtime, input, { at: segment.now(), result: `failed:${coded.code}` });
  if (coded.code === 'over_budget') finish(state, 'over_budget', coded.userMessage);
  else if (state.failureStreak >= repeatedFailureLimit) return coded.userMessage;
  return undefined;
}

/**
 * A call was in flight when the process stopped: an idempotent tool runs again with the same idempotency key; a
 * non-idempotent one is escalated as uncertain ("may already have happened") for a human to decide.
 */
export async function recoverInFlight(
  state: RunState,
  runtime: AgentRuntime,
  segment: Segment,
  logger: Logger,
): Promise<void> {
  const inFlight = state.inFlight;
  if (!inFlight) return;
  state.inFlight = undefined;
  const { call, stepIndex } = inFlight;
  const validation = runtime.registry.validate(call.name, call.argumentsJson);
  const step = state.steps[stepIndex];
  if (!validation.ok) {
    if (step) {
      step.state = 'error';
      step.detail = 'interrupted by a restart; the tool is no longer available';
    }
    respond(state, call, 'Error: this call was interrupted by a restart and cannot be resumed.');
    return;
  }
  const { tool, args, canonicalArguments } = validation;
  if (tool.idempotent) {
    logger.info({ tool: tool.name }, 'agent re-running an idempotent call interrupted by a restart');
    await executeTool(state, runtime, segment, {
      call,
      tool,
      args,
      stepIndex,
      idempotencyKey: inFlight.idempotencyKey,
      ...(inFlight.approvedBy ? { approvedBy: inFlight.approvedBy } : {}),
    });
    return;
  }
  logger.warn({ tool: tool.name }, 'agent escalating a non-idempotent call interrupted by a restart');
  const effect = tool.describe(args, scopeOf(state));
  if (step) {
    step.state = 'pending';
    step.detail = 'interrupted by a restart: may or may not have happened; waiting for a human';
  }
  await escalate(state, runtime, {
    call,
    tool,
    canonicalArguments,
    effect: { ...effect, summary: `(may already have happened) ${effect.summary}` },
    kind: 'uncertain_write',
    stepIndex,
  });
}
