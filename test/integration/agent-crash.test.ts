/**
 * Real crashes: the worker runs in a child process that is killed with SIGKILL, and a worker in this process
 * (another "replica") picks the run up from its Redis checkpoint.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { approvalButtonValue } from '../../src/capabilities/agent/approval-hash.ts';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { type AgentHarness, approver, call, createAgentHarness, workspaceId } from './agent-harness.ts';

let fake: FakeOpenAIServer;
let harness: AgentHarness;
let child: ChildProcess | undefined;
let dataDir: string;

before(async () => {
  fake = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  dataDir = await mkdtemp(join(tmpdir(), 'deskhand-agent-crash-'));
});
after(async () => {
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
});
beforeEach(async () => {
  fake.reset();
  harness = await createAgentHarness({
    shared: { baseURL: fake.baseURL, keyPrefix: `test:agent-crash:${crypto.randomUUID()}:`, dataDir },
    startWorker: false,
    lockDurationMs: 1000,
    stalledIntervalMs: 500,
  });
});
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  await harness.cleanup();
});

async function startChild(mode: 'normal' | 'hang-file-ticket'): Promise<ChildProcess> {
  const started = spawn(process.execPath, [join(import.meta.dirname, 'agent-crash-worker.ts')], {
    env: {
      ...process.env,
      AGENT_CRASH_BASE_URL: fake.baseURL,
      AGENT_CRASH_KEY_PREFIX: harness.gateway.keyPrefix,
      AGENT_CRASH_DATA_DIR: dataDir,
      AGENT_CRASH_MODE: mode,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    started.once('exit', (code) => reject(new Error(`crash worker exited early (${code})`)));
    started.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  child = started;
  return started;
}

function kill(process: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    process.once('exit', () => resolve());
    process.kill('SIGKILL');
  });
}

const ticket = { summary: 'Order 4411 never arrived', category: 'missing_delivery', urgency: 'high' };

function scriptTicketRun() {
  fake.enqueueChat({ toolCalls: [call('update_plan', { steps: ['File a ticket'] })] });
  fake.enqueueChat({ toolCalls: [call('file_ticket', ticket)] });
  fake.enqueueChat({ content: 'Filed.' });
}

async function waitForCard(requestId: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if ((await harness.approvals.get(workspaceId, requestId))?.card) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the card was never posted');
}

async function approve(requestId: string) {
  const request = await harness.approvals.get(workspaceId, requestId);
  assert.ok(request?.card, 'the crashed process posted the card before it died');
  return harness.service.handleApprovalAction({
    workspaceId,
    userId: approver,
    actionId: agentActionIds.approve,
    value: approvalButtonValue(request),
  });
}

test('the process is killed after posting the card; another process completes the run on approval', async () => {
  scriptTicketRun();
  const worker = await startChild('normal');
  const runId = await harness.startRun('File a ticket for order 4411');
  const waiting = await harness.waitForRun(runId, (state) => state.status === 'awaiting_approval');
  await waitForCard(waiting.awaiting?.requestId ?? '');
  await kill(worker);
  const decided = await approve(waiting.awaiting?.requestId ?? '');
  assert.equal(decided.kind, 'decided', 'the pending approval is still valid');
  harness.queue.startWorker();
  const ended = await harness.waitForRun(runId, (state) => state.status === 'ended', 45_000);
  assert.equal(ended.outcome?.kind, 'finished');
  assert.equal(harness.filed.length, 1);
});

test('a process killed during a write: the stalled job resumes elsewhere and escalates the write as uncertain', async () => {
  scriptTicketRun();
  const worker = await startChild('hang-file-ticket');
  const runId = await harness.startRun('File a ticket for order 4411');
  const waiting = await harness.waitForRun(runId, (state) => state.status === 'awaiting_approval');
  await waitForCard(waiting.awaiting?.requestId ?? '');
  await approve(waiting.awaiting?.requestId ?? '');
  await harness.waitForRun(runId, (state) => state.inFlight?.call.name === 'file_ticket');
  await kill(worker);
  harness.queue.startWorker();
  const escalated = await harness.waitForRun(
    runId,
    (state) => state.status === 'awaiting_approval' && state.awaiting?.requestId !== waiting.awaiting?.requestId,
    45_000,
  );
  const request = await harness.approvals.get(workspaceId, escalated.awaiting?.requestId ?? '');
  assert.equal(request?.kind, 'uncertain_write');
  assert.equal(request?.tool, 'file_ticket');
  assert.equal(harness.filed.length, 0, 'not repeated without a human');
  const audit = await harness.service.auditLog(workspaceId, runId);
  assert.deepEqual(
    audit.filter((entry) => entry.action === 'execute').map((entry) => entry.result),
    ['started'],
    'the crashed attempt started and never finished',
  );
});
