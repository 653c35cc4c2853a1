/**
 * A run's bounds and their extension arithmetic: what each bound is worth (as configured plus what approvers
 * added), how much one approval adds, how bounds read on cards, and the hash an extension approval is bound to.
 *
 * Guarantees: one approval adds half the configured value (whole seconds for time) and extensions never take a
 * bound past 2× its configured value (`extensionFor` is 0 at that ceiling); the extension hash binds the run,
 * the bound and exactly the amount added, so an approval cannot be replayed for a different run, bound or amount.
 */

import { formatMicroUsd } from '../../slack-kit/money.ts';
import type { AgentLimits } from './agent-runtime.ts';
import { approvalHash } from './approval-hash.ts';
import type { BoundName, RunOutcomeKind, RunState } from './run-state.ts';
import { canonicalJson } from './tool-registry.ts';

/** The pseudo tool an extension approval is bound to (with the run id, the bound and the amount). */
export const continueRunToolName = 'continue_run';

/** How many times approvers may let a run continue after errors (the `errors` bound's configured value). */
export const maxErrorContinuations = 2;

/** How a run ends when a bound is reached and not extended. */
export const boundOutcomes: Record<BoundName, RunOutcomeKind> = {
  steps: 'step_limit',
  tool_calls: 'tool_call_limit',
  cost: 'cost_limit',
  time: 'time_limit',
  errors: 'failed',
};

export function baseLimit(limits: AgentLimits, bound: BoundName): number {
  switch (bound) {
    case 'steps':
      return limits.maxSteps;
    case 'tool_calls':
      return limits.maxToolCalls;
    case 'cost':
      return limits.maxRunMicroUsd;
    case 'time':
      return limits.maxRunMs;
    case 'errors':
      return maxErrorContinuations;
  }
}

/** A bound as configured plus what approvers added (never more than twice the configured value). */
export function effectiveLimit(state: Pick<RunState, 'extensions'>, limits: AgentLimits, bound: BoundName): number {
  return baseLimit(limits, bound) + (state.extensions?.[bound] ?? 0);
}

/**
 * What one approval adds to a bound: half the configured value (whole seconds for time), capped so the total of
 * all extensions never exceeds the configured value — a run gets at most 2× any bound, so it cannot loop
 * forever through approvals. 0 when the ceiling is reached.
 */
export function extensionFor(state: Pick<RunState, 'extensions'>, limits: AgentLimits, bound: BoundName): number {
  const base = baseLimit(limits, bound);
  const headroom = base - (state.extensions?.[bound] ?? 0);
  let amount = Math.ceil(base / 2);
  if (bound === 'time') amount = Math.ceil(amount / 1000) * 1000;
  return Math.max(0, Math.min(amount, headroom));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}

export function formatBound(bound: BoundName, value: number): string {
  switch (bound) {
    case 'steps':
      return `${value} steps`;
    case 'tool_calls':
      return `${value} tool calls`;
    case 'cost':
      return formatMicroUsd(value);
    case 'time':
      return `${seconds(value)} of working time`;
    case 'errors':
      return `${value} continuations after errors`;
  }
}

/** "2 more steps", "$0.0350 more", "30 s more working time": what one approval adds. */
export function formatMore(bound: BoundName, amount: number): string {
  switch (bound) {
    case 'steps':
      return `${amount} more steps`;
    case 'tool_calls':
      return `${amount} more tool calls`;
    case 'cost':
      return `${formatMicroUsd(amount)} more`;
    case 'time':
      return `${seconds(amount)} more working time`;
    case 'errors':
      return 'one more try';
  }
}

/** The arguments an extension approval's hash binds: the run, the bound and exactly how much is added. */
export function extensionArguments(runId: string, bound: BoundName, amount: number): string {
  return canonicalJson({ runId, bound, amount });
}

export function extensionHash(state: RunState, bound: BoundName, amount: number): string {
  return approvalHash({
    tool: continueRunToolName,
    canonicalArguments: extensionArguments(state.runId, bound, amount),
    target: `run:${state.runId}`,
    workspaceId: state.workspaceId,
  });
}
