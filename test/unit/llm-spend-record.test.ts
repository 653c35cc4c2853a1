/**
 * The spend record's entry format (`spend-record.ts`): what the settle script appends, what a restore copies back,
 * what a config snapshot holds, and that damaged entries are skipped rather than counted. The settle script is run
 * against the local Redis so the format the Lua writes is the format the parser reads.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { workspaceRecordKeys } from '../../src/llm/budget-keys.ts';
import { BudgetStore } from '../../src/llm/budget-store.ts';
import {
  parseConfigEntry,
  parseSpendEntry,
  readConfigRecord,
  readSpendRecord,
  recordRetentionMs,
  spendEntryFields,
} from '../../src/llm/spend-record.ts';
import { deleteKeys } from '../integration/gateway-harness.ts';

const call = {
  kind: 'restored' as const,
  requestId: 'req-1',
  channelId: 'C0REC',
  userId: 'U0REC',
  day: '2026-12-05',
  month: '2026-12',
  costMicroUsd: 1234,
  model: 'gpt-4o-mini',
  inputTokens: 100,
  outputTokens: 20,
  unpriced: 'local server',
  purpose: 'answer',
};

describe('spend record entries', () => {
  test('fields round-trip: what a restore appends is what a rebuild reads', () => {
    const fields = spendEntryFields(call);
    assert.deepEqual(fields.slice(0, 6), ['kind', 'restored', 'request', 'req-1', 'channel', 'C0REC']);
    assert.deepEqual(parseSpendEntry('1764950000000-0', fields), { id: '1764950000000-0', ...call });
  });

  test('an unknown user, a priced model and no purpose are empty fields and read back as absent', () => {
    const { userId: _user, unpriced: _unpriced, purpose: _purpose, ...bare } = call;
    const fields = spendEntryFields({ ...bare, kind: 'settle' });
    assert.equal(fields[fields.indexOf('user') + 1], '');
    assert.deepEqual(parseSpendEntry('1-0', fields), { id: '1-0', ...bare, kind: 'settle' });
  });

  test('damaged entries are refused, not counted', () => {
    const fields = spendEntryFields(call);
    const withField = (name: string, value: string) => {
      const copy = [...fields];
      copy[copy.indexOf(name) + 1] = value;
      return copy;
    };
    assert.equal(parseSpendEntry('1-0', withField('kind', 'refund')), undefined);
    assert.equal(parseSpendEntry('1-0', withField('request', '')), undefined);
    assert.equal(parseSpendEntry('1-0', withField('cost', '-5')), undefined);
    assert.equal(parseSpendEntry('1-0', withField('cost', '1.5')), undefined);
    assert.equal(parseSpendEntry('1-0', withField('day', 'yesterday')), undefined);
    assert.equal(parseSpendEntry('1-0', withField('month', '2026-11')), undefined);
    // A token count that is not a count reads as 0 (tokens are use, not spend).
    assert.equal(parseSpendEntry('1-0', withField('in', 'lots'))?.inputTokens, 0);
  });

  test('config snapshots: caps per channel and the settings text, checked', () => {
    const settings = { json: '{"caps":{"channelDailyUsd":1}}', version: 1764950000123 };
    assert.deepEqual(
      parseConfigEntry([
        'caps',
        '{"C1":{"daily":500000},"C2":{"monthly":9000000}}',
        'settings',
        JSON.stringify(settings),
      ]),
      { caps: { C1: { daily: 500_000 }, C2: { monthly: 9_000_000 } }, settings },
    );
    assert.deepEqual(parseConfigEntry(['caps', '{}', 'settings', '']), { caps: {} });
    assert.equal(parseConfigEntry(['caps', '{"C1":{"daily":-1}}', 'settings', '']), undefined);
    assert.equal(parseConfigEntry(['caps', 'not json', 'settings', '']), undefined);
    assert.equal(parseConfigEntry(['caps', '{}', 'settings', '{"json":1,"version":2}']), undefined);
  });
});

describe('spend record in Redis', () => {
  const keyPrefix = `test:${randomUUID()}:`;
  const redis = new Redis('redis://127.0.0.1:6379');
  const budgets = new BudgetStore({
    redis,
    keyPrefix,
    timeZone: 'UTC',
    defaults: {
      channelDailyMicroUsd: 5_000_000,
      channelMonthlyMicroUsd: 50_000_000,
      workspaceDailyMicroUsd: 50_000_000,
    },
    reservationTtlMs: 60_000,
  });
  after(async () => {
    await deleteKeys(redis, keyPrefix);
    redis.disconnect();
  });

  test('settle appends exactly one entry per request, in the format the parser reads, trimmed by age', async () => {
    const reservation = await budgets.reserve({
      requestId: 'rec-1',
      workspaceId: 'T0REC',
      channelId: 'C0REC',
      userId: 'U0REC',
      amountMicroUsd: 5_000,
    });
    const tokens = { model: 'gpt-4o-mini', inputTokens: 100, outputTokens: 20, purpose: 'answer' };
    await budgets.settle(reservation, 1234, undefined, tokens);
    await budgets.settle(reservation, 1234, undefined, tokens); // a second settle is a no-op, and records nothing
    const keys = workspaceRecordKeys(keyPrefix, 'T0REC');
    const read = await readSpendRecord(redis, keys.record);
    assert.equal(read.damaged, 0);
    assert.equal(read.entries.length, 1);
    const [entry] = read.entries;
    assert.deepEqual(
      { ...entry, id: '' },
      {
        id: '',
        kind: 'settle',
        requestId: 'rec-1',
        channelId: 'C0REC',
        userId: 'U0REC',
        day: reservation.windows.day,
        month: reservation.windows.month,
        costMicroUsd: 1234,
        model: 'gpt-4o-mini',
        inputTokens: 100,
        outputTokens: 20,
        purpose: 'answer',
      },
    );
    // The id is the Redis clock at settlement; entries older than the retention are trimmed by later appends.
    const ms = Number(entry?.id.split('-')[0]);
    assert.ok(Math.abs(ms - Date.now()) < 60_000, `entry id ${entry?.id}`);
    assert.ok(recordRetentionMs >= 31 * 86_400_000, 'the record outlives the longest window a restore rebuilds');
    const released = await budgets.reserve({
      requestId: 'rec-2',
      workspaceId: 'T0REC',
      channelId: 'C0REC',
      amountMicroUsd: 1,
    });
    await budgets.release(released);
    assert.equal((await readSpendRecord(redis, keys.record)).entries.length, 1, 'a release records nothing');
  });

  test('a cap change appends the workspace’s full caps snapshot', async () => {
    await budgets.setChannelCap('T0REC', 'C0A', 'daily', 700_000);
    await budgets.setChannelCap('T0REC', 'C0B', 'monthly', 9_000_000);
    await budgets.setChannelCap('T0REC', 'C0A', 'daily', null);
    const keys = workspaceRecordKeys(keyPrefix, 'T0REC');
    assert.deepEqual(await readConfigRecord(redis, keys.config), { caps: { C0B: { monthly: 9_000_000 } } });
    // The workspace's first snapshot (written when its first reservation seeded it), then one per change.
    const entries = await redis.xrange(keys.config, '-', '+');
    assert.deepEqual(
      entries.map(([, fields]) => parseConfigEntry(fields)?.caps),
      [
        {},
        { C0A: { daily: 700_000 } },
        { C0A: { daily: 700_000 }, C0B: { monthly: 9_000_000 } },
        { C0B: { monthly: 9_000_000 } },
      ],
    );
  });
});
