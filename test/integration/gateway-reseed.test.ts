/**
 * Budget counters Redis loses while the app runs (a restart without persistence, a failover) are restored by the next
 * reservation or `/budget`, without restarting the app: here Redis lost the spend record too, so the local ledger
 * export restores them, and a cap that was nearly used still refuses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DeskhandError } from '../../src/errors.ts';
import { reseedFromLedgerWhenMissing } from '../../src/llm/ledger.ts';
import type { ChatRequest } from '../../src/ports/language-model.ts';
import { createHarness, deleteKeys, type Harness, scope, userMessage } from './gateway-harness.ts';

const request = (maxOutputTokens: number): ChatRequest => ({
  purpose: 'reseed',
  promptVersion: '1',
  messages: userMessage('count me after the loss'),
  maxOutputTokens,
  cache: { enabled: false },
});

describe('budget counters lost while the app runs', () => {
  let harness: Harness;
  const reseeded: Array<{ workspaceId: string; entries: number }> = [];
  before(async () => {
    harness = await createHarness();
    reseedFromLedgerWhenMissing(harness.budgets, harness.ledger, (workspaceId, rebuilt) => {
      reseeded.push({ workspaceId, entries: rebuilt.entries });
    });
  });
  after(async () => harness.cleanup());

  test('the next reservation reseeds the workspace from the ledger, once, and a nearly used cap refuses', async () => {
    harness.fake?.enqueueChat({ content: 'one' }, { content: 'two' }, { content: 'must not be reached' });
    const first = await harness.gateway.chat(request(40), scope('C9', 'T9'));
    const second = await harness.gateway.chat(request(40), scope('C9', 'T9'));
    // A workspace new to Redis is seeded by its first reservation (an empty ledger), then never again.
    assert.deepEqual(reseeded, [{ workspaceId: 'T9', entries: 0 }]);
    await harness.gateway.flush();
    const spent = first.costMicroUsd + second.costMicroUsd;
    assert.equal((await harness.budgets.status('T9', 'C9')).windows[0]?.spentMicroUsd, spent);

    // Redis loses everything under the prefix, as a restart without persistence would: `/budget` restores the
    // figures from the ledger export before showing them, and says so.
    await deleteKeys(harness.redis, harness.keyPrefix);
    const shown = await harness.budgets.status('T9', 'C9');
    assert.equal(shown.windows[0]?.spentMicroUsd, spent);
    assert.equal(shown.restored?.source, 'export');
    assert.equal(shown.restored?.caps, 'restored');
    // Nearly used: one more µ$ than was spent. Without the spent counters the next call would fit under it.
    await harness.budgets.setChannelCap('T9', 'C9', 'daily', spent + 1);
    const third = request(1);
    const worstCase = harness.prices.cost('gpt-4o-mini', {
      inputTokens: harness.gateway.countChatTokens(third),
      outputTokens: 1,
    });
    assert.ok(worstCase > 1 && worstCase <= spent + 1, `the third call (${worstCase} µ$) must fit an empty cap`);

    const error = await harness.gateway.chat(third, scope('C9', 'T9')).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof DeskhandError, `expected a refusal, got ${String(error)}`);
    assert.equal(error.code, 'over_budget');
    assert.equal(harness.fake?.chatCalls().length, 2, 'the refused call never reached the provider');
    assert.deepEqual(reseeded.at(-1), { workspaceId: 'T9', entries: 2 });
    const daily = (await harness.budgets.status('T9', 'C9')).windows[0];
    assert.equal(daily?.spentMicroUsd, spent);
    assert.equal(daily?.reservedMicroUsd, 0);
  });

  test('concurrent reservations after a loss share one rebuild, and later ones do not rebuild', async () => {
    await deleteKeys(harness.redis, harness.keyPrefix);
    const before = reseeded.length;
    const reservations = await Promise.all(
      Array.from({ length: 5 }, (_, index) =>
        harness.budgets.reserve({
          requestId: `reseed-${index}`,
          workspaceId: 'T9',
          channelId: 'C9B',
          amountMicroUsd: 10,
        }),
      ),
    );
    assert.equal(reseeded.length, before + 1);
    await harness.budgets.reserve({
      requestId: 'reseed-later',
      workspaceId: 'T9',
      channelId: 'C9B',
      amountMicroUsd: 10,
    });
    assert.equal(reseeded.length, before + 1);
    for (const reservation of reservations) await harness.budgets.release(reservation);
    // The rebuilt workspace day holds the ledger's spend from the first test.
    const workspaceDay = (await harness.budgets.status('T9', 'C9B')).windows[2];
    assert.ok((workspaceDay?.spentMicroUsd ?? 0) > 0);
  });
});
