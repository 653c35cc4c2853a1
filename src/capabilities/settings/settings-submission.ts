/**
 * `parseSettingsSubmission`: the settings modal's `view.state.values` → the overrides to store, or one specific
 * message per field in Slack's `response_action: errors` shape (keyed by block id).
 *
 * Guarantees:
 * - Only what differs from the environment's defaults becomes an override, so a field left as it is keeps following
 *   the configuration; empty optional fields mean "the default".
 * - Every value is bounded before it is parsed (text lengths, list sizes) and checked against the schema; the
 *   regexes are linear. Nothing here trusts the payload: a crafted submission gets the same checks as a typed one.
 * - A model without a price is refused (budgets could not hold it); a webhook URL must be https to a public host
 *   name (no IP literals, localhost or internal names) and needs TICKET_WEBHOOK_SECRET, which stays in the environment.
 * - Channel pickers show at most 100 channels; stored channels they could not show are kept
 *   (settings-channel-fields.ts). A channel in two plain-mention lists is an error.
 * - Workspace prices are parsed strictly (settings-prices.ts); a model the process's price table lacks is accepted
 *   when the same submission prices it.
 */
import {
  modelNamePattern,
  type WorkspaceSettings,
  type WorkspaceSettingsOverrides,
  workspaceSettingsOverridesSchema,
} from '../../ports/workspace-settings.ts';
import { settingsBlockIds as ids, type SettingsField, settingsInputActionId } from '../../slack-kit/settings-ids.ts';
import { resolveSettings } from './resolve-settings.ts';
import { channelFieldsOf, pickerLimit } from './settings-channel-fields.ts';
import { maxPricesText, parseWorkspacePrices } from './settings-prices.ts';

/** `view.state.values`: block id → action id → element state (untrusted). */
export type SettingsViewValues = Record<string, Record<string, unknown>>;

export interface SubmissionContext {
  defaults: WorkspaceSettings;
  /** What is stored now (channels the pickers could not show are kept from it). */
  current: WorkspaceSettingsOverrides;
  /** Why a model cannot be used (no price), or undefined when it can. */
  modelProblem: (model: string) => string | undefined;
  webhookSecretConfigured: boolean;
}

export type SettingsSubmission =
  | { kind: 'valid'; overrides: WorkspaceSettingsOverrides }
  | { kind: 'invalid'; errors: Partial<Record<string, string>> };

const maxCapUsd = 100_000;
const usdPattern = /^\$?(\d{1,9}(?:\.\d{1,6})?)$/;
const userIdPattern = /^[UW][A-Z0-9]{2,20}$/;
const groupIdPattern = /^S[A-Z0-9]{2,20}$/;
const channelIdPattern = /^[CG][A-Z0-9]{2,20}$/;
const ipLiteralPattern = /^[\d.]+$/;

/** A dollar amount as the modal shows it: `5`, `12.5`, `0.000001`. */
export function formatUsdAmount(value: number): string {
  return String(Number(value.toFixed(6)));
}

export function parseSettingsSubmission(values: SettingsViewValues, context: SubmissionContext): SettingsSubmission {
  const errors: Partial<Record<string, string>> = {};
  const fail = (field: SettingsField, message: string) => {
    errors[ids[field]] ??= message;
  };
  const state = (field: SettingsField) =>
    (values[ids[field]]?.[settingsInputActionId] ?? {}) as Record<string, unknown>;
  const text = (field: SettingsField, max: number): string | undefined => {
    const value = state(field).value;
    if (typeof value !== 'string' || value.trim() === '') return undefined;
    if (value.length > max) fail(field, `At most ${max} characters.`);
    return value.trim().slice(0, max);
  };
  const list = (field: SettingsField, key: string, pattern: RegExp, what: string, max = 100): string[] => {
    const raw = state(field)[key];
    const items = Array.isArray(raw) ? raw.filter((item): item is string => typeof item === 'string') : [];
    if (items.length > max) fail(field, `Choose at most ${max}.`);
    if (items.some((item) => !pattern.test(item))) fail(field, `Choose ${what} from the list.`);
    return [...new Set(items)].slice(0, max);
  };
  const usd = (field: SettingsField): number | undefined => {
    const raw = text(field, 20);
    if (raw === undefined) return undefined;
    const match = usdPattern.exec(raw);
    const amount = match?.[1] === undefined ? undefined : Number(match[1]);
    if (amount === undefined) fail(field, `“${raw}” is not a dollar amount. Use a number such as 5 or 12.50.`);
    else if (amount > maxCapUsd) fail(field, `At most $${maxCapUsd}; anything above is almost certainly a typo.`);
    return amount;
  };
  const { defaults } = context;

  const admins = list('admins', 'selected_users', userIdPattern, 'people');
  if (admins.length === 0) fail('admins', 'Keep at least one admin, or nobody could change these settings from Slack.');
  const approvers = list('approvers', 'selected_users', userIdPattern, 'people');
  const approverGroup = text('approverGroup', 22);
  if (approverGroup !== undefined && !groupIdPattern.test(approverGroup))
    fail(
      'approverGroup',
      'Enter a user group id such as S0123ABCD (from the group’s “Copy group ID”), or leave it empty.',
    );
  const caps = {
    channelDailyUsd: usd('channelDailyUsd') ?? requiredCap(fail, 'channelDailyUsd'),
    channelMonthlyUsd: usd('channelMonthlyUsd') ?? requiredCap(fail, 'channelMonthlyUsd'),
    workspaceDailyUsd: usd('workspaceDailyUsd') ?? requiredCap(fail, 'workspaceDailyUsd'),
    userDailyUsd: usd('userDailyUsd') ?? defaults.caps.userDailyUsd,
  };
  const model = text('model', 100) ?? defaults.model;
  const prices = parseWorkspacePrices(text('prices', maxPricesText));
  if (prices.kind === 'invalid') fail('prices', prices.message);
  const pricedHere = prices.kind === 'valid' && prices.prices !== undefined && Object.hasOwn(prices.prices, model);
  if (!modelNamePattern.test(model))
    fail('model', 'Enter a model name such as gpt-4o-mini (letters, digits, . _ : / -).');
  else if (!pricedHere) {
    const problem = context.modelProblem(model);
    if (problem) fail('model', problem);
  }
  const categories = parseCategories(text('categories', 5_000), fail);
  const triage = state('triageChannelId').selected_conversation;
  const triageChannelId = typeof triage === 'string' ? triage : defaults.tickets.triageChannelId;
  if (triageChannelId !== undefined && !channelIdPattern.test(triageChannelId))
    fail('triageChannelId', 'Choose a public or private channel.');
  const webhookUrl = text('webhookUrl', 2_000);
  if (webhookUrl !== undefined) {
    const problem = webhookProblem(webhookUrl, context.webhookSecretConfigured);
    if (problem) fail('webhookUrl', problem);
  }
  const mode = (state('channelMode').selected_option as { value?: unknown } | null)?.value;
  if (mode !== 'all' && mode !== 'allow' && mode !== 'deny') fail('channelMode', 'Choose where Deskhand works.');
  const picked = (field: SettingsField) =>
    list(field, 'selected_conversations', channelIdPattern, 'channels', pickerLimit);
  const channelFields = channelFieldsOf({
    listed: picked('channels'),
    mentions: { question: picked('mentionQuestion'), ticket: picked('mentionTicket'), agent: picked('mentionAgent') },
    current: resolveSettings(defaults, context.current).channels,
  });
  if (channelFields.kind === 'invalid') fail(channelFields.field, channelFields.message);
  const channels = channelFields.kind === 'valid' ? channelFields.channels : [];
  if (mode === 'allow' && channels.length === 0)
    fail('channels', 'List at least one channel for an allow-list, or choose “Every channel”.');
  const shared = (state('sharedChannelDocuments').selected_option as { value?: unknown } | null)?.value;
  if (shared !== 'channel_only' && shared !== 'workspace')
    fail('sharedChannelDocuments', 'Choose which documents shared channels may use.');
  if (Object.keys(errors).length > 0) return { kind: 'invalid', errors };

  const chosen: WorkspaceSettings = {
    admins,
    approvers,
    ...(approverGroup ? { approverGroup } : defaults.approverGroup ? { approverGroup: defaults.approverGroup } : {}),
    caps: {
      channelDailyUsd: caps.channelDailyUsd,
      channelMonthlyUsd: caps.channelMonthlyUsd,
      workspaceDailyUsd: caps.workspaceDailyUsd,
      ...(caps.userDailyUsd === undefined ? {} : { userDailyUsd: caps.userDailyUsd }),
    },
    model,
    ...(prices.kind === 'valid' && prices.prices ? { prices: prices.prices } : {}),
    tickets: {
      categories,
      ...(triageChannelId ? { triageChannelId } : {}),
      ...(webhookUrl ? { webhookUrl } : defaults.tickets.webhookUrl ? { webhookUrl: defaults.tickets.webhookUrl } : {}),
    },
    channels: {
      mode: mode as WorkspaceSettings['channels']['mode'],
      channels,
      mentionDefaults: channelFields.kind === 'valid' ? channelFields.mentionDefaults : {},
      sharedChannelDocuments: shared as WorkspaceSettings['channels']['sharedChannelDocuments'],
    },
  };
  const overrides = differencesFrom(defaults, chosen);
  const checked = workspaceSettingsOverridesSchema.safeParse(overrides);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const field = fieldOfPath(issue?.path ?? []);
    return { kind: 'invalid', errors: { [ids[field]]: issue?.message ?? 'This value is not allowed.' } };
  }
  return { kind: 'valid', overrides: checked.data };
}

function requiredCap(fail: (field: SettingsField, message: string) => void, field: SettingsField): number {
  fail(field, 'Enter a dollar amount such as 5 (0 stops model calls).');
  return 0;
}

function parseCategories(raw: string | undefined, fail: (field: SettingsField, message: string) => void): string[] {
  const categories = [
    ...new Set(
      (raw ?? '')
        .split(/[\n,]/)
        .map((part) => part.trim())
        .filter(Boolean),
    ),
  ];
  if (categories.length === 0) fail('categories', 'List at least one ticket category.');
  else if (categories.length > 50) fail('categories', `At most 50 categories (${categories.length} given).`);
  const long = categories.find((category) => category.length > 40);
  if (long) fail('categories', `“${long.slice(0, 40)}…” is longer than 40 characters.`);
  return categories;
}

function webhookProblem(raw: string, secretConfigured: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'Enter a full URL such as https://hooks.example.com/deskhand.';
  }
  if (url.protocol !== 'https:') return 'The webhook must use https://.';
  const host = url.hostname.toLowerCase();
  const internal =
    host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal');
  if (internal || host.startsWith('[') || ipLiteralPattern.test(host) || !host.includes('.'))
    return 'Use a public host name (not an IP address, localhost or an internal name).';
  if (!secretConfigured)
    return 'Deliveries must be signed: set TICKET_WEBHOOK_SECRET in Deskhand’s configuration first, then save the URL.';
  return undefined;
}

/** The fields of `chosen` that differ from `defaults` (nested objects field by field). */
function differencesFrom(defaults: WorkspaceSettings, chosen: WorkspaceSettings): WorkspaceSettingsOverrides {
  const same = (left: unknown, right: unknown) => JSON.stringify(left) === JSON.stringify(right);
  const diff = <T extends object>(base: T, next: T): Partial<T> => {
    const out: Partial<T> = {};
    for (const key of Object.keys(next) as (keyof T)[]) if (!same(base[key], next[key])) out[key] = next[key];
    return out;
  };
  const top = diff(
    {
      admins: defaults.admins,
      approvers: defaults.approvers,
      approverGroup: defaults.approverGroup,
      model: defaults.model,
      prices: defaults.prices,
    },
    {
      admins: chosen.admins,
      approvers: chosen.approvers,
      approverGroup: chosen.approverGroup,
      model: chosen.model,
      prices: chosen.prices,
    },
  );
  const caps = diff(defaults.caps, chosen.caps);
  const tickets = diff(defaults.tickets, chosen.tickets);
  const channels = diff(defaults.channels, chosen.channels);
  const nonEmpty = (value: object) => Object.keys(value).length > 0;
  return JSON.parse(
    JSON.stringify({
      ...top,
      ...(nonEmpty(caps) ? { caps } : {}),
      ...(nonEmpty(tickets) ? { tickets } : {}),
      ...(nonEmpty(channels) ? { channels } : {}),
    }),
  ) as WorkspaceSettingsOverrides;
}

const pathFields: Record<string, SettingsField> = {
  admins: 'admins',
  approvers: 'approvers',
  approverGroup: 'approverGroup',
  model: 'model',
  prices: 'prices',
  'caps.channelDailyUsd': 'channelDailyUsd',
  'caps.channelMonthlyUsd': 'channelMonthlyUsd',
  'caps.workspaceDailyUsd': 'workspaceDailyUsd',
  'caps.userDailyUsd': 'userDailyUsd',
  'tickets.categories': 'categories',
  'tickets.triageChannelId': 'triageChannelId',
  'tickets.webhookUrl': 'webhookUrl',
  'channels.mode': 'channelMode',
  'channels.channels': 'channels',
  'channels.sharedChannelDocuments': 'sharedChannelDocuments',
  'channels.mentionDefaults': 'mentionQuestion',
};

function fieldOfPath(path: readonly PropertyKey[]): SettingsField {
  const [first, second] = path.map(String);
  return pathFields[`${first}.${second}`] ?? pathFields[first ?? ''] ?? 'admins';
}
