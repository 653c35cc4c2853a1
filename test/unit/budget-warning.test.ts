import assert from 'node:assert/strict';
import { test } from 'node:test';
import { budgetWarningText } from '../../src/capabilities/budget/budget-warning.ts';

test('the budget warning names the window, the share spent, the reset time and the admins', () => {
  const text = budgetWarningText(
    {
      workspaceId: 'T1',
      channelId: 'C1',
      window: 'channel_daily',
      spentMicroUsd: 4_100_000,
      capMicroUsd: 5_000_000,
      resetsAt: Date.UTC(2026, 10, 29, 0, 0, 0),
    },
    { timeZone: 'Europe/Berlin', adminUserIds: ['U1ADMIN'] },
  );
  assert.match(text, /82 % of this channel's daily model budget/);
  assert.match(text, /\$4\.10 of \$5\.00/);
  assert.match(text, /Sun 29 Nov, 01:00/);
  assert.match(text, /<@U1ADMIN> can raise it with `\/budget set`/);
});

test('the budget warning says when nobody can raise the cap', () => {
  const text = budgetWarningText(
    { workspaceId: 'T1', channelId: 'C1', window: 'workspace_daily', spentMicroUsd: 8, capMicroUsd: 10, resetsAt: 0 },
    { timeZone: 'UTC', adminUserIds: [] },
  );
  assert.match(text, /the workspace's daily model budget/);
  assert.match(text, /No admin is configured/);
});

test('a person’s own warning speaks to them and says where their cap is set', () => {
  const text = budgetWarningText(
    {
      workspaceId: 'T1',
      channelId: 'C1',
      userId: 'U1ALICE',
      window: 'user_daily',
      spentMicroUsd: 850_000,
      capMicroUsd: 1_000_000,
      resetsAt: Date.UTC(2026, 10, 29, 0, 0, 0),
    },
    { timeZone: 'UTC', adminUserIds: ['U1ADMIN'] },
  );
  assert.match(
    text,
    /^:warning: You have used 85 % of your daily model budget in this workspace \(\$0\.85 of \$1\.00\)/,
  );
  assert.match(text, /USER_DAILY_CAP_USD/);
  assert.doesNotMatch(text, /\/budget set/);
});
