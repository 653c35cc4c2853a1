/**
 * Every Slack id of the workspace settings modal, in one place, so the App Home's button, the listeners and the
 * settings capability agree. The button's value is never trusted: who may open and save is decided on the work side.
 */

/** The button that opens the settings modal (the App Home shows it to admins; any surface may carry it). */
export const settingsActionIds = {
  open: 'settings_open',
} as const;

/** The settings modal (`views.settingsEdit` in ids.ts); `private_metadata` carries the workspace and version. */
export const settingsModalCallbackId = 'settings_edit';

/** Every input's action id (one input per block, so the block id names the field). */
export const settingsInputActionId = 'value';

/** Block ids, one per field; `response_action: errors` names these. */
export const settingsBlockIds = {
  admins: 'settings_admins',
  approvers: 'settings_approvers',
  approverGroup: 'settings_approver_group',
  channelDailyUsd: 'settings_channel_daily',
  channelMonthlyUsd: 'settings_channel_monthly',
  workspaceDailyUsd: 'settings_workspace_daily',
  userDailyUsd: 'settings_user_daily',
  model: 'settings_model',
  categories: 'settings_categories',
  triageChannelId: 'settings_triage_channel',
  webhookUrl: 'settings_webhook_url',
  channelMode: 'settings_channel_mode',
  channels: 'settings_channels',
  sharedChannelDocuments: 'settings_shared_documents',
  mentionQuestion: 'settings_mention_question',
  mentionTicket: 'settings_mention_ticket',
  mentionAgent: 'settings_mention_agent',
  prices: 'settings_prices',
} as const;

export type SettingsField = keyof typeof settingsBlockIds;
