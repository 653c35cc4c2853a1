import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveSettings } from '../../src/capabilities/settings/resolve-settings.ts';
import { buildSettingsModal } from '../../src/capabilities/settings/settings-modal.ts';
import {
  parseSettingsSubmission,
  type SubmissionContext,
} from '../../src/capabilities/settings/settings-submission.ts';
import { buildSettingsHandlers } from '../../src/composition/build-settings.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import type { WorkspaceSettings } from '../../src/ports/workspace-settings.ts';
import { settingsBlockIds as ids } from '../../src/slack-kit/settings-ids.ts';
import { checkView } from '../fakes/slack-limits.ts';

const defaults: WorkspaceSettings = {
  admins: ['UADMIN1'],
  approvers: ['UAPPROVE1'],
  caps: { channelDailyUsd: 5, channelMonthlyUsd: 50, workspaceDailyUsd: 50 },
  model: 'gpt-4o-mini',
  tickets: { categories: ['billing', 'bug'] },
  channels: {
    mode: 'all',
    channels: [],
    mentionDefaults: { CMENTION1: 'ticket' },
    sharedChannelDocuments: 'channel_only',
  },
};
const context: SubmissionContext = {
  defaults,
  current: { channels: { mentionDefaults: { CMENTION1: 'agent' } } },
  modelProblem: (model) => (model === 'gpt-4o-mini' || model === 'gpt-4o' ? undefined : `no price for ${model}`),
  webhookSecretConfigured: true,
};

/** The state Slack sends for the modal's initial values, with `changes` applied. */
function valuesOf(settings: WorkspaceSettings, changes: Record<string, Record<string, unknown>> = {}) {
  const view = buildSettingsModal({ settings, defaults, metadata: { workspaceId: 'T1', version: 0 } });
  const values: Record<string, Record<string, unknown>> = {};
  for (const block of view.blocks as { type: string; block_id?: string; element?: Record<string, unknown> }[]) {
    if (block.type !== 'input' || !block.block_id || !block.element) continue;
    const element = block.element;
    const state: Record<string, unknown> = {};
    if (element.type === 'plain_text_input') state.value = element.initial_value ?? null;
    if (element.type === 'multi_users_select') state.selected_users = element.initial_users;
    if (element.type === 'conversations_select') state.selected_conversation = element.initial_conversation ?? null;
    if (element.type === 'multi_conversations_select') state.selected_conversations = element.initial_conversations;
    if (element.type === 'static_select') state.selected_option = element.initial_option ?? null;
    values[block.block_id] = { value: { ...state, ...changes[block.block_id] } };
  }
  return values;
}

describe('settings modal', () => {
  test('fits Block Kit’s view limits with every list at its largest', () => {
    const many = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, index) => `${prefix}${String(index).padStart(6, '0')}`);
    const large: WorkspaceSettings = {
      ...defaults,
      admins: many('U', 100),
      approvers: many('U', 100),
      tickets: { categories: many('category-', 50), webhookUrl: `https://hooks.example.com/${'x'.repeat(1900)}` },
      channels: { ...defaults.channels, mode: 'allow', channels: many('C', 500) },
    };
    const view = buildSettingsModal({ settings: large, defaults, metadata: { workspaceId: 'T1', version: 1 } });
    assert.equal(checkView(view), undefined);
  });
});

describe('parseSettingsSubmission', () => {
  test('an unchanged form stores nothing but the mention defaults already stored', () => {
    const parsed = parseSettingsSubmission(valuesOf(resolveSettings(defaults, context.current)), context);
    assert.deepEqual(parsed, { kind: 'valid', overrides: { channels: { mentionDefaults: { CMENTION1: 'agent' } } } });
  });

  test('only changed fields become overrides', () => {
    const parsed = parseSettingsSubmission(
      valuesOf(defaults, {
        [ids.approvers]: { selected_users: ['UNEW1'] },
        [ids.channelDailyUsd]: { value: '$2.50' },
        [ids.model]: { value: 'gpt-4o' },
        [ids.categories]: { value: 'refund\nbug, other' },
        [ids.channelMode]: { selected_option: { value: 'allow' } },
        [ids.channels]: { selected_conversations: ['CALLOW1'] },
      }),
      { ...context, current: {} },
    );
    assert.deepEqual(parsed, {
      kind: 'valid',
      overrides: {
        approvers: ['UNEW1'],
        model: 'gpt-4o',
        caps: { channelDailyUsd: 2.5 },
        tickets: { categories: ['refund', 'bug', 'other'] },
        channels: { mode: 'allow', channels: ['CALLOW1'] },
      },
    });
  });

  test('each invalid field gets its own specific message', () => {
    const parsed = parseSettingsSubmission(
      valuesOf(defaults, {
        [ids.admins]: { selected_users: [] },
        [ids.approvers]: { selected_users: ['not a user'] },
        [ids.approverGroup]: { value: 'U123' },
        [ids.channelMonthlyUsd]: { value: '1e9' },
        [ids.workspaceDailyUsd]: { value: '200000' },
        [ids.model]: { value: 'gpt-mystery' },
        [ids.categories]: { value: 'x'.repeat(41) },
        [ids.webhookUrl]: { value: 'https://10.0.0.1/hook' },
        [ids.channelMode]: { selected_option: { value: 'allow' } },
        [ids.channels]: { selected_conversations: [] },
        [ids.sharedChannelDocuments]: { selected_option: { value: 'everything' } },
      }),
      context,
    );
    assert.equal(parsed.kind, 'invalid');
    const errors = parsed.kind === 'invalid' ? parsed.errors : {};
    assert.match(errors[ids.admins] ?? '', /at least one admin/);
    assert.match(errors[ids.approvers] ?? '', /Choose people from the list/);
    assert.match(errors[ids.approverGroup] ?? '', /user group id such as S0123ABCD/);
    assert.match(errors[ids.channelMonthlyUsd] ?? '', /“1e9” is not a dollar amount/);
    assert.match(errors[ids.workspaceDailyUsd] ?? '', /At most \$100000/);
    assert.equal(errors[ids.model], 'no price for gpt-mystery');
    assert.match(errors[ids.categories] ?? '', /longer than 40 characters/);
    assert.match(errors[ids.webhookUrl] ?? '', /public host name/);
    assert.match(errors[ids.channels] ?? '', /at least one channel for an allow-list/);
    assert.match(errors[ids.sharedChannelDocuments] ?? '', /Choose which documents/);
  });

  test('a webhook URL needs https and the signing secret; a huge pasted text is refused, not parsed', () => {
    const plain = parseSettingsSubmission(
      valuesOf(defaults, { [ids.webhookUrl]: { value: 'http://hooks.example.com/x' } }),
      context,
    );
    assert.match(plain.kind === 'invalid' ? (plain.errors[ids.webhookUrl] ?? '') : '', /must use https/);
    const unsigned = parseSettingsSubmission(
      valuesOf(defaults, { [ids.webhookUrl]: { value: 'https://hooks.example.com/x' } }),
      { ...context, webhookSecretConfigured: false },
    );
    assert.match(unsigned.kind === 'invalid' ? (unsigned.errors[ids.webhookUrl] ?? '') : '', /TICKET_WEBHOOK_SECRET/);
    const started = performance.now();
    const huge = parseSettingsSubmission(
      valuesOf(defaults, { [ids.categories]: { value: 'a,'.repeat(500_000) } }),
      context,
    );
    assert.match(huge.kind === 'invalid' ? (huge.errors[ids.categories] ?? '') : '', /At most 5000 characters/);
    assert.ok(performance.now() - started < 500);
  });

  test('with OpenAI’s API a model missing from the price table is refused at save time, naming MODEL_PRICES_JSON', async () => {
    const loaded = loadConfiguration({
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_SIGNING_SECRET: 'secret-secret',
      ADMIN_USER_IDS: 'UADMIN1',
    });
    assert.ok(loaded.ok);
    const opened: unknown[] = [];
    const service = {
      defaults,
      get: async () => defaults,
      current: async () => ({ settings: defaults, overrides: {}, version: 0 }),
      save: async () => assert.fail('nothing may be saved'),
    };
    const { views } = buildSettingsHandlers(loaded.configuration, service as never, {
      messenger: { openView: async (...args: unknown[]) => opened.push(args) } as never,
      logger: (await import('../../src/observability/logger.ts')).createSilentLogger(),
    });
    const submit = Object.values(views)[0];
    const result = await submit?.({
      callbackId: 'settings_edit',
      workspaceId: 'T1',
      userId: 'UADMIN1',
      viewId: 'V1',
      privateMetadata: JSON.stringify({ workspaceId: 'T1', version: 0 }),
      values: valuesOf(defaults, { [ids.model]: { value: 'gpt-mystery-9' } }),
      requestId: 'r1',
    });
    const errors = (result?.response as { errors?: Record<string, string> } | undefined)?.errors ?? {};
    assert.match(errors[ids.model] ?? '', /no price for “gpt-mystery-9”.*MODEL_PRICES_JSON/);
  });
});
