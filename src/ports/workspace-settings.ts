/**
 * Per-workspace settings (issue 15): who administers and approves, caps, model and prices, ticket categories and
 * sinks, and where Deskhand works. Stored per workspace in Redis (only what an admin changed), validated with this schema,
 * and resolved over the environment's values, which stay the defaults. Capabilities, the router and the App Home
 * read them through `WorkspaceSettingsSource`, injected by composition; none of them knows where they are kept.
 */
import { z } from 'zod';

const userId = z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'a Slack user id such as U0123ABCD');
const channelId = z.string().regex(/^[CDG][A-Z0-9]{2,20}$/, 'a Slack channel id such as C0123ABCD');
const usd = z.number().finite().min(0).max(100_000);

/** What a plain mention means in a channel: let the router decide, or always one capability. */
export const mentionDefaults = ['auto', 'question', 'ticket', 'agent'] as const;
export type MentionDefault = (typeof mentionDefaults)[number];

/** How many channels may have their own mention default (three pickers of 500). */
export const maxMentionDefaults = 1_500;
/** How many models a workspace may price itself. */
export const maxWorkspacePrices = 20;
/** The highest price per million tokens a workspace may set (USD); anything above is a typo. */
export const maxUsdPerMillionTokens = 1_000;

const usdPerMillion = z.number().finite().min(0).max(maxUsdPerMillionTokens);
/** A workspace's own price of one model, in USD per million tokens (cached input is charged as input). */
export const workspaceModelPriceSchema = z.strictObject({
  inputUsdPerMillion: usdPerMillion,
  outputUsdPerMillion: usdPerMillion,
});
export type WorkspaceModelPrice = z.infer<typeof workspaceModelPriceSchema>;
export const modelNamePattern = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/;

export const channelPolicySchema = z.object({
  /** `all`: every channel Deskhand is in; `allow`: only `channels`; `deny`: every channel but `channels`. */
  mode: z.enum(['all', 'allow', 'deny']),
  channels: z.array(channelId).max(500),
  /** Per-channel meaning of a plain mention; channels not listed use `auto`. At most 1,500 channels. */
  mentionDefaults: z
    .record(channelId, z.enum(mentionDefaults))
    .refine((value) => Object.keys(value).length <= maxMentionDefaults, `At most ${maxMentionDefaults} channels`),
  /**
   * Externally shared (Slack Connect) channels: `channel_only` (the default) searches only documents shared in
   * that channel; `workspace` also lets them see workspace-wide documents (an admin's explicit choice).
   */
  sharedChannelDocuments: z.enum(['channel_only', 'workspace']),
});
export type ChannelPolicy = z.infer<typeof channelPolicySchema>;

export const workspaceSettingsSchema = z.object({
  admins: z.array(userId).max(100),
  approvers: z.array(userId).max(100),
  approverGroup: z
    .string()
    .regex(/^S[A-Z0-9]{2,20}$/, 'a Slack user group id such as S0123ABCD')
    .optional(),
  caps: z.object({
    channelDailyUsd: usd,
    channelMonthlyUsd: usd,
    workspaceDailyUsd: usd,
    /** Undefined: no per-user cap. */
    userDailyUsd: usd.optional(),
  }),
  /** The chat model this workspace's answers, tickets and agent use. */
  model: z.string().min(1).max(100),
  /**
   * This workspace's own model prices, over the process's table (`MODEL_PRICES_JSON`): the gateway reserves and
   * settles this workspace's calls with them, and a model the table lacks may be chosen once it is priced here.
   */
  prices: z
    .record(z.string().regex(modelNamePattern, 'a model name such as gpt-4o-mini'), workspaceModelPriceSchema)
    .refine((value) => Object.keys(value).length <= maxWorkspacePrices, `At most ${maxWorkspacePrices} models`)
    .optional(),
  tickets: z.object({
    categories: z.array(z.string().min(1).max(40)).min(1).max(50),
    triageChannelId: channelId.optional(),
    webhookUrl: z
      .url({ protocol: /^https$/ })
      .max(2_000)
      .optional(),
  }),
  channels: channelPolicySchema,
});
export type WorkspaceSettings = z.infer<typeof workspaceSettingsSchema>;

/** What an admin may change: any part of the settings; what is left out keeps the environment's default. */
export const workspaceSettingsOverridesSchema = workspaceSettingsSchema.partial().extend({
  caps: workspaceSettingsSchema.shape.caps.partial().optional(),
  tickets: workspaceSettingsSchema.shape.tickets.partial().optional(),
  channels: channelPolicySchema.partial().optional(),
});
export type WorkspaceSettingsOverrides = z.infer<typeof workspaceSettingsOverridesSchema>;

/** The settings in force for a workspace: its stored overrides over the environment's defaults. */
export interface WorkspaceSettingsSource {
  get(workspaceId: string): Promise<WorkspaceSettings>;
}
