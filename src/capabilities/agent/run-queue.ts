/**
 * Agent runs execute from a BullMQ queue (Redis), so `/agent` and button clicks ack at once and any replica can
 * advance any run. One lease per run keeps two workers from advancing the same run; BullMQ re-queues a job
 * whose worker died (stalled-job detection), and the run resumes from its last checkpoint.
 *
 * Jobs: `start` (a new run), `resume` (an approval was decided or expired), `stop` (a Stop click while the
 * run waits for a human; a working run sees the Stop flag itself at the next step boundary), `sweep` (expire
 * due approval requests, on a schedule). Job ids are
 * deterministic where duplicates are possible (`resume-<requestId>`), and every job is idempotent on the
 * checkpoint, so a duplicate delivery is harmless.
 */
import { type ConnectionOptions, type Job, Queue, Worker } from 'bullmq';
import { DeskhandError, toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { withWorkspace } from '../../ports/workspace-scope.ts';
import type { AgentRuntime } from './agent-runtime.ts';
import type { ApprovalRequest } from './approval-request.ts';
import { resolveApprovalCard } from './escalation.ts';
import { driveRun } from './run-agent.ts';

export interface AgentJob {
  /** `sweep` expires due approval requests (scheduled by `startWorker`; `workspaceId`/`runId` are empty). */
  kind: 'start' | 'resume' | 'stop' | 'sweep';
  workspaceId: string;
  runId: string;
  requestId?: string;
}

export interface AgentRunQueueOptions {
  /** BullMQ connection (workers need `maxRetriesPerRequest: null`; set here when options are given). */
  connection: ConnectionOptions;
  /** Key prefix for BullMQ's keys, e.g. `dh:{agent}` (hash-tagged so a cluster keeps the queue in one slot). */
  prefix: string;
  queueName?: string;
  runtime: AgentRuntime;
  /** Runs advanced at once by this replica's worker. */
  concurrency?: number;
  /** Lease on a run while a worker advances it; renewed every third. */
  leaseMs?: number;
  /**
   * BullMQ's job lock (default 30 s) and stalled-job check interval (default 30 s): a worker that dies holding a
   * job loses it after about `lockDurationMs`, and another replica's worker re-queues it at its next check.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Attempts per job, with exponential backoff from 500 ms (default 8). */
  attempts?: number;
  /**
   * How often pending approvals are checked for expiry (default 30 s; 0 disables). A BullMQ job scheduler, so
   * one replica sweeps each time and expiry needs no wiring beyond `startWorker()`.
   */
  expirySweepIntervalMs?: number;
  logger: Logger;
}

const defaultQueueName = 'deskhand-agent';

export class AgentRunQueue {
  readonly #queue: Queue<AgentJob>;
  readonly #options: AgentRunQueueOptions;
  readonly #logger: Logger;
  #worker: Worker<AgentJob> | undefined;

  constructor(options: AgentRunQueueOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'agent-queue' });
    this.#queue = new Queue<AgentJob>(options.queueName ?? defaultQueueName, {
      connection: options.connection,
      prefix: options.prefix,
      defaultJobOptions: {
        attempts: options.attempts ?? 8,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: true,
        removeOnFail: { age: 7 * 86_400 },
      },
    });
  }

  /** Adds a job; resolves once it is in Redis (so the caller may ack). */
  async enqueue(job: AgentJob): Promise<void> {
    const jobId =
      job.kind === 'resume' && job.requestId
        ? `resume-${job.requestId}`
        : job.kind === 'start'
          ? `start-${job.runId}`
          : `stop-${job.runId}`;
    // A job that used up its attempts keeps its id (removeOnFail keeps it for inspection), so adding it again
    // would be ignored: retry it instead, e.g. when an approver clicks again after a resume failed.
    const existing = await this.#queue.getJob(jobId);
    if (existing && (await existing.isFailed())) {
      await existing.retry('failed');
      return;
    }
    await this.#queue.add(job.kind, job, { jobId });
  }

  /** Starts this replica's worker (idempotent). */
  startWorker(): void {
    if (this.#worker) return;
    this.#worker = new Worker<AgentJob>(
      this.#options.queueName ?? defaultQueueName,
      async (job) => this.#process(job),
      {
        connection: this.#options.connection,
        prefix: this.#options.prefix,
        concurrency: this.#options.concurrency ?? 4,
        ...(this.#options.lockDurationMs ? { lockDuration: this.#options.lockDurationMs } : {}),
        ...(this.#options.stalledIntervalMs ? { stalledInterval: this.#options.stalledIntervalMs } : {}),
      },
    );
    const sweepEvery = this.#options.expirySweepIntervalMs ?? 30_000;
    if (sweepEvery > 0) {
      this.#queue
        .upsertJobScheduler(
          'agent-approval-expiry',
          { every: sweepEvery },
          { name: 'sweep', data: { kind: 'sweep', workspaceId: '', runId: '' } },
        )
        .catch((error: unknown) => this.#logger.error({ err: error }, 'could not schedule the approval expiry sweep'));
    }
    this.#worker.on('failed', (job, error) => {
      this.#logger.warn({ err: error, jobId: job?.id, attempts: job?.attemptsMade }, 'agent job failed');
    });
    this.#worker.on('error', (error) => this.#logger.error({ err: error }, 'agent worker error'));
  }

  /** Stops this replica's worker; jobs it was running finish first (or are re-queued if it is killed). */
  async closeWorker(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.close();
  }

  async close(): Promise<void> {
    await this.closeWorker();
    await this.#queue.close();
  }

  /** Counts of waiting, active, delayed and failed jobs (for tests and /readyz). */
  async counts(): Promise<Record<string, number>> {
    return this.#queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
  }

  /** Removes every key of this queue. For tests. */
  async obliterate(): Promise<void> {
    await this.#queue.obliterate({ force: true });
  }

  /** Expires due approval requests, updates their cards and queues their runs' resumes. Returns how many. */
  async sweepExpiredApprovals(): Promise<number> {
    const { runtime } = this.#options;
    const expired = await runtime.approvals.sweepExpired();
    for (const request of expired) {
      runtime.metrics?.approval('expired');
      // A sweep acts for no workspace; each card is updated with its own workspace's token (OAuth mode).
      await withWorkspace(request.workspaceId, () => resolveApprovalCard(runtime, request));
      await this.enqueue({
        kind: 'resume',
        workspaceId: request.workspaceId,
        runId: request.runId,
        requestId: request.requestId,
      });
    }
    return expired.length;
  }

  /** A job acts for its run's workspace: its Slack calls use that workspace's token (workspace-scope.ts). */
  #process(job: Job<AgentJob>): Promise<void> {
    return job.data.kind === 'sweep'
      ? this.#processJob(job)
      : withWorkspace(job.data.workspaceId, () => this.#processJob(job));
  }

  async #processJob(job: Job<AgentJob>): Promise<void> {
    if (job.data.kind === 'sweep') {
      const expired = await this.sweepExpiredApprovals();
      if (expired > 0) this.#logger.info({ expired }, 'approval requests expired');
      return;
    }
    const { runtime } = this.#options;
    const { workspaceId, runId } = job.data;
    const logger = this.#logger.child({ jobId: job.id, runId, kind: job.data.kind });
    const lease = await runtime.runs.acquireLease(workspaceId, runId, this.#options.leaseMs ?? 30_000);
    if (!lease) {
      // A stop is seen by the worker holding the run; anything else retries with backoff.
      if (job.data.kind === 'stop') return;
      throw new DeskhandError('conflict', `Run ${runId} is being advanced by another worker`, { retryable: true });
    }
    try {
      const state = await runtime.runs.load(workspaceId, runId);
      if (!state) {
        logger.warn({ code: 'not_found' }, 'agent job for an unknown run');
        return;
      }
      let decision: ApprovalRequest | undefined;
      if (job.data.kind === 'resume' && job.data.requestId) {
        const request = await runtime.approvals.get(workspaceId, job.data.requestId);
        if (request && request.status !== 'pending') {
          await resolveApprovalCard(runtime, request);
          decision = request;
        }
      }
      await driveRun(state, runtime, decision ? { decision } : {});
    } catch (error) {
      const coded = toDeskhandError(error);
      logger.error({ err: coded, code: coded.code }, 'agent run step failed');
      throw coded;
    } finally {
      await lease.release();
    }
  }
}
