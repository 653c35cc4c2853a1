/**
 * The "Get a human" offer on an agent run that did not get the job done: any ended run whose outcome is not
 * `finished` (failed, stopped, over budget, out of time or another bound) or that has a step a human declined or
 * that failed. Its hand-over record (the goal as the question, the outcome and answer as what was shown) is stored
 * before the final progress message is published, and `state.handOver` tells the renderer to show the button;
 * a record that cannot be stored is logged and the run ends without the button.
 */
import type { HandOverRecorder } from '../../ports/hand-over.ts';
import type { RunState } from './run-state.ts';

/** True for an ended run a human should look at. */
export function needsHandOver(state: RunState): boolean {
  if (state.status !== 'ended' || !state.outcome) return false;
  return state.outcome.kind !== 'finished' || state.steps.some((step) => step.state === 'error');
}

/** Records the run's hand-over once (sets `state.handOver`); never throws. */
export async function offerRunHandOver(
  state: RunState,
  recorder: HandOverRecorder | undefined,
  onError: (error: unknown) => void,
): Promise<void> {
  if (!recorder || state.handOver || !needsHandOver(state) || !state.outcome) return;
  const declined = state.steps
    .filter((step) => step.state === 'error')
    .map((step) => `${step.title}: ${step.detail ?? 'failed'}`);
  try {
    await recorder.record({
      id: state.runId,
      kind: 'agent_run',
      workspaceId: state.workspaceId,
      channelId: state.channelId,
      ...(state.threadTs ? { threadTs: state.threadTs } : {}),
      askerId: state.requesterId,
      question: state.goal,
      answer: [state.outcome.message, state.outcome.answer ?? '', ...declined.slice(0, 10)].filter(Boolean).join('\n'),
      outcome: state.outcome.kind,
      sources: [],
      createdAt: new Date().toISOString(),
    });
    state.handOver = true;
  } catch (error) {
    onError(error);
  }
}
