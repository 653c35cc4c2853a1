/**
 * The agent under test, wired like the composition root: the real gateway against the FakeOpenAIServer (scripted
 * tool calls), real Redis stores, a real BullMQ queue and worker, and a RecordingMessenger. One harness per test
 * file (unique key prefix, deleted by `cleanup`); `reset()` between tests.
 */
import { afterEach } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAgentMetrics } from '../../src/capabilities/agent/agent-metrics.ts';
import type { AgentLimits, AgentRuntime } from '../../src/capabilities/agent/agent-runtime.ts';
import { AgentService } from '../../src/capabilities/agent/agent-service.ts';
import { ApprovalStore } from '../../src/capabilities/agent/approval-store.ts';
import { ProgressReporter } from '../../src/capabilities/agent/progress.ts';
import { AgentRunQueue } from '../../src/capabilities/agent/run-queue.ts';
import { type RunState, RunStateStore } from '../../src/capabilities/agent/run-state.ts';
import { createToolRegistry } from '../../src/capabilities/agent/tool-registry.ts';
import { createExtractTicketTool } from '../../src/capabilities/agent/tools/extract-ticket.ts';
import {
  createFileTicketTool,
  type FileTicket,
  type FileTicketArguments,
} from '../../src/capabilities/agent/tools/file-ticket.ts';
import { createPostMessageTool } from '../../src/capabilities/agent/tools/post-message.ts';
import {
  createSearchDocumentsTool,
  type DocumentPassage,
  type SearchDocuments,
} from '../../src/capabilities/agent/tools/search-documents.ts';
import { createSummariseThreadTool } from '../../src/capabilities/agent/tools/summarise-thread.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry, type Registry } from '../../src/observability/metrics.ts';
import type { Messenger } from '../../src/ports/messenger.ts';
import type { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { RecordingMessenger } from '../fakes/recording-messenger.ts';
import { createHarness, type Harness } from './gateway-harness.ts';

export const workspaceId = 'T0AGENT';
export const channelId = 'C0SUPPORT';
export const threadTs = '1700000000.000100';
export const requester = 'U0REQUESTER';
export const approver = 'U0APPROVER1';
export const secondApprover = 'U0APPROVER2';
export const bystander = 'U0BYSTANDER';

export interface AgentHarnessOptions {
  limits?: Partial<AgentLimits>;
  approvalTtlSeconds?: number;
  allowSelfApproval?: boolean;
  /** Approver user-group membership (the policy's `isInApproverGroup`). */
  isInApproverGroup?: (userId: string, workspaceId: string) => Promise<boolean>;
  /** The gateway's budget caps in µ$ (channel daily/monthly, workspace daily). */
  caps?: { channelDaily?: number; channelMonthly?: number; workspaceDaily?: number };
  /** Used instead of the RecordingMessenger (e.g. the real SlackMessenger over the fake Slack Web API). */
  messenger?: Messenger;
  /** Runs advanced at once by the worker (default 4). */
  concurrency?: number;
  /** Share another process's fake model and key prefix (crash tests run workers in child processes). */
  shared?: { baseURL: string; keyPrefix: string; dataDir: string };
  /** Replaces the search over `passages`. */
  search?: SearchDocuments;
  /** Replaces the recording ticket sink. */
  fileTicket?: FileTicket;
  /** Start the worker with the harness (default true). */
  startWorker?: boolean;
  /** BullMQ job lock and stalled-check interval, shortened for crash tests. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Attempts per queue job (default 8). */
  attempts?: number;
  /** Scheduled approval expiry sweep (default off in tests: its delayed job keeps the queue from looking idle). */
  expirySweepIntervalMs?: number;
}

export interface AgentHarness {
  gateway: Harness;
  /** The fake model (another process's when `shared` is given: then scripted there). */
  fake: FakeOpenAIServer;
  messenger: RecordingMessenger;
  runtime: AgentRuntime;
  approvals: ApprovalStore;
  runs: RunStateStore;
  queue: AgentRunQueue;
  service: AgentService;
  /** Tickets the file_ticket sink received, in order. */
  filed: FileTicketArguments[];
  /** What search_documents returns. */
  passages: DocumentPassage[];
  metrics: Registry;
  /** Added to the approval store's clock, to expire requests without waiting. */
  clock: { offsetMs: number };
  /** Closes this worker and starts a fresh queue, worker and service (a replica restart). */
  restartWorker(): Promise<void>;
  startRun(goal: string, userId?: string): Promise<string>;
  waitForRun(runId: string, predicate: (state: RunState) => boolean, timeoutMs?: number): Promise<RunState>;
  /** Resolves when the queue has no waiting, active or delayed job. */
  waitForIdleQueue(timeoutMs?: number): Promise<void>;
  reset(): void;
  cleanup(): Promise<void>;
}

export async function createAgentHarness(options: AgentHarnessOptions = {}): Promise<AgentHarness> {
  const gateway = await createHarness({
    fakeOptions: { whenEmpty: 'error' },
    ...(options.caps ? { caps: options.caps } : {}),
    ...(options.shared ? options.shared : {}),
  });
  const fake = gateway.fake;
  if (!fake && !options.shared) throw new Error('the gateway harness did not start a fake');
  const logger = createSilentLogger();
  const recording = new RecordingMessenger();
  const messenger: Messenger = options.messenger ?? recording;
  const filed: FileTicketArguments[] = [];
  const passages: DocumentPassage[] = [];
  const clock = { offsetMs: 0 };
  const metrics = createMetricsRegistry();
  const approvals = new ApprovalStore({
    redis: gateway.redis,
    keyPrefix: gateway.keyPrefix,
    ttlSeconds: options.approvalTtlSeconds ?? 3600,
    policy: {
      approverUserIds: [approver, secondApprover],
      allowSelfApproval: options.allowSelfApproval ?? false,
      ...(options.isInApproverGroup ? { isInApproverGroup: options.isInApproverGroup } : {}),
    },
    now: () => Date.now() + clock.offsetMs,
  });
  const runs = new RunStateStore({ redis: gateway.redis, keyPrefix: gateway.keyPrefix });
  const limits: AgentLimits = {
    maxSteps: 8,
    maxToolCalls: 12,
    maxRunMicroUsd: 500_000,
    maxRunMs: 60_000,
    ...options.limits,
  };
  const registry = createToolRegistry([
    createSearchDocumentsTool({ search: options.search ?? (async ({ limit }) => passages.slice(0, limit)) }),
    createExtractTicketTool({
      extractTicket: async ({ text }) => ({ ticket: { summary: text.slice(0, 60), category: 'question' } }),
    }),
    createFileTicketTool({
      destinationName: 'the support queue',
      fileTicket:
        options.fileTicket ??
        (async ({ ticket }) => {
          filed.push(ticket);
          return { reference: `TCK-${filed.length}` };
        }),
    }),
    createPostMessageTool({ messenger }),
    createSummariseThreadTool({ messenger, gateway: gateway.gateway, encoding: 'o200k_base' }),
  ]);
  const runtime: AgentRuntime = {
    gateway: gateway.gateway,
    registry,
    approvals,
    runs,
    messenger,
    progress: new ProgressReporter({
      messenger,
      limits: { maxSteps: limits.maxSteps, maxToolCalls: limits.maxToolCalls, maxRunMicroUsd: limits.maxRunMicroUsd },
      logger,
    }),
    limits,
    maxOutputTokensPerTurn: 400,
    estimateChatCostMicroUsd: (request) =>
      gateway.prices.cost('gpt-4o-mini', {
        inputTokens: request.inputTokens ?? gateway.gateway.countChatTokens(request),
        outputTokens: request.maxOutputTokens,
      }),
    logger,
    metrics: createAgentMetrics(metrics),
  };
  const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
  const buildQueue = () => {
    const queue = new AgentRunQueue({
      connection,
      prefix: `${gateway.keyPrefix}bull`,
      runtime,
      logger,
      leaseMs: 3000,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.lockDurationMs ? { lockDurationMs: options.lockDurationMs } : {}),
      ...(options.stalledIntervalMs ? { stalledIntervalMs: options.stalledIntervalMs } : {}),
      ...(options.attempts ? { attempts: options.attempts } : {}),
      expirySweepIntervalMs: options.expirySweepIntervalMs ?? 0,
    });
    if (options.startWorker !== false) queue.startWorker();
    return queue;
  };
  const harness: AgentHarness = {
    gateway,
    fake: fake as FakeOpenAIServer,
    messenger: recording,
    runtime,
    approvals,
    runs,
    queue: buildQueue(),
    service: undefined as unknown as AgentService,
    filed,
    passages,
    metrics,
    clock,
    async restartWorker() {
      await harness.queue.close();
      harness.queue = buildQueue();
      harness.service = new AgentService({ runtime, queue: harness.queue, logger });
    },
    async startRun(goal, userId = requester) {
      const started = await harness.service.startRun({ workspaceId, channelId, threadTs, userId, goal });
      if (started.kind !== 'started') throw new Error(started.message);
      return started.runId;
    },
    async waitForRun(runId, predicate, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let last: RunState | undefined;
      while (Date.now() < until) {
        last = await runs.load(workspaceId, runId);
        if (last && predicate(last)) return last;
        await sleep(25);
      }
      throw new Error(
        `run ${runId} did not reach the expected state; last: ${JSON.stringify(last?.outcome ?? last?.status)}`,
      );
    },
    async waitForIdleQueue(timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const counts = await harness.queue.counts();
        if ((counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) === 0) return;
        await sleep(25);
      }
      throw new Error('the agent queue did not become idle');
    },
    reset() {
      fake?.reset();
      filed.length = 0;
      passages.length = 0;
      clock.offsetMs = 0;
    },
    async cleanup() {
      await harness.queue.obliterate().catch(() => undefined);
      await harness.queue.close();
      await gateway.cleanup();
    },
  };
  harness.service = new AgentService({ runtime, queue: harness.queue, logger });
  return harness;
}

/** A scripted tool call for the fake model. */
export function call(name: string, args: Record<string, unknown>, id?: string) {
  return { name, arguments: JSON.stringify(args), ...(id ? { id } : {}) };
}

/** The value of a button with `actionId` in a message's blocks. */
export function buttonValue(
  message: { blocks?: Record<string, unknown>[] } | undefined,
  actionId: string,
): string | undefined {
  for (const block of message?.blocks ?? []) {
    if (block.type !== 'actions') continue;
    for (const element of (block.elements as Record<string, unknown>[] | undefined) ?? []) {
      if (element.action_id === actionId) return element.value as string;
    }
  }
  return undefined;
}

export function hasButtons(message: { blocks?: Record<string, unknown>[] } | undefined): boolean {
  return (message?.blocks ?? []).some((block) => block.type === 'actions');
}

export function blockText(message: { text: string; blocks?: Record<string, unknown>[] } | undefined): string {
  return `${message?.text ?? ''}\n${JSON.stringify(message?.blocks ?? [])}`;
}

/**
 * One harness per test, cleaned up after each: call once at a test file's top level and use the returned
 * function in the tests that need a harness.
 */
export function harnessPerTest(): (options?: AgentHarnessOptions) => Promise<AgentHarness> {
  let current: AgentHarness | undefined;
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return async (options = {}) => {
    current = await createAgentHarness(options);
    return current;
  };
}
