/**
 * The settings modal's plain-mention lists, its channel pickers' 100-channel limit, and the workspace's own model
 * prices: what the modal shows (within Block Kit's limits) and what a submission stores.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveSettings } from '../../src/capabilities/settings/resolve-settings.ts';
import { buildSettingsModal } from '../../src/capabilities/settings/settings-modal.ts';
import { parseWorkspacePrices } from '../../src/capabilities/settings/settings-prices.ts';
import {
  parseSettingsSubmission,
  type SubmissionContext,
} from '../../src/capabilities/settings/settings-submission.ts';
import {
  type WorkspaceSettings,
  type WorkspaceSettingsOverrides,
  workspaceSettingsSchema,
} from '../../src/ports/workspace-settings.ts';
import { settingsBlockIds as ids } from '../../src/slack-kit/settings-ids.ts';
import { checkView } from '../fakes/slack-limits.ts';

const defaults: WorkspaceSettings = {
  admins: ['UADMIN1'],
  approvers: [],
  caps: { channelDailyUsd: 5, channelMonthlyUsd: 50, workspaceDailyUsd: 50 },
  model: 'gpt-4o-mini',
  tickets: { categories: ['bug'] },
  channels: { mode: 'all', channels: [], mentionDefaults: {}, sharedChannelDocuments: 'channel_only' },
};
const many = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prefix}${String(index).padStart(6, '0')}`);

function contextWith(current: WorkspaceSettingsOverrides): SubmissionContext {
  return {
    defaults,
    current,
    modelProblem: (model) => (model === 'gpt-4o-mini' || model === 'gpt-4o' ? undefined : `no price for ${model}`),
    webhookSecretConfigured: true,
  };
}

type Block = { type: string; block_id?: string; element?: Record<string, unknown>; hint?: { text: string } };

/** The modal for `current` and the state Slack sends for its initial values, with `changes` applied. */
function formOf(current: WorkspaceSettingsOverrides, changes: Record<string, Record<string, unknown>> = {}) {
  const settings = resolveSettings(defaults, current);
  const view = buildSettingsModal({ settings, defaults, metadata: { workspaceId: 'T1', version: 0 } });
  const blocks = view.blocks as Block[];
  const values: Record<string, Record<string, unknown>> = {};
  for (const block of blocks) {
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
  return { view, blocks, values, submit: () => parseSettingsSubmission(values, contextWith(current)) };
}

describe('plain-mention lists in the settings modal', () => {
  test('an admin puts a channel in the ticket list: stored as its mention default; the modal shows it back there', () => {
    const form = formOf({}, { [ids.mentionTicket]: { selected_conversations: ['C0ONE01'] } });
    const parsed = form.submit();
    assert.deepEqual(parsed, { kind: 'valid', overrides: { channels: { mentionDefaults: { C0ONE01: 'ticket' } } } });
    const shown = formOf(parsed.kind === 'valid' ? parsed.overrides : {});
    const ticket = shown.blocks.find((block) => block.block_id === ids.mentionTicket);
    assert.deepEqual(ticket?.element?.initial_conversations, ['C0ONE01']);
    assert.equal(
      shown.blocks.find((block) => block.block_id === ids.mentionQuestion)?.element?.initial_conversations,
      undefined,
    );
  });

  test('a channel in two lists is an error on the second list naming the channel and the first', () => {
    const parsed = formOf(
      {},
      {
        [ids.mentionQuestion]: { selected_conversations: ['C0ONE01', 'C0TWO02'] },
        [ids.mentionAgent]: { selected_conversations: ['C0TWO02'] },
      },
    ).submit();
    assert.equal(parsed.kind, 'invalid');
    assert.match(
      parsed.kind === 'invalid' ? (parsed.errors[ids.mentionAgent] ?? '') : '',
      /C0TWO02 is also in “Plain mentions mean a question in…”/,
    );
  });

  test('a crafted id or more than 100 channels in a list is refused', () => {
    const crafted = formOf(
      {},
      { [ids.mentionTicket]: { selected_conversations: ['C0ONE01', 'not-a-channel'] } },
    ).submit();
    assert.match(crafted.kind === 'invalid' ? (crafted.errors[ids.mentionTicket] ?? '') : '', /Choose channels/);
    const tooMany = formOf({}, { [ids.mentionTicket]: { selected_conversations: many('C', 101) } }).submit();
    assert.match(tooMany.kind === 'invalid' ? (tooMany.errors[ids.mentionTicket] ?? '') : '', /at most 100/);
  });
});

describe('channels beyond what a picker shows', () => {
  const stored: WorkspaceSettingsOverrides = {
    channels: {
      mode: 'allow',
      channels: many('C', 500),
      mentionDefaults: Object.fromEntries(many('G', 150).map((id) => [id, 'question' as const])),
    },
  };

  test('the modal says how many are not shown and stays within Block Kit’s limits with every list at its largest', () => {
    const largest: WorkspaceSettingsOverrides = {
      ...stored,
      channels: {
        ...stored.channels,
        mentionDefaults: Object.fromEntries(
          many('G', 1_500).map((id, index) => [
            id,
            (['question', 'ticket', 'agent'] as const)[index % 3] ?? 'question',
          ]),
        ),
      },
      prices: Object.fromEntries(
        many('model-', 20).map((model) => [model, { inputUsdPerMillion: 999.123456, outputUsdPerMillion: 999.123456 }]),
      ),
    };
    assert.ok(workspaceSettingsSchema.safeParse(resolveSettings(defaults, largest)).success);
    const { view, blocks } = formOf(largest);
    assert.equal(checkView(view), undefined);
    const listed = blocks.find((block) => block.block_id === ids.channels);
    assert.equal(((listed?.element?.initial_conversations ?? []) as string[]).length, 100);
    assert.match(listed?.hint?.text ?? '', /400 more stored channels are not shown here .* kept when you save/);
  });

  test('saving the form unchanged keeps all 500 listed channels and all 150 mention defaults', () => {
    const parsed = formOf(stored).submit();
    assert.equal(parsed.kind, 'valid');
    const channels = parsed.kind === 'valid' ? parsed.overrides.channels : undefined;
    assert.deepEqual(channels?.channels, many('C', 500));
    assert.deepEqual(channels?.mentionDefaults, stored.channels?.mentionDefaults);
  });

  test('removing a shown channel removes only it; a hidden one given another meaning moves', () => {
    const shown = many('C', 100).slice(1);
    const parsed = formOf(stored, {
      [ids.channels]: { selected_conversations: shown },
      [ids.mentionAgent]: { selected_conversations: ['G000120'] },
    }).submit();
    const channels = parsed.kind === 'valid' ? parsed.overrides.channels : undefined;
    assert.equal(channels?.channels?.length, 499);
    assert.ok(!channels?.channels?.includes('C000000'));
    assert.equal(channels?.mentionDefaults?.G000120, 'agent');
    assert.equal(Object.keys(channels?.mentionDefaults ?? {}).length, 150);
  });
});

describe('workspace prices', () => {
  test('are parsed strictly, each problem naming its line', () => {
    assert.deepEqual(parseWorkspacePrices('my-model 1.5,6\n\n gpt-4o 2, 8 '), {
      kind: 'valid',
      prices: {
        'my-model': { inputUsdPerMillion: 1.5, outputUsdPerMillion: 6 },
        'gpt-4o': { inputUsdPerMillion: 2, outputUsdPerMillion: 8 },
      },
    });
    assert.deepEqual(parseWorkspacePrices('  '), { kind: 'valid', prices: undefined });
    const problems: [string, RegExp][] = [
      ['my-model 1.5', /Line 1 .*model input,output/],
      ['a 1,2\nmy-model -1,2', /Line 2 .*model input,output/],
      ['my-model 1001,2', /at most \$1000 per million/],
      ['a 1,2\na 3,4', /Line 2 .*a is priced twice/],
      ['bad$name 1,2', /letters, digits/],
      [
        many('m', 21)
          .map((model) => `${model} 1,1`)
          .join('\n'),
        /At most 20 models \(21 lines/,
      ],
      [`${'x'.repeat(250)} 1,1`, /Line 1/],
    ];
    for (const [text, expected] of problems) {
      const parsed = parseWorkspacePrices(text);
      assert.match(parsed.kind === 'invalid' ? parsed.message : 'valid', expected, text.slice(0, 40));
    }
  });

  test('a model the process table lacks is accepted once the same form prices it, and stored with its price', () => {
    const unpriced = formOf({}, { [ids.model]: { value: 'my-local-model' } }).submit();
    assert.match(unpriced.kind === 'invalid' ? (unpriced.errors[ids.model] ?? '') : '', /no price for my-local-model/);
    const priced = formOf(
      {},
      { [ids.model]: { value: 'my-local-model' }, [ids.prices]: { value: 'my-local-model 0.5,1.5' } },
    ).submit();
    assert.deepEqual(priced, {
      kind: 'valid',
      overrides: {
        model: 'my-local-model',
        prices: { 'my-local-model': { inputUsdPerMillion: 0.5, outputUsdPerMillion: 1.5 } },
      },
    });
    const bad = formOf({}, { [ids.prices]: { value: 'gpt-4o 1' } }).submit();
    assert.match(bad.kind === 'invalid' ? (bad.errors[ids.prices] ?? '') : '', /Line 1/);
  });

  test('stored prices are shown back in the field and an unchanged form keeps them', () => {
    const current: WorkspaceSettingsOverrides = {
      prices: { 'gpt-4o': { inputUsdPerMillion: 3, outputUsdPerMillion: 12 } },
    };
    const form = formOf(current);
    assert.equal(form.blocks.find((block) => block.block_id === ids.prices)?.element?.initial_value, 'gpt-4o 3,12');
    assert.deepEqual(form.submit(), { kind: 'valid', overrides: current });
  });
});
