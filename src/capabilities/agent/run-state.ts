/**
 * The durable state of one agent run, checkpointed to Redis after every step so any replica can resume it.
 * Keys are hash-tagged by workspace (`agent:{T…}:run:<id>`), like the approval store's.
 */
import { randomUUID } from 'node:crypto';
import type { DocumentScopeOverride } from '../../ports/capability.ts';
import type { ChatMessage } from '../../ports/language-model.ts';
import type { AgentRedis } from './agent-redis.ts';

export type StepState = 'pending' | 'in_progress' | 'complete' | 'error';

export interface StepRecord {
  title: string;
  state: StepState;
  /** Short result or reason, shown under the step. */
  detail?: string;
}

export type RunStatus = 'queued' | 'running' | 'awaiting_approval' | 'ended';

export type RunOutcomeKind =
  | 'finished'
  | 'stopped'
  | 'step_limit'
  | 'tool_call_limit'
  | 'cost_limit'
  | 'time_limit'
  | 'loop_detected'
  | 'over_budget'
  | 'failed';

/** The bounds a human can extend: steps, tool calls, money (µ$), working time (ms) and repeated errors. */
export type BoundName = 'steps' | 'tool_calls' | 'cost' | 'time' | 'errors';

export interface PendingCall {
  id: string;
  name: string;
  argumentsJson: string;
}

export interface RunState {
  version: 1;
  runId: string;
  workspaceId: string;
  channelId: string;
  threadTs: string | undefined;
  requesterId: string;
  goal: string;
  /**
   * Whose documents the run may read when its channel does not decide it: set for a run started in Slack's
   * assistant view (the viewed channel, or `none`); absent otherwise and on checkpoints written before it existed.
   */
  documentScope?: DocumentScopeOverride;
  status: RunStatus;
  createdAt: number;
  /** Time spent working (excludes waiting for a human), checked against `AGENT_MAX_RUN_SECONDS`. */
  activeMs: number;
  plan: string[];
  steps: StepRecord[];
  /** The conversation with the model, tool observations included. */
  messages: ChatMessage[];
  /** Tool calls of the last model turn not processed yet. */
  queue: PendingCall[];
  /** Fingerprints (tool + canonical arguments) of every call so far, for loop detection. */
  fingerprints: string[];
  counters: { steps: number; toolCalls: number; modelCalls: number; spentMicroUsd: number; transientFailures: number };
  /** Set just before a tool runs and cleared when its result is recorded: if present on load, the run crashed. */
  inFlight:
    | { call: PendingCall; stepIndex: number; startedAt: number; idempotencyKey: string; approvedBy?: string }
    | undefined;
  /**
   * The approval the run is waiting for: a write call (`call`), or continuing past a bound (`extension`: how much
   * of which bound an approval adds).
   */
  awaiting:
    | { requestId: string; call?: PendingCall; stepIndex: number; extension?: { bound: BoundName; amount: number } }
    | undefined;
  /** How much approvers have added to each bound so far (absent on checkpoints written before extensions). */
  extensions?: Partial<Record<BoundName, number>>;
  /** Tool calls that failed in a row (reset by a success or an approved "continue after errors"). */
  failureStreak?: number;
  /**
   * The progress message in the thread. `mode: 'stream'`: this is the run's control message (goal and Stop
   * button) and the plan and steps stream below it (a fresh stream per working segment).
   */
  progress: { channel: string; ts: string; mode?: 'stream' } | undefined;
  outcome: { kind: RunOutcomeKind; message: string; answer?: string } | undefined;
  /** Set once the ended run's "Get a human" record is stored (run-hand-over.ts): its summary shows the button. */
  handOver?: boolean;
}

export function newRunState(input: {
  workspaceId: string;
  channelId: string;
  threadTs: string | undefined;
  requesterId: string;
  goal: string;
  documentScope?: DocumentScopeOverride | undefined;
  now: number;
}): RunState {
  return {
    version: 1,
    runId: randomUUID(),
    workspaceId: input.workspaceId,
    channelId: input.channelId,
    threadTs: input.threadTs,
    requesterId: input.requesterId,
    goal: input.goal,
    ...(input.documentScope ? { documentScope: input.documentScope } : {}),
    status: 'queued',
    createdAt: input.now,
    activeMs: 0,
    plan: [],
    steps: [],
    messages: [],
    queue: [],
    fingerprints: [],
    counters: { steps: 0, toolCalls: 0, modelCalls: 0, spentMicroUsd: 0, transientFailures: 0 },
    inFlight: undefined,
    awaiting: undefined,
    progress: undefined,
    outcome: undefined,
  };
}

/** Run checkpoints, Stop flags and per-run leases in Redis. */
export class RunStateStore {
  readonly #redis: AgentRedis;
  readonly #prefix: string;
  readonly #retentionSeconds: number;

  constructor(options: { redis: AgentRedis; keyPrefix: string; retentionSeconds?: number }) {
    this.#redis = options.redis;
    this.#prefix = options.keyPrefix;
    this.#retentionSeconds = options.retentionSeconds ?? 30 * 86_400;
  }

  #key(workspaceId: string, runId: string, kind: 'run' | 'stop' | 'lease'): string {
    return `${this.#prefix}agent:{${workspaceId}}:${kind}:${runId}`;
  }

  /** Writes the checkpoint; resolves once Redis has it. */
  async save(state: RunState): Promise<void> {
    // Fields that are undefined are dropped by JSON and read back as undefined.
    const stored = JSON.stringify(state);
    await this.#redis.set(this.#key(state.workspaceId, state.runId, 'run'), stored, 'EX', this.#retentionSeconds);
  }

  #recentKey(workspaceId: string, userId: string): string {
    return `${this.#prefix}agent:{${workspaceId}}:user:${userId}:runs`;
  }

  /**
   * Writes a new run's first checkpoint and lists it among its requester's recent runs (the last 50, for as long
   * as runs are kept; what the App Home shows), in one script.
   */
  async saveNew(state: RunState): Promise<void> {
    if (!userIdPattern.test(state.requesterId)) return this.save(state);
    await this.#redis.eval(
      saveNewScript,
      2,
      this.#key(state.workspaceId, state.runId, 'run'),
      this.#recentKey(state.workspaceId, state.requesterId),
      JSON.stringify(state),
      this.#retentionSeconds,
      state.createdAt,
      state.runId,
      recentRunsCap,
    );
  }

  /** A person's most recent runs in a workspace, newest first: at most `limit` (≤ 50), with how many are listed. */
  async recentRuns(workspaceId: string, userId: string, limit: number): Promise<{ runs: RunState[]; total: number }> {
    if (!userIdPattern.test(userId)) return { runs: [], total: 0 };
    const count = Math.max(1, Math.min(recentRunsCap, Math.floor(limit)));
    const [total, ids] = (await this.#redis.eval(recentRunsScript, 1, this.#recentKey(workspaceId, userId), count)) as [
      number,
      string[],
    ];
    const runs = await Promise.all(ids.map((runId) => this.load(workspaceId, runId)));
    return { runs: runs.filter((run) => run !== undefined), total: Number(total) };
  }

  async load(workspaceId: string, runId: string): Promise<RunState | undefined> {
    const stored = await this.#redis.get(this.#key(workspaceId, runId, 'run'));
    if (!stored) return undefined;
    return JSON.parse(stored) as RunState;
  }

  async requestStop(workspaceId: string, runId: string, userId: string): Promise<void> {
    await this.#redis.set(this.#key(workspaceId, runId, 'stop'), userId, 'EX', this.#retentionSeconds);
  }

  /** Who asked to stop the run, if anyone. */
  async stopRequestedBy(workspaceId: string, runId: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#key(workspaceId, runId, 'stop'))) ?? undefined;
  }

  /**
   * A lease so only one worker advances a run at a time (BullMQ has no per-key concurrency outside its paid
   * edition). The lease is renewed while held; a crashed holder's lease lapses after `ttlMs`.
   */
  async acquireLease(workspaceId: string, runId: string, ttlMs: number): Promise<RunLease | undefined> {
    const key = this.#key(workspaceId, runId, 'lease');
    const token = randomUUID();
    const acquired = await this.#redis.eval(acquireScript, 1, key, token, String(ttlMs));
    if (acquired !== 1) return undefined;
    const redis = this.#redis;
    const timer = setInterval(
      () => {
        redis.eval(renewScript, 1, key, token, String(ttlMs)).catch(() => undefined);
      },
      Math.max(100, Math.floor(ttlMs / 3)),
    );
    timer.unref();
    return {
      async release() {
        clearInterval(timer);
        await redis.eval(releaseScript, 1, key, token);
      },
    };
  }
}

export interface RunLease {
  release(): Promise<void>;
}

const userIdPattern = /^[UW][A-Z0-9]{2,20}$/;
const recentRunsCap = 50;
// KEYS: run, requester's recent runs. ARGV: json, retention s, created at ms, run id, cap.
const saveNewScript = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[5]) + 1))
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1`;
const recentRunsScript = `return { redis.call('ZCARD', KEYS[1]), redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1) }`;
const acquireScript = `if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end return 0`;
const renewScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
