/**
 * The agent's entry points for the Slack listeners. Each is cheap (Redis only) so it fits before the 3 s ack.
 * `agent-handlers.ts` adapts them to the router's `task` route and the listeners' action handlers:
 *
 * ```ts
 * const { service, queue } = createAgent({ … });                 // src/composition/create-agent.ts
 * queue.startWorker();
 * const stopSweeper = service.startExpirySweeper(30_000);
 * handlers.task = createTaskHandler(service);                    // `/agent <goal>` and task mentions
 * interactions.actions[actions.approvalApprove] = createApprovalActionHandler(service);
 * interactions.actions[actions.approvalReject] = createApprovalActionHandler(service);
 * interactions.actions[actions.agentStop] = createStopActionHandler(service);
 * ```
 * Approve/Reject must be decided BEFORE the click is acked (docs/platform-facts.md, Approvals): in the action listener,
 * `const outcome = await handler(request); await ack();` for those two ids, then post the reply ephemerally.
 * `workspaceId` is the tenant (`context_enterprise_id` or `context_team_id`), never the envelope's team alone.
 */

import type { Logger } from '../../observability/logger.ts';
import type { DocumentScopeOverride } from '../../ports/capability.ts';
import { agentActionIds } from '../../slack-kit/agent-ids.ts';
import type { AgentRuntime } from './agent-runtime.ts';
import { parseApprovalButtonValue } from './approval-hash.ts';
import type { ApprovalRequest, AuditEntry, Decision, DecisionOutcome } from './approval-request.ts';
import type { ApprovalStore } from './approval-store.ts';
import type { AgentRunQueue } from './run-queue.ts';
import { newRunState, type RunStateStore } from './run-state.ts';

export type StartRunResult = { kind: 'started'; runId: string; message: string } | { kind: 'invalid'; message: string };

export type ApprovalActionResult = {
  kind: 'decided' | 'already_decided' | 'expired' | 'not_authorised' | 'not_found' | 'hash_mismatch' | 'invalid';
  message: string;
};

export type StopActionResult = { kind: 'stopping' | 'not_authorised' | 'not_found' | 'already_ended'; message: string };

const maxGoalChars = 2000;
const auditTextChars = 3500;

/** The audit log as plain text, oldest first, cut to fit one message. */
export function renderAuditLog(runId: string, entries: AuditEntry[]): string {
  if (entries.length === 0) return `Run ${runId}: no approval requests or decisions were recorded.`;
  const lines = entries.map((entry) => {
    const actor = /^[UW][A-Z0-9]+$/.test(entry.actor) ? `<@${entry.actor}>` : entry.actor;
    const decided = entry.decidedBy && entry.result === 'already_decided' ? ` (decided by ${entry.decidedBy})` : '';
    return `${new Date(entry.at).toISOString()} · ${actor} · ${entry.action} → ${entry.result}${decided}`;
  });
  let text = `Audit log of run ${runId}:`;
  for (const [index, line] of lines.entries()) {
    if (text.length + line.length + 1 > auditTextChars) {
      text += `\n… and ${lines.length - index} more entries`;
      break;
    }
    text += `\n${line}`;
  }
  return text;
}

export class AgentService {
  readonly #runtime: AgentRuntime;
  readonly #queue: AgentRunQueue;
  readonly #approvals: ApprovalStore;
  readonly #runs: RunStateStore;
  readonly #logger: Logger;
  readonly #now: () => number;

  constructor(options: { runtime: AgentRuntime; queue: AgentRunQueue; logger: Logger }) {
    this.#runtime = options.runtime;
    this.#queue = options.queue;
    this.#approvals = options.runtime.approvals;
    this.#runs = options.runtime.runs;
    this.#logger = options.logger.child({ component: 'agent' });
    this.#now = options.runtime.now ?? Date.now;
  }

  /** Checkpoints a new run and queues it. Resolves once both are in Redis; the run itself happens later. */
  async startRun(input: {
    workspaceId: string;
    channelId: string;
    threadTs?: string;
    userId: string;
    goal: string;
    /** Set for a request from Slack's assistant view: whose documents the run may read (see `RunState`). */
    documentScope?: DocumentScopeOverride;
  }): Promise<StartRunResult> {
    const goal = input.goal.trim();
    if (goal === '')
      return {
        kind: 'invalid',
        message: 'Tell me what to do, for example `/agent summarise this thread and file a ticket`.',
      };
    if (goal.length > maxGoalChars) {
      return {
        kind: 'invalid',
        message: `That goal is ${goal.length} characters long; please keep it under ${maxGoalChars}.`,
      };
    }
    const state = newRunState({
      workspaceId: input.workspaceId,
      channelId: input.channelId,
      threadTs: input.threadTs,
      requesterId: input.userId,
      goal,
      documentScope: input.documentScope,
      now: this.#now(),
    });
    await this.#runs.saveNew(state);
    await this.#queue.enqueue({ kind: 'start', workspaceId: input.workspaceId, runId: state.runId });
    this.#logger.info(
      { runId: state.runId, workspaceId: input.workspaceId, channelId: input.channelId },
      'agent run queued',
    );
    return { kind: 'started', runId: state.runId, message: 'On it. I will post my progress in the thread.' };
  }

  /**
   * Handles an Approve or Reject click. Await it before acking: the decision is in Redis when it resolves.
   * The run is resumed by a queued job; the message is for the clicker (ephemeral).
   */
  async handleApprovalAction(input: {
    workspaceId: string;
    userId: string;
    actionId: string;
    value: string;
  }): Promise<ApprovalActionResult> {
    const parsed = parseApprovalButtonValue(input.value);
    const decision = decisionOf(input.actionId);
    if (!parsed || !decision) {
      this.#logger.warn({ actionId: input.actionId, userId: input.userId }, 'malformed approval action');
      return { kind: 'invalid', message: 'That button is not valid any more.' };
    }
    const outcome = await this.#approvals.decide({
      workspaceId: input.workspaceId,
      userId: input.userId,
      decision,
      ...parsed,
    });
    this.#runtime.metrics?.approval(approvalMetric(outcome));
    switch (outcome.kind) {
      case 'not_authorised':
        this.#logger.warn(
          { code: 'not_authorised', userId: input.userId, requestId: parsed.requestId, reason: outcome.reason },
          'approval attempt refused',
        );
        return { kind: 'not_authorised', message: notAuthorisedMessage(outcome.reason) };
      case 'not_found':
        return { kind: 'not_found', message: 'This approval request no longer exists.' };
      case 'hash_mismatch':
        this.#logger.warn({ userId: input.userId, requestId: parsed.requestId }, 'approval hash mismatch');
        return {
          kind: 'hash_mismatch',
          message: 'This button does not match the pending request, so nothing was decided.',
        };
      default: {
        const { request } = outcome;
        // Resumes are idempotent; queuing on every outcome also recovers a decision whose resume was lost.
        await this.#queue.enqueue({
          kind: 'resume',
          workspaceId: request.workspaceId,
          runId: request.runId,
          requestId: request.requestId,
        });
        return settledApprovalResult(outcome);
      }
    }
  }

  /** Handles a Stop click: the requester or an approver may stop a run; it ends at the next step boundary. */
  async handleStopAction(input: { workspaceId: string; userId: string; value: string }): Promise<StopActionResult> {
    const state = await this.#runs.load(input.workspaceId, input.value);
    if (!state) return { kind: 'not_found', message: 'I could not find that run.' };
    if (state.status === 'ended') return { kind: 'already_ended', message: 'That run has already ended.' };
    const allowed =
      input.userId === state.requesterId || (await this.#approvals.isApprover(input.userId, input.workspaceId));
    await this.#approvals.appendAudit(input.workspaceId, state.runId, {
      at: this.#now(),
      actor: input.userId,
      action: 'stop',
      result: allowed ? 'requested' : 'refused_not_authorised',
    });
    if (!allowed)
      return { kind: 'not_authorised', message: 'Only the person who started the run or an approver can stop it.' };
    await this.#runs.requestStop(input.workspaceId, state.runId, input.userId);
    await this.#queue.enqueue({ kind: 'stop', workspaceId: input.workspaceId, runId: state.runId });
    return { kind: 'stopping', message: 'Stopping at the next step.' };
  }

  /** Every request, attempt and decision of a run, oldest first. */
  auditLog(workspaceId: string, runId: string): Promise<AuditEntry[]> {
    return this.#approvals.auditLog(workspaceId, runId);
  }

  /**
   * The audit log of a run as text, for the requester of the run or an approver (`/agent audit <run id>`);
   * anyone else is refused, and the attempt is audited.
   */
  async viewAudit(input: { workspaceId: string; userId: string; runId: string }): Promise<{
    kind: 'shown' | 'not_authorised' | 'not_found';
    message: string;
  }> {
    const state = await this.#runs.load(input.workspaceId, input.runId);
    if (!state) return { kind: 'not_found', message: `I could not find run ${input.runId} in this workspace.` };
    const allowed =
      input.userId === state.requesterId || (await this.#approvals.isApprover(input.userId, input.workspaceId));
    if (!allowed) {
      await this.#approvals.appendAudit(input.workspaceId, state.runId, {
        at: this.#now(),
        actor: input.userId,
        action: 'view_audit',
        result: 'refused_not_authorised',
      });
      return {
        kind: 'not_authorised',
        message: 'Only the person who started the run or an approver can see its audit log.',
      };
    }
    const entries = await this.#approvals.auditLog(input.workspaceId, state.runId);
    return { kind: 'shown', message: renderAuditLog(state.runId, entries) };
  }

  /** Expires due approval requests (as rejected), updates their cards and resumes their runs. Returns how many. */
  sweepExpiredApprovals(): Promise<number> {
    return this.#queue.sweepExpiredApprovals();
  }

  /**
   * Runs the expiry sweep every `intervalMs` on this replica; returns a function that stops it. Not needed when
   * the queue's worker runs (it schedules the sweep itself); useful for a replica without a worker.
   */
  startExpirySweeper(intervalMs: number): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.sweepExpiredApprovals()
        .catch((error: unknown) => this.#logger.warn({ err: error }, 'approval expiry sweep failed'))
        .finally(() => {
          running = false;
        });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

function decisionOf(actionId: string): Decision | undefined {
  if (actionId === agentActionIds.approve) return 'approved';
  if (actionId === agentActionIds.reject) return 'rejected';
  return undefined;
}

/** The approval metric's label: the new status, `refused_<reason>`, or the outcome's kind. */
function approvalMetric(outcome: DecisionOutcome): string {
  if (outcome.kind === 'decided') return outcome.request.status;
  if (outcome.kind === 'not_authorised') return `refused_${outcome.reason}`;
  return outcome.kind;
}

function notAuthorisedMessage(reason: Extract<DecisionOutcome, { kind: 'not_authorised' }>['reason']): string {
  if (reason === 'self_approval') return 'You started this run, so someone else has to approve it.';
  if (reason === 'unverified')
    return 'I could not verify that you are in the approver group (the lookup failed), so nothing was decided. Please try again in a minute.';
  return 'You are not authorised to approve or reject agent actions. Ask one of the configured approvers.';
}

/** What the clicker is told about a request that has a status now: decided by them, expired, or decided before. */
function settledApprovalResult(outcome: Extract<DecisionOutcome, { request: ApprovalRequest }>): ApprovalActionResult {
  const { request } = outcome;
  if (outcome.kind === 'expired') return { kind: 'expired', message: 'This request had expired, so it was rejected.' };
  if (outcome.kind === 'decided') {
    const continues = request.kind === 'extend_bound' || request.kind === 'continue_after_errors';
    const approved = request.status === 'approved';
    return {
      kind: 'decided',
      message: approved
        ? continues
          ? 'Approved: the agent will continue.'
          : 'Approved: the agent will run it now.'
        : continues
          ? 'Rejected: the agent will stop and post a summary.'
          : 'Rejected: the agent will not run it.',
    };
  }
  const who = request.decidedBy === 'expiry' ? 'expiry' : `<@${request.decidedBy}>`;
  return { kind: 'already_decided', message: `Already ${request.status} by ${who}.` };
}
