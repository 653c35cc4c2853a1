/**
 * The run's single progress message in the thread: goal, plan, each step's state (pending, in progress,
 * complete, error), counters against their bounds, a Stop button while the run is live, and a final summary
 * (steps taken, cost, outcome). With Slack's task/plan streaming (`Messenger.startStream`) the plan and steps
 * stream as tasks under a control message that holds the Stop button; otherwise one message is updated through
 * `Messenger.update`, which coalesces updates within `chat.update`'s Tier 3 limits (see `ProgressReporter`).
 */
import type { Logger } from '../../observability/logger.ts';
import type { Block, MessageStream, Messenger, OutgoingMessage, StreamTask } from '../../ports/messenger.ts';
import { agentActionIds, agentBlockIds } from '../../slack-kit/agent-ids.ts';
import { button, context, section, sectionTextLimit } from '../../slack-kit/blocks.ts';
import { handOverActions } from '../../slack-kit/hand-over-ids.ts';
import { formatMicroUsd } from '../../slack-kit/money.ts';
import { escapeMrkdwn, truncate } from '../../slack-kit/mrkdwn.ts';
import type { RunOutcomeKind, RunState, StepState } from './run-state.ts';

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
  blocks.push(countersBlock(state, limits));
  if (state.outcome) {
    blocks.push(...outcomeBlocks(state));
  } else {
    blocks.push(stopActions(state));
  }
  return {
    channel: state.channelId,
    ...(state.threadTs ? { threadTs: state.threadTs } : {}),
    text: headlineOf(state),
    blocks,
  };
}

function countersBlock(state: RunState, limits: ProgressLimits): Block {
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
  return context(
    `Steps ${counters.steps}/${limits.maxSteps + (extensions.steps ?? 0)} · ` +
      `tool calls ${counters.toolCalls}/${limits.maxToolCalls + (extensions.tool_calls ?? 0)} · ` +
      `cost ${formatMicroUsd(counters.spentMicroUsd)} of ${formatMicroUsd(limits.maxRunMicroUsd + (extensions.cost ?? 0))} · ` +
      `${status} · run \`${state.runId}\``,
  );
}

/** The summary of an ended run: outcome, steps taken, tool calls, cost, and the answer. */
function outcomeBlocks(state: RunState): Block[] {
  if (!state.outcome) return [];
  const { counters } = state;
  const completed = state.steps.filter((step) => step.state === 'complete').length;
  const blocks: Block[] = [
    section(
      `*${outcomeTitles[state.outcome.kind]}.* ${escapeMrkdwn(state.outcome.message)}\n` +
        `${counters.steps} steps, ${counters.toolCalls} tool calls (${completed} completed), ${formatMicroUsd(counters.spentMicroUsd)} spent.`,
    ),
  ];
  if (state.outcome.answer) blocks.push(section(escapeMrkdwn(truncate(state.outcome.answer, 2500))));
  if (state.handOver) blocks.push(handOverActions(state.runId));
  return blocks;
}

function stopActions(state: RunState): Block {
  return {
    type: 'actions',
    block_id: agentBlockIds.progressActions,
    elements: [button({ actionId: agentActionIds.stop, text: 'Stop', value: state.runId, style: 'danger' })],
  };
}

function headlineOf(state: RunState): string {
  return state.outcome
    ? `${outcomeTitles[state.outcome.kind].replace(/^:[a-z_]+: /, '')}: ${truncate(state.outcome.message, 200)}`
    : `Working on: ${truncate(state.goal, 200)}`;
}

/**
 * Stream mode's control message: the goal and the Stop button while the run is live (a streamed message cannot
 * carry buttons until it stops); once the run ends, the button is gone and the summary is in the stream.
 */
export function renderControls(state: RunState): OutgoingMessage {
  const blocks: Block[] = [section(`:robot_face: *Task:* ${escapeMrkdwn(truncate(state.goal, 500))}`)];
  if (state.outcome) {
    blocks.push(context(`${outcomeTitles[state.outcome.kind]} · summary below · run \`${state.runId}\``));
  } else {
    blocks.push(context(`Plan and steps below · run \`${state.runId}\``), stopActions(state));
  }
  return {
    channel: state.channelId,
    ...(state.threadTs ? { threadTs: state.threadTs } : {}),
    text: headlineOf(state),
    blocks,
  };
}

/** The run's steps as stream tasks (ids stable per step, so a later update replaces the line). */
export function progressTasks(state: RunState): StreamTask[] {
  return state.steps.map((step, index) => ({
    id: `step-${index + 1}`,
    title: truncate(`${index + 1}. ${step.title}`, 256),
    status: step.state,
    ...(step.detail ? { details: truncate(step.detail, 256) } : {}),
  }));
}

function planMarkdown(plan: string[], revised: boolean): string {
  if (plan.length === 0) return '';
  const items = plan.map((item, index) => `${index + 1}. ${truncate(item.replace(/\s+/g, ' '), 200)}`).join('\n');
  return `**${revised ? 'Revised plan' : 'Plan'}**\n${items}\n\n`;
}

/**
 * Publishes a run's progress. Never throws: a Slack failure is logged and the run goes on (the message is a view
 * of the checkpoint).
 *
 * - With `Messenger.startStream` and a thread to stream into, the run posts a control message (goal, Stop
 *   button) and streams its plan (Markdown) and steps (tasks: pending, in progress, complete, error) below it.
 *   The stream stops when the run pauses for an approval (streams expire after minutes, approvals can take
 *   hours) and when it ends (the summary goes in as blocks); a resumed run starts a fresh stream that repeats
 *   the plan and every step so far, so no progress is lost. A stream whose final delivery fails is replaced
 *   by an ordinary message with the whole progress.
 * - Otherwise (no streaming, or a slash-command run whose progress message starts the thread) one message is
 *   posted and then updated: the Messenger coalesces updates per message and paces them workspace-wide, so the
 *   runner can publish at every step boundary without pacing itself.
 *
 * Updates do not hold the run up; it only waits for Slack when it asks to (`wait`, used when the run pauses or
 * ends so the final state is on screen before the job completes).
 */
export class ProgressReporter {
  readonly #messenger: Pick<Messenger, 'post' | 'update' | 'startStream'>;
  readonly #limits: ProgressLimits;
  readonly #logger: Logger;
  readonly #pending = new Map<string, Promise<void>>();
  /** Runs whose first post failed: a post's outcome is unknown, so it is retried only when the run pauses or ends. */
  readonly #failedPosts = new Set<string>();
  /** Open streams by run (this process's working segment of the run). */
  readonly #streams = new Map<string, { stream: MessageStream; sent: Map<string, string>; plan: string }>();

  constructor(options: {
    messenger: Pick<Messenger, 'post' | 'update' | 'startStream'>;
    limits: ProgressLimits;
    logger: Logger;
  }) {
    this.#messenger = options.messenger;
    this.#limits = options.limits;
    this.#logger = options.logger;
  }

  /** Publishes the state; sets `state.progress` when the message is first posted (checkpoint afterwards). */
  async publish(state: RunState, options: { wait?: boolean } = {}): Promise<void> {
    const streaming = state.progress
      ? state.progress.mode === 'stream'
      : this.#messenger.startStream !== undefined && state.threadTs !== undefined;
    if (streaming) {
      await this.#publishStream(state, options);
      return;
    }
    const message = renderProgress(state, this.#limits);
    if (!state.progress) {
      const posted = await this.#postFirst(state, message, options);
      if (posted) state.progress = posted;
      return;
    }
    this.#track(
      state.runId,
      this.#update(state, { ...message, channel: state.progress.channel, ts: state.progress.ts }),
    );
    if (options.wait) await this.#pending.get(state.runId);
  }

  /** Resolves when every update started so far has been sent (or failed and been logged). */
  async flush(): Promise<void> {
    await Promise.all([...this.#pending.values()]);
  }

  async #postFirst(
    state: RunState,
    message: OutgoingMessage,
    options: { wait?: boolean },
  ): Promise<{ channel: string; ts: string } | undefined> {
    if (this.#failedPosts.has(state.runId) && !options.wait) return undefined;
    try {
      const posted = await this.#messenger.post(message);
      this.#failedPosts.delete(state.runId);
      return { channel: posted.channel, ts: posted.ts };
    } catch (error) {
      this.#failedPosts.add(state.runId);
      this.#logger.warn({ err: error, runId: state.runId }, 'agent progress message could not be posted');
      return undefined;
    }
  }

  #update(state: RunState, message: OutgoingMessage & { ts: string }): Promise<void> {
    return this.#messenger.update(message).catch((error: unknown) => {
      this.#logger.warn({ err: error, runId: state.runId }, 'agent progress message could not be updated');
    });
  }

  #track(runId: string, work: Promise<void>): void {
    const previous = this.#pending.get(runId);
    const chained = previous ? Promise.all([previous, work]).then(() => undefined) : work;
    this.#pending.set(runId, chained);
    void chained.finally(() => {
      if (this.#pending.get(runId) === chained) this.#pending.delete(runId);
    });
  }

  async #publishStream(state: RunState, options: { wait?: boolean }): Promise<void> {
    const live = state.status === 'running' || state.status === 'queued';
    if (!state.progress) {
      const posted = await this.#postFirst(state, renderControls(state), options);
      if (!posted) return;
      state.progress = { ...posted, mode: 'stream' };
    }
    let open = this.#streams.get(state.runId);
    if (!open && (live || state.status === 'ended')) {
      open = await this.#openStream(state);
      if (!open) {
        // Streaming failed to start: the control message carries the whole progress instead.
        const { channel, ts } = state.progress;
        this.#track(state.runId, this.#update(state, { ...renderProgress(state, this.#limits), channel, ts }));
        if (options.wait) await this.#pending.get(state.runId);
        return;
      }
    }
    if (open) {
      const plan = state.plan.join('\n');
      if (plan !== open.plan) {
        open.stream.append(planMarkdown(state.plan, open.plan !== ''));
        open.plan = plan;
      }
      const changed = progressTasks(state).filter((task) => open.sent.get(task.id) !== JSON.stringify(task));
      for (const task of changed) open.sent.set(task.id, JSON.stringify(task));
      open.stream.updateTasks(changed);
    }
    if (live) return;
    if (open) {
      this.#streams.delete(state.runId);
      this.#track(state.runId, this.#stopStream(state, open.stream));
    }
    if (state.status === 'ended') {
      const { channel, ts } = state.progress;
      this.#track(state.runId, this.#update(state, { ...renderControls(state), channel, ts }));
    }
    if (options.wait) await this.#pending.get(state.runId);
  }

  async #openStream(
    state: RunState,
  ): Promise<{ stream: MessageStream; sent: Map<string, string>; plan: string } | undefined> {
    const startStream = this.#messenger.startStream;
    if (!startStream || !state.threadTs) return undefined;
    try {
      const stream = await startStream.call(this.#messenger, {
        channel: state.channelId,
        threadTs: state.threadTs,
        recipientUserId: state.requesterId,
        // Must be a team: an org-wide tenant (`E…`) is left out; Slack then refuses and the stream falls back.
        ...(state.workspaceId.startsWith('T') ? { recipientTeamId: state.workspaceId } : {}),
        taskDisplayMode: 'plan',
      });
      const open = { stream, sent: new Map<string, string>(), plan: '' };
      this.#streams.set(state.runId, open);
      return open;
    } catch (error) {
      this.#logger.warn({ err: error, runId: state.runId }, 'agent progress stream could not be started');
      return undefined;
    }
  }

  /** Ends a segment's stream: the summary when the run ended, a pause note when it waits for a human. */
  async #stopStream(state: RunState, stream: MessageStream): Promise<void> {
    const final =
      state.status === 'ended'
        ? { blocks: [countersBlock(state, this.#limits), ...outcomeBlocks(state)], text: headlineOf(state) }
        : {
            markdown:
              '\n_Paused: waiting for a human decision (see the card below). Progress continues in a new message when the run resumes._',
            text: 'Paused: waiting for approval',
          };
    try {
      await stream.stop(final);
    } catch (error) {
      this.#logger.warn({ err: error, runId: state.runId }, 'agent progress stream could not be delivered; posting it');
      await this.#messenger.post(renderProgress(state, this.#limits)).catch((postError: unknown) => {
        this.#logger.warn({ err: postError, runId: state.runId }, 'agent progress message could not be posted');
      });
    }
  }
}
