/**
 * Per-user daily caps (issue 15, item 6) on the real gateway, the local Redis and the fake OpenAI server: a person's
 * spend today in a workspace is reserved in the same script as the channel's and the workspace's windows, so 30
 * concurrent calls of one person never pass their cap; other people and the channel cap are unaffected; releases,
 * warnings, the ledger rebuild and `/budget` know the person's window.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { handleBudgetCommand } from '../../src/capabilities/budget/handle-budget-command.ts';
import { DeskhandError } from '../../src/errors.ts';
import { reseedFromLedgerWhenMissing } from '../../src/llm/ledger.ts';
import type { ChatRequest } from '../../src/ports/language-model.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { createHarness, deleteKeys, type Harness, userMessage } from './gateway-harness.ts';

const request: ChatRequest = {
  purpose: 'user_cap',
  promptVersion: '1',
  messages: userMessage('how much may I spend today?'),
  maxOutputTokens: 200,
  cache: { enabled: false },
};

/** A call of `userId` in channel `channelId` of workspace T0USERCAP. */
const as = (userId: string | undefined, channelId = 'C0CAP') => ({
  workspaceId: 'T0USERCAP',
  channelId,
  ...(userId ? { userId } : {}),
});

async function refusal(call: Promise<unknown>): Promise<DeskhandError> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof DeskhandError, `expected a refusal, got ${String(error)}`);
  assert.equal(error.code, 'over_budget');
  return error;
}

describe('per-user daily caps', () => {
  let harness: Harness;
  /** What one call reserves and, as the fake reports exactly that usage, is charged. */
  let perCall: number;
  const allowed = 7;

  before(async () => {
    harness = await createHarness({ caps: { userDaily: 1 } });
    perCall = harness.prices.cost('gpt-4o-mini', {
      inputTokens: harness.gateway.countChatTokens(request),
      outputTokens: request.maxOutputTokens,
    });
    await harness.cleanup();
    // Room for exactly `allowed` calls, and half a call more; the channel and workspace caps are far away.
    harness = await createHarness({
      caps: { userDaily: allowed * perCall + Math.floor(perCall / 2) },
      adminUserIds: ['U0ADMIN1'],
    });
  });
  after(async () => harness.cleanup());

  /** A reply whose reported usage is exactly the reservation, so settled spend equals reserved spend. */
  const exactReply = (delayMs = 20) => ({
    content: 'ok',
    usage: { promptTokens: harness.gateway.countChatTokens(request), completionTokens: request.maxOutputTokens },
    delayMs,
  });

  test('30 concurrent calls of one person: exactly the ones that fit are made, the rest are refused for the person', async () => {
    harness.fake?.enqueueChat(...Array.from({ length: 30 }, () => exactReply()));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, () => harness.gateway.chat(request, as('U0ALICE'))),
    );
    const made = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
    assert.equal(made.length, allowed);
    assert.equal(refused.length, 30 - allowed);
    for (const error of refused) {
      assert.ok(error instanceof DeskhandError && error.code === 'over_budget', String(error));
      assert.equal(error.details?.window, 'user_daily');
      assert.equal(error.details?.userId, 'U0ALICE');
      assert.match(
        error.userMessage ?? '',
        /^You have used \$\d+\.\d+ of your daily model budget of \$\d+\.\d+ in this workspace\. It resets /,
      );
    }
    assert.equal(harness.fake?.chatCalls().length, allowed, 'refused calls never reach the provider');
    assert.equal(harness.fake?.pendingChat(), 30 - allowed);
    harness.fake?.reset();
    await harness.gateway.flush();
    const status = await harness.budgets.status('T0USERCAP', 'C0CAP', 'U0ALICE');
    const mine = status.windows.find((window) => window.window === 'user_daily');
    assert.ok(mine);
    assert.equal(mine.spentMicroUsd, allowed * perCall);
    assert.ok(mine.spentMicroUsd <= mine.capMicroUsd);
    assert.equal(mine.reservedMicroUsd, 0);
    assert.equal(status.windows.find((window) => window.window === 'channel_daily')?.spentMicroUsd, allowed * perCall);
  });

  test('another person in the same channel is not affected, nor the same person’s calls without a known user', async () => {
    harness.fake?.enqueueChat(exactReply(0), exactReply(0), exactReply(0));
    await harness.gateway.chat(request, as('U0BOB'));
    // No user known (e.g. document ingestion), or an empty id: not user-capped, and not refused for it.
    await harness.gateway.chat(request, as(undefined));
    await harness.gateway.chat(request, { ...as(undefined), userId: '' });
    await harness.gateway.flush();
    const bob = await harness.budgets.status('T0USERCAP', 'C0CAP', 'U0BOB');
    assert.equal(bob.windows.find((window) => window.window === 'user_daily')?.spentMicroUsd, perCall);
    const alice = await harness.budgets.status('T0USERCAP', 'C0CAP', 'U0ALICE');
    assert.equal(alice.windows.find((window) => window.window === 'user_daily')?.spentMicroUsd, allowed * perCall);
    // Alice is still refused, in another channel of the workspace too: the cap is per workspace, not per channel.
    const error = await refusal(harness.gateway.chat(request, as('U0ALICE', 'C0OTHER')));
    assert.equal(error.details?.window, 'user_daily');
  });

  test('the channel cap still applies to a person under their own cap', async () => {
    await harness.budgets.setChannelCap('T0USERCAP', 'C0SMALL', 'daily', perCall + 1);
    harness.fake?.enqueueChat(exactReply(0));
    await harness.gateway.chat(request, as('U0CAROL', 'C0SMALL'));
    const error = await refusal(harness.gateway.chat(request, as('U0CAROL', 'C0SMALL')));
    assert.equal(error.details?.window, 'channel_daily');
    assert.match(error.userMessage ?? '', /^This channel has used/);
  });

  test('a failed call releases the person’s reservation; a call that crosses 80 % warns that person once', async () => {
    harness.fake?.enqueueChat({ fault: 'server_error', status: 400 });
    await harness.gateway.chat(request, as('U0DAVE')).catch(() => undefined);
    const dave = (await harness.budgets.status('T0USERCAP', 'C0CAP', 'U0DAVE')).windows.at(-1);
    assert.deepEqual([dave?.window, dave?.spentMicroUsd, dave?.reservedMicroUsd], ['user_daily', 0, 0]);

    harness.warnings.length = 0;
    harness.fake?.enqueueChat(...Array.from({ length: allowed }, () => exactReply(0)));
    for (let call = 0; call < allowed; call += 1) await harness.gateway.chat(request, as('U0DAVE'));
    await harness.gateway.flush();
    const mine = harness.warnings.filter((warning) => warning.window === 'user_daily');
    assert.equal(mine.length, 1);
    assert.equal(mine[0]?.userId, 'U0DAVE');
    assert.ok((mine[0]?.spentMicroUsd ?? 0) * 10 >= (mine[0]?.capMicroUsd ?? 0) * 8);
  });

  test('/budget shows the asking person’s day in the workspace', async () => {
    const reply = await handleBudgetCommand(
      { text: '', userId: 'U0ALICE', workspaceId: 'T0USERCAP', channelId: 'C0CAP' },
      { budgets: harness.budgets, adminUserIds: ['U0ADMIN1'] },
    );
    const dollars = (micro: number) => `$${(micro / 1_000_000).toFixed(micro < 10_000 ? 4 : 2)}`;
    const line = reply.text.split('\n').find((text) => text.startsWith('• *You today*'));
    assert.ok(line, reply.text);
    assert.ok(
      line.startsWith(
        `• *You today*: ${dollars(allowed * perCall)} of ${dollars(harness.budgets.defaults.userDailyMicroUsd ?? 0)} spent`,
      ),
      line,
    );
  });

  test('a person’s spend lost with the counters is restored from the ledger export before anything is admitted', async () => {
    reseedFromLedgerWhenMissing(harness.budgets, harness.ledger);
    // The caps snapshot this replica exports when a workspace is first seeded (the export is installed only now).
    await harness.ledger.appendConfig('T0USERCAP', { at: new Date().toISOString(), caps: {} });
    await harness.gateway.flush();
    await deleteKeys(harness.redis, harness.keyPrefix);
    // `/budget` restores the figures before showing them, as a reservation does.
    const shown = await harness.budgets.status('T0USERCAP', 'C0CAP', 'U0ALICE');
    assert.equal(shown.windows.find((window) => window.window === 'user_daily')?.spentMicroUsd, allowed * perCall);
    assert.equal(shown.restored?.source, 'export');
    const error = await refusal(harness.gateway.chat(request, as('U0ALICE', 'C0NEW')));
    assert.equal(error.details?.window, 'user_daily');
    const restored = await harness.budgets.status('T0USERCAP', 'C0NEW', 'U0ALICE');
    assert.equal(restored.windows.find((window) => window.window === 'user_daily')?.spentMicroUsd, allowed * perCall);
  });
});

describe('a per-user cap of $0 and no per-user cap', () => {
  test('$0: the person may not spend, and is told so', async () => {
    const harness = await createHarness({ caps: { userDaily: 0 } });
    try {
      const error = await refusal(harness.gateway.chat(request, as('U0ERIN')));
      assert.equal(error.details?.window, 'user_daily');
      assert.match(error.userMessage ?? '', /^You may not use model calls in this workspace/);
      assert.equal(harness.fake?.chatCalls().length, 0);
    } finally {
      await harness.cleanup();
    }
  });

  test('unset: no user window is reserved, counted or shown', async () => {
    const harness = await createHarness({ caps: { channelDaily: 5_000_000 } });
    try {
      harness.fake?.enqueueChat({ content: 'ok' });
      await harness.gateway.chat(request, as('U0FRANK'));
      await harness.gateway.flush();
      const status = await harness.budgets.status('T0USERCAP', 'C0CAP', 'U0FRANK');
      assert.deepEqual(
        status.windows.map((window) => window.window),
        ['channel_daily', 'channel_monthly', 'workspace_daily'],
      );
      const userKeys = await harness.redis.keys(`${harness.keyPrefix}*:u:*`);
      assert.deepEqual(userKeys, []);
    } finally {
      await harness.cleanup();
    }
  });
});

describe('one person’s 30 calls from three processes and three channels', () => {
  const workerPath = new URL('./gateway-load-worker.ts', import.meta.url).pathname;
  type Outcome = { ok: boolean; cost?: number; code?: string; window?: string };
  const run = (input: Record<string, unknown>) =>
    new Promise<Outcome[]>((resolve, reject) => {
      const child = spawn(process.execPath, [workerPath, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0) reject(new Error(`worker exited with ${code}: ${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '[]') as Outcome[]);
      });
    });

  test('never settle more than the person’s cap, and every refusal is the person’s', async () => {
    const fake = await FakeOpenAIServer.start();
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-user-cap-'));
    const keyPrefix = `test:${randomUUID()}:`;
    const probe = await createHarness({ baseURL: fake.baseURL, keyPrefix, dataDir });
    try {
      // Each call reserves ~603 µ$ (≈20 input tokens + 1000 output) and is charged the same: 6,000 µ$ fits at most 9.
      const caps = { channelDaily: 1_000_000, channelMonthly: 1_000_000, workspaceDaily: 1_000_000, userDaily: 6_000 };
      fake.enqueueChat(
        ...Array.from({ length: 30 }, () => ({ content: 'x', usage: { completionTokens: 1000 }, delayMs: 30 })),
      );
      const common = { baseURL: fake.baseURL, keyPrefix, dataDir, workspaceId: 'T0PROCS', userId: 'U0BUSY', caps };
      const outcomes = (
        await Promise.all(['C0ONE', 'C0TWO', 'C0THREE'].map((channelId) => run({ ...common, channelId, count: 10 })))
      ).flat();
      const made = outcomes.filter((outcome) => outcome.ok);
      const refused = outcomes.filter((outcome) => !outcome.ok);
      assert.equal(made.length + refused.length, 30);
      assert.ok(made.length >= 1 && made.length <= 9, `made ${made.length}`);
      assert.deepEqual(
        new Set(refused.map((outcome) => `${outcome.code}:${outcome.window}`)),
        new Set(['over_budget:user_daily']),
      );
      assert.equal(fake.chatCalls().length, made.length);
      const status = await probe.budgets.status('T0PROCS', 'C0ONE', 'U0BUSY');
      const mine = status.windows.find((window) => window.window === 'user_daily');
      assert.equal(mine, undefined, 'the probe has no per-user cap, so it shows no person’s window');
      const spent = Number(
        await probe.redis.get(`${keyPrefix}{T0PROCS}:budget:spent:u:U0BUSY:d:${probe.budgets.windowsAt().day}`),
      );
      assert.equal(
        spent,
        made.reduce((sum, outcome) => sum + (outcome.cost ?? 0), 0),
      );
      assert.ok(spent <= caps.userDaily, `spent ${spent} > cap`);
    } finally {
      await probe.cleanup();
      await fake.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
