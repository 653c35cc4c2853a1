/**
 * The run's single progress message in the thread: goal, plan, each step's state (pending, in progress,
 * complete, error), counters against their bounds, a Stop button while the run is live, and a final summary
 * (steps taken, cost, outcome). Updates go through `Messenger.update`, which coalesces them within
 * `chat.update`'s Tier 3 limits, so the runner can publish at every step boundary without pacing itself.
 * Slack's task/plan streaming (`chat.startStream`) is not behind the Messenger port yet; this is the
 * documented fallback.
 */
import type { Logger } from '../../observability/logger.ts';
import type { Block, Messenger, OutgoingMessage } from '../../ports/messenger.ts';
import { agentActionIds, agentBlockIds } from './agent-ids.ts';
import { button, context, escapeMrkdwn, formatUsd, section, sectionTextLimit } from './blocks.ts';
import type { RunOutcomeKind, RunState, StepState } from './run-state.ts';
import { truncate } from './tool-registry.ts';

export interface ProgressLimits {
  maxSteps: number;
  maxToolCalls: number;
  maxRunMicroUsd: number;
}

const stepIcons: Record<StepState, string> = {
  pending: ':white_circle:',
  in_progress: ':hourglass_flowing_sand:',
  complete: ':white_check_mark:',
  error: ':x:',
};

const outcomeTitles: Record<RunOutcomeKind, string> = {
  finished: ':checkered_flag: Done',
  stopped: ':octagonal_sign: Stopped',
  step_limit: ':no_entry: Stopped at the step limit',
  tool_call_limit: ':no_entry: Stopped at the tool-call limit',
  cost_limit: ':no_entry: Stopped at the cost limit',
  time_limit: ':no_entry: Stopped at the time limit',
  loop_detected: ':repeat: Stopped: the agent repeated itself',
  over_budget: ':money_with_wings: Stopped: the channel budget is used up',
  failed: ':warning: Failed',
};

/** Steps shown in full; older ones are counted in one line so the message stays within block limits. */
const visibleSteps = 15;

/** The progress message for a state. Pure: the same state always renders the same message. */
export function renderProgress(state: RunState, limits: ProgressLimits): OutgoingMessage {
  const blocks: Block[] = [section(`:robot_face: *Task:* ${escapeMrkdwn(truncate(state.goal, 500))}`)];
  if (state.plan.length > 0) {
    blocks.push(
      section(
        `*Plan*\n${state.plan.map((item, index) => `${index + 1}. ${escapeMrkdwn(truncate(item, 200))}`).join('\n')}`,
      ),
    );
  }
  if (state.steps.length > 0) {
    const hidden = Math.max(0, state.steps.length - visibleSteps);
    const lines = state.steps.slice(hidden).map((step, offset) => {
      const detail = step.detail ? ` — ${escapeMrkdwn(truncate(step.detail, 120))}` : '';
      return `${stepIcons[step.state]} ${hidden + offset + 1}. ${escapeMrkdwn(truncate(step.title, 150))}${detail}`;
    });
    if (hidden > 0) lines.unshift(`_${hidden} earlier steps_`);
    let chunk = '*Steps*';
    for (const line of lines) {
      if (chunk.length + line.length + 1 > sectionTextLimit) {
        blocks.push(section(chunk));
        chunk = line;
      } else {
        chunk = `${chunk}\n${line}`;
      }
    }
    blocks.push(section(chunk));
  }
  const { counters } = state;
  const extensions = state.extensions ?? {};
  const status =
    state.status === 'ended'
      ? 'ended'
      : state.status === 'awaiting_approval'
        ? 'waiting for approval'
        : state.status === 'queued'
          ? 'queued'
          : 'working';
  blocks.push(
    context(
      `Steps ${counters.steps}/${limits.maxSteps + (extensions.steps ?? 0)} · ` +
        `tool calls ${counters.toolCalls}/${limits.maxToolCalls + (extensions.tool_calls ?? 0)} · ` +
        `cost ${formatUsd(counters.spentMicroUsd)} of ${formatUsd(limits.maxRunMicroUsd + (extensions.cost ?? 0))} · ` +
        `${status} · run \`${state.runId}\``,
    ),
  );
  if (state.outcome) {
    const completed = state.steps.filter((step) => step.state === 'complete').length;
    blocks.push(
      section(
        `*${outcomeTitles[state.outcome.kind]}.* ${escapeMrkdwn(state.outcome.message)}\n` +
          `${counters.steps} steps, ${counters.toolCalls} tool calls (${completed} completed), ${formatUsd(counters.spentMicroUsd)} spent.`,
      ),
    );
    if (state.outcome.answer) blocks.push(section(escapeMrkdwn(truncate(state.outcome.answer, 2500))));
  } else {
    blocks.push({
      type: 'actions',
      block_id: agentBlockIds.progressActions,
      elements: [button({ actionId: agentActionIds.stop, text: 'Stop', value: state.runId, style: 'danger' })],
    });
  }
  const headline = state.outcome
    ? `${outcomeTitles[state.outcome.kind].replace(/^:[a-z_]+: /, '')}: ${truncate(state.outcome.message, 200)}`
    : `Working on: ${truncate(state.goal, 200)}`;
  return {
    channel: state.channelId,
    ...(state.threadTs ? { threadTs: state.threadTs } : {}),
    text: headline,
    blocks,
  };
}

/**
 * Posts the progress message once and updates it afterwards. Updates do not hold the run up: the Messenger
 * coalesces them per message and paces them workspace-wide, so the run only waits for Slack when it asks to
 * (`wait`, used when the run pauses or ends so the final state is on screen before the job completes).
 * Never throws: a Slack failure is logged and the run goes on (the message is a view of the checkpoint).
 */
export class ProgressReporter {
  readonly #messenger: Pick<Messenger, 'post' | 'update'>;
  readonly #limits: ProgressLimits;
  readonly #logger: Logger;
  readonly #pending = new Map<string, Promise<void>>();
  /** Runs whose first post failed: a post's outcome is unknown, so it is retried only when the run pauses or ends. */
  readonly #failedPosts = new Set<string>();

  constructor(options: { messenger: Pick<Messenger, 'post' | 'update'>; limits: ProgressLimits; logger: Logger }) {
    this.#messenger = options.messenger;
    this.#limits = options.limits;
    this.#logger = options.logger;
  }

  /** Publishes the state; sets `state.progress` when the message is first posted (checkpoint afterwards). */
  async publish(state: RunState, options: { wait?: boolean } = {}): Promise<void> {
    const message = renderProgress(state, this.#limits);
    if (!state.progress) {
      if (this.#failedPosts.has(state.runId) && !options.wait) return;
      try {
        const posted = await this.#messenger.post(message);
        state.progress = { channel: posted.channel, ts: posted.ts };
        this.#failedPosts.delete(state.runId);
      } catch (error) {
        this.#failedPosts.add(state.runId);
        this.#logger.warn({ err: error, runId: state.runId }, 'agent progress message could not be posted');
      }
      return;
    }
    const update = this.#messenger
      .update({ ...message, channel: state.progress.channel, ts: state.progress.ts })
      .catch((error: unknown) => {
        this.#logger.warn({ err: error, runId: state.runId }, 'agent progress message could not be updated');
      });
    this.#pending.set(state.runId, update);
    void update.finally(() => {
      if (this.#pending.get(state.runId) === update) this.#pending.delete(state.runId);
    });
    if (options.wait) await update;
  }

  /** Resolves when every update started so far has been sent (or failed and been logged). */
  async flush(): Promise<void> {
    await Promise.all([...this.#pending.values()]);
  }
}
