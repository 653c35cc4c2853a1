import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveSettings } from '../../src/capabilities/settings/resolve-settings.ts';
import { settingsChanges } from '../../src/capabilities/settings/settings-diff.ts';
import { maxStoredSettingsBytes, parseOverrides } from '../../src/capabilities/settings/settings-store.ts';
import { settingsDefaults } from '../../src/composition/build-settings.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import {
  type WorkspaceSettings,
  workspaceSettingsOverridesSchema,
  workspaceSettingsSchema,
} from '../../src/ports/workspace-settings.ts';

const defaults: WorkspaceSettings = {
  admins: ['UADMIN1'],
  approvers: ['UAPPROVE1'],
  caps: { channelDailyUsd: 5, channelMonthlyUsd: 50, workspaceDailyUsd: 50 },
  model: 'gpt-4o-mini',
  tickets: { categories: ['billing', 'bug'], triageChannelId: 'CTRIAGE1' },
  channels: { mode: 'all', channels: [], mentionDefaults: {}, sharedChannelDocuments: 'channel_only' },
};

describe('workspace settings schema', () => {
  test('accepts full settings and refuses ids, URLs and sizes outside its bounds, naming the field', () => {
    assert.ok(workspaceSettingsSchema.safeParse(defaults).success);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ admins: ['not-a-user'] }, 'admins'],
      [{ approverGroup: 'U123' }, 'approverGroup'],
      [{ caps: { channelDailyUsd: -1 } }, 'caps'],
      [{ caps: { workspaceDailyUsd: 1e9 } }, 'caps'],
      [{ tickets: { webhookUrl: 'http://hooks.example.com/x' } }, 'tickets'],
      [{ tickets: { categories: [] } }, 'tickets'],
      [{ channels: { mode: 'some' } }, 'channels'],
      [{ approvers: Array.from({ length: 101 }, (_, index) => `U${String(index).padStart(4, '0')}`) }, 'approvers'],
    ];
    for (const [overrides, field] of cases) {
      const parsed = workspaceSettingsOverridesSchema.safeParse(overrides);
      assert.equal(parsed.success, false, JSON.stringify(overrides));
      assert.equal(parsed.error?.issues[0]?.path[0], field);
    }
  });
});

describe('resolveSettings', () => {
  test('overrides replace top-level fields and merge caps, tickets and channels field by field', () => {
    const resolved = resolveSettings(defaults, {
      approvers: ['UNEW1'],
      caps: { channelDailyUsd: 1 },
      tickets: { categories: ['refund'] },
      channels: { mode: 'allow', channels: ['CALLOW1'] },
    });
    assert.deepEqual(resolved.approvers, ['UNEW1']);
    assert.deepEqual(resolved.admins, ['UADMIN1']);
    assert.deepEqual(resolved.caps, { channelDailyUsd: 1, channelMonthlyUsd: 50, workspaceDailyUsd: 50 });
    assert.deepEqual(resolved.tickets, { categories: ['refund'], triageChannelId: 'CTRIAGE1' });
    assert.equal(resolved.channels.mode, 'allow');
    assert.equal(resolved.channels.sharedChannelDocuments, 'channel_only');
  });

  test('no overrides gives the defaults, sharing nothing with them', () => {
    const resolved = resolveSettings(defaults, {});
    assert.deepEqual(resolved, defaults);
    resolved.admins.push('UOTHER1');
    assert.deepEqual(defaults.admins, ['UADMIN1']);
  });

  test('the environment becomes the defaults', () => {
    const loaded = loadConfiguration({
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_SIGNING_SECRET: 'secret-secret',
      ADMIN_USER_IDS: 'UA1,UA2',
      APPROVER_USER_IDS: 'UB1',
      APPROVER_USER_GROUP_ID: 'SGROUP1',
      BUDGET_CHANNEL_DAILY_USD: '7',
      USER_DAILY_CAP_USD: '2',
      OPENAI_MODEL: 'gpt-4.1-mini',
      TICKET_CATEGORIES: 'a,b',
      TICKET_WEBHOOK_URL: 'https://hooks.example.com/t',
      TICKET_WEBHOOK_SECRET: 'shh',
    });
    assert.ok(loaded.ok);
    const fromEnvironment = settingsDefaults(loaded.configuration);
    assert.deepEqual(fromEnvironment.admins, ['UA1', 'UA2']);
    assert.deepEqual(fromEnvironment.approvers, ['UB1']);
    assert.equal(fromEnvironment.approverGroup, 'SGROUP1');
    assert.deepEqual(fromEnvironment.caps, {
      channelDailyUsd: 7,
      channelMonthlyUsd: 50,
      workspaceDailyUsd: 50,
      userDailyUsd: 2,
    });
    assert.equal(fromEnvironment.model, 'gpt-4.1-mini');
    assert.deepEqual(fromEnvironment.tickets, { categories: ['a', 'b'], webhookUrl: 'https://hooks.example.com/t' });
    assert.equal(JSON.stringify(fromEnvironment).includes('shh'), false, 'the webhook secret is not a setting');
  });
});

describe('settings audit diff', () => {
  test('names each changed field with old and new values, and shows a webhook URL by its origin only', () => {
    const changes = settingsChanges(
      { approvers: ['U1A'], caps: { channelDailyUsd: 5 } },
      {
        approvers: ['U2B'],
        caps: { channelDailyUsd: 5, workspaceDailyUsd: 9 },
        tickets: { webhookUrl: 'https://hooks.example.com/services/SECRET123' },
      },
    );
    assert.deepEqual(changes, [
      { field: 'approvers', old: ['U1A'], new: ['U2B'] },
      { field: 'caps.workspaceDailyUsd', old: undefined, new: 9 },
      { field: 'tickets.webhookUrl', old: undefined, new: 'https://hooks.example.com/…' },
    ]);
  });
});

describe('parseOverrides (what is read back from Redis)', () => {
  test('refuses text that is not JSON, too large, or outside the schema, and says why', () => {
    assert.deepEqual(parseOverrides('{nope'), { problem: 'not JSON' });
    assert.match(
      String((parseOverrides(' '.repeat(maxStoredSettingsBytes + 1)) as { problem: string }).problem),
      /larger/,
    );
    assert.match(String((parseOverrides('{"admins":["x"]}') as { problem: string }).problem), /^admins\.0: /);
    assert.deepEqual(parseOverrides('{"model":"gpt-4o"}'), { overrides: { model: 'gpt-4o' } });
  });
});
