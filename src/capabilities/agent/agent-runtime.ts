/**
 * What every part of the agent loop shares: the runtime a run is driven with, its configured limits, the
 * active-time segment of one drive, and the three small state edits all parts make.
 *
 * Guarantees: `finish` always leaves the run ended with an outcome that says what was done so far (nothing left
 * queued, no step still shown as in progress or pending); `respond` is the only way a tool observation reaches
 * the transcript. Imports no other part of the loop, so every part can import it.
 */
import type { Logger } from '../../observability/logger.ts';
import type { HandOverRecorder } from '../../ports/hand-over.ts';
import type { ChatRequest, LanguageModelGateway } from '../../ports/language-model.ts';
import type { Messenger } from '../../ports/messenger.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import type { ApprovalStore } from './approval-store.ts';
import type { ProgressReporter } from './progress.ts';
import type { PendingCall, RunOutcomeKind, RunState, RunStateStore } from './run-state.ts';
import type { ToolRegistry } from './tool-registry.ts';

export interface AgentLimits {
  maxSteps: number;
  maxToolCalls: number;
  maxRunMicroUsd: number;
  maxRunMs: number;
}

export interface AgentRuntime {
  gateway: LanguageModelGateway;
  registry: ToolRegistry;
  approvals: ApprovalStore;
  runs: RunStateStore;
  /** For approval cards. */
  messenger: Pick<Messenger, 'post' | 'update'>;
  progress: ProgressReporter;
  limits: AgentLimits;
  /** Defaults to the gateway's configured chat model. */
  model?: string;
  /** Output cap of one agent turn (reserved by the gateway before each call). */
  maxOutputTokensPerTurn: number;
  /**
   * Worst-case cost of a chat request (the gateway's price table), so the run cap is checked before a call. The
   * request comes with `inputTokens` already counted (`gateway.countChatTokens`), which the gateway then uses
   * too: each turn is tokenized once.
   */
  estimateChatCostMicroUsd?: (request: ChatRequest) => number;
  logger: Logger;
  /** Run outcomes, tool calls and approvals (optional). */
  metrics?: AgentMetrics;
  /** Where "Get a human" records of runs that did not get the job done go (run-hand-over.ts); absent: no button. */
  handOvers?: HandOverRecorder;
  now?: () => number;
}

/** One drive of a run: when its active working time runs out (moved when a time extension is approved). */
export type Segment = { deadline: number; now: () => number };

export function finish(state: RunState, kind: RunOutcomeKind, message: string, answer?: string): void {
  state.status = 'ended';
  state.queue = [];
  const done = state.steps.filter((step) => step.state === 'complete').map((step) => step.title);
  const soFar =
    kind === 'finished'
      ? ''
      : done.length > 0
        ? ` Done so far: ${done.slice(0, 5).join('; ')}${done.length > 5 ? ` and ${done.length - 5} more` : ''}.`
        : ' Nothing was completed.';
  state.outcome = { kind, message: `${message}${soFar}`, ...(answer === undefined ? {} : { answer }) };
  for (const step of state.steps) if (step.state === 'in_progress' || step.state === 'pending') step.state = 'error';
}

export function respond(state: RunState, call: PendingCall, content: string): void {
  state.messages.push({ role: 'tool', toolCallId: call.id, content });
}

export function scopeOf(state: RunState) {
  return { workspaceId: state.workspaceId, channelId: state.channelId, threadTs: state.threadTs };
}
