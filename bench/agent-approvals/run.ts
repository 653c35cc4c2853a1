/**
 * Agent ack-path benchmark (`node bench/agent-approvals/run.ts [--requests 300] [--racers 50]`).
 *
 * What sits before the ack of an approval click (`handleApprovalAction`: read the request, authorise, the
 * compare-and-set Lua script, re-read, queue the resume job) and of `/agent` (`startRun`: checkpoint + queue the
 * job), against real Redis and BullMQ. Baseline, in the same run and on the same connection: one Redis PING
 * round trip. Prints p50/p99, the ratio to the baseline and to Slack's 3 s ack limit, and a race of `--racers`
 * simultaneous clicks on one request (exactly one must win).
 */
import { parseArgs } from 'node:util';
import { approvalButtonValue } from '../../src/capabilities/agent/approval-hash.ts';
import type { ApprovalRequest } from '../../src/capabilities/agent/approval-request.ts';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import {
  approver,
  channelId,
  createAgentHarness,
  requester,
  secondApprover,
  workspaceId,
} from '../../test/integration/agent-harness.ts';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '300' }, racers: { type: 'string', default: '50' } },
});
const requests = Number(values.requests);
const racers = Number(values.racers);
const slackAckLimitMs = 3000;

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function time(count: number, operation: (index: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const started = performance.now();
    await operation(index);
    samples.push(performance.now() - started);
  }
  return samples;
}

function newRequest(runId: string) {
  return harness.approvals.create({
    runId,
    workspaceId,
    channelId,
    threadTs: undefined,
    requesterId: requester,
    kind: 'write',
    tool: 'post_message',
    canonicalArguments: '{"channel":"C0TEAM","text":"bench"}',
    target: 'channel:C0TEAM',
    summary: 'Post a message to channel C0TEAM: "bench"',
    toolCallId: 'call_bench',
  });
}

const harness = await createAgentHarness({ startWorker: false });
try {
  const redis = harness.gateway.redis;
  await time(20, () => redis.ping());
  const baseline = await time(requests, () => redis.ping());

  const pending: ApprovalRequest[] = [];
  for (let index = 0; index < requests; index += 1) pending.push(await newRequest(crypto.randomUUID()));
  const clicks = await time(requests, (index) => {
    const request = pending[index];
    if (!request) throw new Error('missing request');
    return harness.service.handleApprovalAction({
      workspaceId,
      userId: approver,
      actionId: agentActionIds.approve,
      value: approvalButtonValue(request),
    });
  });
  const starts = await time(requests, (index) =>
    harness.service.startRun({ workspaceId, channelId, userId: requester, goal: `bench goal ${index}` }),
  );

  const contested = await newRequest(crypto.randomUUID());
  const raceStarted = performance.now();
  const outcomes = await Promise.all(
    Array.from({ length: racers }, (_, index) =>
      harness.service.handleApprovalAction({
        workspaceId,
        userId: index % 2 === 0 ? approver : secondApprover,
        actionId: index % 3 === 0 ? agentActionIds.reject : agentActionIds.approve,
        value: approvalButtonValue(contested),
      }),
    ),
  );
  const raceMs = performance.now() - raceStarted;
  const winners = outcomes.filter((outcome) => outcome.kind === 'decided').length;

  const row = (name: string, samples: number[]) => {
    const p50 = percentile(samples, 50);
    const p99 = percentile(samples, 99);
    const base99 = percentile(baseline, 99);
    return (
      `${name.padEnd(28)} p50 ${p50.toFixed(2).padStart(7)} ms  p99 ${p99.toFixed(2).padStart(7)} ms  ` +
      `p99 ×${(p99 / base99).toFixed(1)} of PING  ${((p99 / slackAckLimitMs) * 100).toFixed(2)}% of the 3 s ack limit`
    );
  };
  console.log(`agent ack path, ${requests} sequential operations each (real Redis, BullMQ)`);
  console.log(row('baseline: Redis PING', baseline));
  console.log(row('approval click (decide)', clicks));
  console.log(row('/agent (startRun)', starts));
  console.log(
    `race: ${racers} simultaneous clicks on one request in ${raceMs.toFixed(1)} ms → ${winners} decided, ` +
      `${outcomes.filter((outcome) => outcome.kind === 'already_decided').length} told "already decided"`,
  );
  if (winners !== 1) process.exitCode = 1;
} finally {
  await harness.cleanup();
}
