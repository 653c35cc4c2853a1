/**
 * Gateway benchmark (`npm run bench:gateway -- [--iterations 1000] [--warmup 1000]`). Everything is measured in the same run, against
 * the local Redis and a FakeOpenAIServer in a child process:
 *
 * (a) overhead on a cache miss: `gateway.chat` of a cacheable request with a new prompt (token count, one Lua script
 *     for cache lookup + reservation, SDK call, then one Lua script for settlement + cache store sent before `chat`
 *     returns but answered after it, ledger off the reply path) against the bare `openai` client sending the same
 *     request to the same fake — p50/p99 of each, the difference in ms and the ratio; also the time until the
 *     settlement is answered (`chat` + `whenSettled`), CPU per call including that work, and the same gateway with its
 *     budget store stubbed out, which separates the gateway's own work from its Redis round trips;
 * (b) cache-hit latency p50/p99 (no provider call);
 * (c) budget reserve+settle: sequential p50/p99 and throughput with 32 concurrent pairs, without and with a per-user
 *     daily cap (the person's window reserved and settled in the same scripts; pairs alternate between the two);
 * (d) token counting: `countChatTokens` on a realistic request against raw tiktoken on the same text.
 *
 * Calls alternate between baseline and gateway so that noise from the shared machine hits both alike.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import type { BudgetStore, Reservation } from '../../src/llm/budget-store.ts';
import { countChatRequestTokens } from '../../src/llm/chat-token-count.ts';
import { countTokens } from '../../src/llm/tokenizer.ts';
import { toWireMessages } from '../../src/llm/wire-request.ts';
import type { ChatRequest } from '../../src/ports/language-model.ts';
import { createHarness, deleteKeys } from '../../test/integration/gateway-harness.ts';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '1000' },
    // Calls before measuring starts: the app is a long-running service, and on this machine the JIT needs several
    // hundred calls before either client reaches its steady state (README, Performance: Model gateway).
    warmup: { type: 'string', default: '1000' },
    // Spec validation costs the fake CPU on every request; on a small machine that CPU competes with Redis.
    'fake-validation': { type: 'string', default: 'on' },
  },
});
const iterations = Number(values.iterations);
const warmup = Number(values.warmup);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const ms = (value: number) => `${value.toFixed(3)} ms`;

async function startFake(): Promise<{ child: ChildProcess; baseURL: string }> {
  const child = fork(
    new URL('./fake-server.ts', import.meta.url).pathname,
    values['fake-validation'] === 'off' ? ['no-validate'] : [],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const baseURL = await new Promise<string>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { baseURL: string }).baseURL));
    child.once('error', reject);
  });
  return { child, baseURL };
}

const { child, baseURL } = await startFake();
const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-bench-gateway-'));
const harness = await createHarness({
  baseURL,
  dataDir,
  caps: { channelDaily: 1e12, channelMonthly: 1e12, workspaceDaily: 1e12 },
});
// The same store with a per-user daily cap (issue 15): calls with a userId reserve and settle a fourth window.
const userCapped = await createHarness({
  baseURL,
  dataDir,
  caps: { channelDaily: 1e12, channelMonthly: 1e12, workspaceDaily: 1e12, userDaily: 1e12 },
});
const bare = new OpenAI({ apiKey: 'sk-bench', baseURL });
// Decomposition only: the same gateway with a budget store that answers at once, to separate the gateway's own work
// from its Redis work. Never used outside this benchmark.
const noRedisBudgets = {
  reserveOrServeCached: async (input: Omit<Reservation, 'windows'>) => ({
    ...input,
    windows: harness.budgets.windowsAt(),
  }),
  reserve: async (input: Omit<Reservation, 'windows'>) => ({ ...input, windows: harness.budgets.windowsAt() }),
  settle: async () => ({ charged: false, warnings: [] }),
  release: async () => {},
} as unknown as BudgetStore;
const noRedis = await createHarness({ baseURL, dataDir, gateway: { budgets: noRedisBudgets } });

const messages: ChatRequest['messages'] = [
  {
    role: 'system',
    content: 'You are Deskhand, a support assistant for the Acme team. Answer briefly and cite sources.',
  },
  { role: 'user', content: 'Where is my parcel? I ordered it on 3 March and the tracking page has not changed since.' },
];
// A cacheable request with a new prompt each time: the full miss path (cache lookup and reservation in one script,
// provider call, settlement and cache store in another).
const runId = Date.now();
const missRequest = (index: number): ChatRequest => ({
  purpose: 'bench',
  promptVersion: '1',
  messages: [...messages, { role: 'user', content: `Request ${runId}-${index}` }],
  maxOutputTokens: 200,
});

// (a) cache-miss overhead, interleaved.
const bareTimes: number[] = [];
const gatewayTimes: number[] = [];
const gatewaySettledTimes: number[] = [];
const noRedisTimes: number[] = [];
// CPU time this process spends per call: unlike wall time it does not include waiting for Redis or the fake, so it
// isolates the gateway's own work from the scheduling noise of a shared machine.
let bareCpuMicros = 0;
let gatewayCpuMicros = 0;
let noRedisCpuMicros = 0;
const cpuMicros = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};
const benchScope = { workspaceId: 'T0BENCH', channelId: 'C0BENCH' };
for (let index = -warmup; index < iterations; index += 1) {
  const request = missRequest(index);
  let cpu = process.cpuUsage();
  let started = performance.now();
  await bare.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: toWireMessages(request.messages),
    max_completion_tokens: 200,
    temperature: 0,
  });
  const bareElapsed = performance.now() - started;
  const bareCpu = cpuMicros(cpu);
  cpu = process.cpuUsage();
  started = performance.now();
  await harness.gateway.chat(request, benchScope);
  const gatewayElapsed = performance.now() - started;
  // The settlement's reply is handled after `chat` returns; wait for it outside the caller's latency but inside the
  // CPU figure, so neither the next measurement nor the CPU accounting hides that work. The ledger's group-committed
  // fsync (every 20 ms) stays in the background, as in the app.
  await harness.gateway.whenSettled();
  const gatewaySettledElapsed = performance.now() - started;
  const gatewayCpu = cpuMicros(cpu);
  cpu = process.cpuUsage();
  started = performance.now();
  await noRedis.gateway.chat({ ...request, promptVersion: 'no-redis' }, benchScope);
  const noRedisElapsed = performance.now() - started;
  await noRedis.gateway.whenSettled();
  const noRedisCpu = cpuMicros(cpu);
  if (index >= 0) {
    bareTimes.push(bareElapsed);
    gatewayTimes.push(gatewayElapsed);
    gatewaySettledTimes.push(gatewaySettledElapsed);
    noRedisTimes.push(noRedisElapsed);
    bareCpuMicros += bareCpu;
    gatewayCpuMicros += gatewayCpu;
    noRedisCpuMicros += noRedisCpu;
  }
}

// (b) cache hits.
const hitRequest: ChatRequest = { purpose: 'bench', promptVersion: '1', messages, maxOutputTokens: 200 };
await harness.gateway.chat(hitRequest, benchScope);
const hitTimes: number[] = [];
for (let index = -100; index < iterations * 3; index += 1) {
  const started = performance.now();
  const result = await harness.gateway.chat(hitRequest, benchScope);
  if (!result.fromCache) throw new Error('expected a cache hit');
  if (index >= 0) hitTimes.push(performance.now() - started);
}

// (c) reserve + settle, alternating between the store without and with a per-user cap.
const userScope = { ...benchScope, userId: 'U0BENCH' };
const pairTimes: number[] = [];
const userPairTimes: number[] = [];
async function timedPair(budgets: BudgetStore, scope: typeof benchScope, into: number[], index: number) {
  const started = performance.now();
  const reservation = await budgets.reserve({ requestId: randomUUID(), ...scope, amountMicroUsd: 500 });
  await budgets.settle(reservation, 400);
  if (index >= 0) into.push(performance.now() - started);
}
for (let index = -100; index < iterations * 3; index += 1) {
  await timedPair(harness.budgets, benchScope, pairTimes, index);
  await timedPair(userCapped.budgets, userScope, userPairTimes, index);
}
const concurrency = 32;
async function pairsPerSecondOf(budgets: BudgetStore, scope: typeof benchScope): Promise<number> {
  const concurrentPairs = iterations * 10;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < concurrentPairs) {
        next += 1;
        const reservation = await budgets.reserve({ requestId: randomUUID(), ...scope, amountMicroUsd: 500 });
        await budgets.settle(reservation, 400);
      }
    }),
  );
  return concurrentPairs / ((performance.now() - started) / 1000);
}
const pairsPerSecond = await pairsPerSecondOf(harness.budgets, benchScope);
const userPairsPerSecond = await pairsPerSecondOf(userCapped.budgets, userScope);

// (d) token counting.
const countingRequest: ChatRequest = {
  purpose: 'bench',
  promptVersion: '1',
  maxOutputTokens: 200,
  messages: [
    ...messages,
    { role: 'assistant', content: 'Could you give me the order number, please? '.repeat(5) },
    {
      role: 'user',
      content: 'It is A-1234. The parcel was supposed to arrive on Friday; I need it for a trip. '.repeat(10),
    },
  ],
  tools: [
    {
      name: 'get_order_status',
      description: 'Looks up the delivery status of an order.',
      parameters: { type: 'object', properties: { orderId: { type: 'string', description: 'The order number' } } },
    },
  ],
};
// Each iteration changes the last message (as a conversation does), so only the unchanged messages can come from the
// counter's memo; the baseline counts the same texts with raw tiktoken and no framing.
const countingRequests = Array.from({ length: iterations * 10 }, (_, index) => ({
  ...countingRequest,
  messages: [
    ...countingRequest.messages,
    { role: 'user' as const, content: `Any news on order A-${index}? I am still waiting for it.` },
  ],
}));
const rawTexts = countingRequests.map((request) =>
  request.messages.map((message) => `${message.role}${message.content ?? ''}`).join(''),
);
const tokensPerRequest = countChatRequestTokens(countingRequests[0]!, 'o200k_base');
const countingIterations = countingRequests.length;
let started = performance.now();
for (const request of countingRequests) countChatRequestTokens(request, 'o200k_base');
const countingSeconds = (performance.now() - started) / 1000;
started = performance.now();
for (const text of rawTexts) countTokens(text, 'o200k_base');
const rawSeconds = (performance.now() - started) / 1000;
const coldCountStarted = performance.now();
const coldIterations = iterations;
for (let index = 0; index < coldIterations; index += 1) {
  countChatRequestTokens(
    {
      ...countingRequest,
      messages: countingRequest.messages.map(
        (message) => ({ ...message, content: `${index} ${message.content}` }) as typeof message,
      ),
    },
    'o200k_base',
  );
}
const coldSeconds = (performance.now() - coldCountStarted) / 1000;

const bareP50 = percentile(bareTimes, 50);
const gatewayP50 = percentile(gatewayTimes, 50);
const report = {
  iterations,
  warmup,
  cacheMiss: {
    bareP50: bareP50,
    bareP99: percentile(bareTimes, 99),
    gatewayP50,
    gatewayP99: percentile(gatewayTimes, 99),
    addedP50Ms: gatewayP50 - bareP50,
    ratioP50: gatewayP50 / bareP50,
    settledP50: percentile(gatewaySettledTimes, 50),
    settledP99: percentile(gatewaySettledTimes, 99),
    withoutRedisP50: percentile(noRedisTimes, 50),
    bareCpuMsPerCall: bareCpuMicros / iterations / 1000,
    gatewayCpuMsPerCall: gatewayCpuMicros / iterations / 1000,
    withoutRedisCpuMsPerCall: noRedisCpuMicros / iterations / 1000,
  },
  cacheHit: { p50: percentile(hitTimes, 50), p99: percentile(hitTimes, 99) },
  reserveSettle: { p50: percentile(pairTimes, 50), p99: percentile(pairTimes, 99), pairsPerSecond, concurrency },
  reserveSettleUserCap: {
    p50: percentile(userPairTimes, 50),
    p99: percentile(userPairTimes, 99),
    pairsPerSecond: userPairsPerSecond,
    ratioP50: percentile(userPairTimes, 50) / percentile(pairTimes, 50),
  },
  tokenCounting: {
    tokensPerRequest,
    requestsPerSecond: countingIterations / countingSeconds,
    tokensPerSecond: (countingIterations * tokensPerRequest) / countingSeconds,
    rawTiktokenRequestsPerSecond: countingIterations / rawSeconds,
    ratioToRawTiktoken: countingSeconds / rawSeconds,
    allNewTextRequestsPerSecond: coldIterations / coldSeconds,
  },
};

console.log(
  `Gateway benchmark — ${iterations} iterations after ${warmup} warm-up calls, local Redis, fake OpenAI in a child process`,
);
console.log('(a) cache miss, gateway vs bare openai client (same fake, interleaved)');
console.log(`    bare client  p50 ${ms(report.cacheMiss.bareP50)}  p99 ${ms(report.cacheMiss.bareP99)}`);
console.log(`    gateway      p50 ${ms(gatewayP50)}  p99 ${ms(report.cacheMiss.gatewayP99)}`);
console.log(
  `    added at p50 ${ms(report.cacheMiss.addedP50Ms)} (target < 1 ms), ratio ${report.cacheMiss.ratioP50.toFixed(2)}×`,
);
console.log(
  `    until the settlement is answered too (not on the caller's path): p50 ${ms(report.cacheMiss.settledP50)}  p99 ${ms(report.cacheMiss.settledP99)} (added ${ms(report.cacheMiss.settledP50 - bareP50)})`,
);
console.log(
  `    same gateway, budget store stubbed (no Redis): p50 ${ms(report.cacheMiss.withoutRedisP50)} (added ${ms(report.cacheMiss.withoutRedisP50 - bareP50)})`,
);
console.log(
  `    CPU per call in this process: bare ${ms(report.cacheMiss.bareCpuMsPerCall)}, gateway ${ms(report.cacheMiss.gatewayCpuMsPerCall)} (added ${ms(report.cacheMiss.gatewayCpuMsPerCall - report.cacheMiss.bareCpuMsPerCall)})`,
);
console.log(
  `    CPU per call with the budget store stubbed (no Redis, no ledger): ${ms(report.cacheMiss.withoutRedisCpuMsPerCall)} (added ${ms(report.cacheMiss.withoutRedisCpuMsPerCall - report.cacheMiss.bareCpuMsPerCall)}); the rest of the gateway's added CPU is its two Redis scripts and the ledger append`,
);
console.log(`(b) cache hit  p50 ${ms(report.cacheHit.p50)}  p99 ${ms(report.cacheHit.p99)} (target p50 < 1 ms)`);
console.log(
  `(c) reserve+settle  p50 ${ms(report.reserveSettle.p50)}  p99 ${ms(report.reserveSettle.p99)}  throughput ${Math.round(pairsPerSecond)} pairs/s at concurrency ${concurrency}`,
);
console.log(
  `    with a per-user cap  p50 ${ms(report.reserveSettleUserCap.p50)}  p99 ${ms(report.reserveSettleUserCap.p99)}  throughput ${Math.round(userPairsPerSecond)} pairs/s; p50 ratio to without ${report.reserveSettleUserCap.ratioP50.toFixed(2)}×`,
);
console.log(
  `(d) token counting  ${Math.round(report.tokenCounting.requestsPerSecond)} requests/s (${tokensPerRequest} tokens each, last message new each time: ${(report.tokenCounting.tokensPerSecond / 1e6).toFixed(2)} M tokens/s); raw tiktoken on the same texts ${Math.round(report.tokenCounting.rawTiktokenRequestsPerSecond)}/s, time ratio ${report.tokenCounting.ratioToRawTiktoken.toFixed(2)}×; every message new: ${Math.round(report.tokenCounting.allNewTextRequestsPerSecond)} requests/s`,
);
console.log(JSON.stringify(report));

await harness.cleanup();
await noRedis.cleanup();
await userCapped.cleanup();
const cleanupRedis = new Redis();
await deleteKeys(cleanupRedis, harness.keyPrefix);
cleanupRedis.disconnect();
await rm(dataDir, { recursive: true, force: true });
child.send('stop');
