/**
 * The workspace settings modal: every setting an admin may change, pre-filled with the values in force, each
 * field's default named in its hint. Built within Block Kit's limits (≤ 100 blocks, labels ≤ 2,000 characters,
 * `private_metadata` ≤ 3,000: it carries only the workspace and the version the admin saw).
 * https://api.slack.com/surfaces/modals, https://api.slack.com/reference/block-kit/block-elements
 */
import type { WorkspaceSettings } from '../../ports/workspace-settings.ts';
import {
  settingsBlockIds as ids,
  settingsInputActionId,
  settingsModalCallbackId,
} from '../../slack-kit/settings-ids.ts';
import {
  channelsWithDefault,
  hiddenChannelsNote,
  mentionKinds,
  pickerLimit,
  splitForPicker,
} from './settings-channel-fields.ts';
import { formatWorkspacePrices, maxPricesText } from './settings-prices.ts';
import { formatUsdAmount } from './settings-submission.ts';

/** What the modal carries in `private_metadata`: checked against the submitter's workspace on submit. */
export interface SettingsModalMetadata {
  workspaceId: string;
  version: number;
}

const plainText = (text: string) => ({ type: 'plain_text', text: text.slice(0, 150) });
const hintText = (text: string) => ({ type: 'plain_text', text: text.slice(0, 2000) });

const channelModes = [
  ['all', 'Every channel Deskhand is in'],
  ['allow', 'Only the channels listed below'],
  ['deny', 'Every channel except those listed below'],
] as const;
const sharedDocumentChoices = [
  ['channel_only', 'Only documents shared in that channel (recommended)'],
  ['workspace', 'Also this workspace’s documents'],
] as const;

function input(
  blockId: string,
  label: string,
  element: Record<string, unknown>,
  options: { optional?: boolean; hint?: string } = {},
): Record<string, unknown> {
  return {
    type: 'input',
    block_id: blockId,
    optional: options.optional ?? false,
    label: plainText(label),
    ...(options.hint ? { hint: hintText(options.hint) } : {}),
    element: { action_id: settingsInputActionId, ...element },
  };
}

function textElement(initial: string | undefined, options: { multiline?: boolean; maxLength?: number } = {}) {
  return {
    type: 'plain_text_input',
    multiline: options.multiline ?? false,
    ...(options.maxLength ? { max_length: options.maxLength } : {}),
    ...(initial ? { initial_value: initial.slice(0, options.maxLength ?? 3000) } : {}),
  };
}

function select(choices: readonly (readonly [string, string])[], initial: string) {
  const options = choices.map(([value, text]) => ({ text: plainText(text), value }));
  const selected = options.find((option) => option.value === initial);
  return { type: 'static_select', options, ...(selected ? { initial_option: selected } : {}) };
}

/** A multi conversations select of at most `pickerLimit` channels; the hint says how many more are kept. */
function channelPicker(blockId: string, label: string, all: readonly string[], hint: string) {
  const { shown, hidden } = splitForPicker(all);
  return input(
    blockId,
    label,
    {
      type: 'multi_conversations_select',
      filter: { include: ['public', 'private'], exclude_bot_users: true },
      ...(shown.length > 0 ? { initial_conversations: shown } : {}),
      max_selected_items: pickerLimit,
    },
    { optional: true, hint: `${hint}${hiddenChannelsNote(hidden)}` },
  );
}

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const header = (text: string) => ({ type: 'header', text: plainText(text) });

/** The modal, pre-filled with `settings`; `defaults` (the environment's values) are named in the hints. */
export function buildSettingsModal(input_: {
  settings: WorkspaceSettings;
  defaults: WorkspaceSettings;
  metadata: SettingsModalMetadata;
}): Record<string, unknown> {
  const { settings, defaults } = input_;
  const caps = settings.caps;
  const usdDefault = (value: number | undefined) =>
    value === undefined ? 'Default: none.' : `Default: ${formatUsdAmount(value)} USD.`;
  return {
    type: 'modal',
    callback_id: settingsModalCallbackId,
    private_metadata: JSON.stringify(input_.metadata),
    title: plainText('Deskhand settings'),
    submit: plainText('Save'),
    close: plainText('Cancel'),
    blocks: [
      section('Settings for this workspace. A field left as it is keeps following Deskhand’s configured default.'),
      header('People'),
      input(
        ids.admins,
        'Admins (change these settings and budgets)',
        { type: 'multi_users_select', initial_users: settings.admins.slice(0, 100), max_selected_items: 100 },
        { hint: 'Keep at least one admin.' },
      ),
      input(
        ids.approvers,
        'Approvers (approve agent actions)',
        { type: 'multi_users_select', initial_users: settings.approvers.slice(0, 100), max_selected_items: 100 },
        { optional: true },
      ),
      input(ids.approverGroup, 'Approver user group id', textElement(settings.approverGroup, { maxLength: 22 }), {
        optional: true,
        hint: `Members of this user group (S…) may approve too. Empty: ${defaults.approverGroup ?? 'none'} (the default).`,
      }),
      header('Budgets (USD)'),
      input(
        ids.channelDailyUsd,
        'Each channel, per day',
        textElement(formatUsdAmount(caps.channelDailyUsd), { maxLength: 12 }),
        {
          hint: `${usdDefault(defaults.caps.channelDailyUsd)} /budget set still overrides one channel.`,
        },
      ),
      input(
        ids.channelMonthlyUsd,
        'Each channel, per month',
        textElement(formatUsdAmount(caps.channelMonthlyUsd), { maxLength: 12 }),
        {
          hint: usdDefault(defaults.caps.channelMonthlyUsd),
        },
      ),
      input(
        ids.workspaceDailyUsd,
        'This workspace, per day',
        textElement(formatUsdAmount(caps.workspaceDailyUsd), { maxLength: 12 }),
        {
          hint: usdDefault(defaults.caps.workspaceDailyUsd),
        },
      ),
      input(
        ids.userDailyUsd,
        'Each person, per day',
        textElement(caps.userDailyUsd === undefined ? undefined : formatUsdAmount(caps.userDailyUsd), {
          maxLength: 12,
        }),
        { optional: true, hint: `${usdDefault(defaults.caps.userDailyUsd)} Empty: the default.` },
      ),
      header('Model'),
      input(ids.model, 'Chat model', textElement(settings.model, { maxLength: 100 }), {
        hint: `Default: ${defaults.model}. It must have a price (MODEL_PRICES_JSON, or this workspace’s prices below), so budgets can hold it.`,
      }),
      input(
        ids.prices,
        'This workspace’s model prices (USD per million tokens)',
        textElement(formatWorkspacePrices(settings.prices), { multiline: true, maxLength: maxPricesText }),
        {
          optional: true,
          hint: 'One model a line: “model input,output”, e.g. “gpt-4o-mini 0.15,0.6”. They replace Deskhand’s configured prices for this workspace’s calls. At most 20. Empty: the configured prices.',
        },
      ),
      header('Tickets'),
      input(
        ids.categories,
        'Ticket categories',
        textElement(settings.tickets.categories.join('\n'), { multiline: true, maxLength: 2500 }),
        {
          hint: 'One per line (or separated by commas), at most 50, each up to 40 characters.',
        },
      ),
      input(
        ids.triageChannelId,
        'Triage channel',
        {
          type: 'conversations_select',
          filter: { include: ['public', 'private'], exclude_bot_users: true },
          ...(settings.tickets.triageChannelId ? { initial_conversation: settings.tickets.triageChannelId } : {}),
        },
        { optional: true, hint: 'Where filed tickets are posted. Empty: the default.' },
      ),
      input(
        ids.webhookUrl,
        'Ticket webhook URL (https)',
        textElement(settings.tickets.webhookUrl, { maxLength: 2000 }),
        {
          optional: true,
          hint: 'Deliveries are signed with TICKET_WEBHOOK_SECRET from the configuration. Empty: the default.',
        },
      ),
      header('Where Deskhand works'),
      input(ids.channelMode, 'Channels', select(channelModes, settings.channels.mode)),
      channelPicker(
        ids.channels,
        'Listed channels',
        settings.channels.channels,
        'The allow-list or deny-list chosen above.',
      ),
      input(
        ids.sharedChannelDocuments,
        'In channels shared with other organisations (Slack Connect)',
        select(sharedDocumentChoices, settings.channels.sharedChannelDocuments),
      ),
      header('What a plain mention means'),
      ...mentionKinds.map(([kind, field, label]) =>
        channelPicker(
          ids[field],
          label,
          channelsWithDefault(settings.channels.mentionDefaults, kind),
          'In these channels a mention without a command is always this, with no guess. A channel belongs in one list at most; elsewhere Deskhand decides.',
        ),
      ),
    ],
  };
}
