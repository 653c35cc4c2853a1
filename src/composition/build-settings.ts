/**
 * `buildWorkspaceSettings`: each workspace's settings for the work side — the environment's values from
 * `Configuration` as defaults (`settingsDefaults`), the overrides admins saved in Redis over them
 * (`WorkspaceSettingsService`, the `WorkspaceSettingsSource` every consumer reads).
 *
 * Consumers take the source, never the configuration, for anything a workspace may change: admins, approvers and
 * the approver group, caps, model, ticket categories and sinks, and where Deskhand works. What stays process-wide
 * (the webhook secret, the time zone, the reservation TTL) is still read from the configuration.
 */
import type { Redis } from 'ioredis';
import { SettingsStore } from '../capabilities/settings/settings-store.ts';
import { WorkspaceSettingsService } from '../capabilities/settings/workspace-settings-service.ts';
import type { Logger } from '../observability/logger.ts';
import type { WorkspaceSettings } from '../ports/workspace-settings.ts';
import type { Configuration } from './config.ts';

/** The environment's values in the settings' shape: what a workspace uses until an admin changes it. */
export function settingsDefaults(
  configuration: Pick<Configuration, 'people' | 'budgets' | 'openai' | 'tickets'>,
): WorkspaceSettings {
  const { people, budgets, openai, tickets } = configuration;
  return {
    admins: [...people.adminUserIds],
    approvers: [...people.approverUserIds],
    ...(people.approverUserGroupId ? { approverGroup: people.approverUserGroupId } : {}),
    caps: {
      channelDailyUsd: budgets.channelDailyUsd,
      channelMonthlyUsd: budgets.channelMonthlyUsd,
      workspaceDailyUsd: budgets.workspaceDailyUsd,
      ...(budgets.userDailyUsd === undefined ? {} : { userDailyUsd: budgets.userDailyUsd }),
    },
    model: openai.model,
    tickets: {
      categories: [...tickets.categories],
      ...(tickets.triageChannelId ? { triageChannelId: tickets.triageChannelId } : {}),
      ...(tickets.webhookUrl ? { webhookUrl: tickets.webhookUrl } : {}),
    },
    channels: { mode: 'all', channels: [], mentionDefaults: {}, sharedChannelDocuments: 'channel_only' },
  };
}

export function buildWorkspaceSettings(
  configuration: Pick<Configuration, 'people' | 'budgets' | 'openai' | 'tickets' | 'redis'>,
  dependencies: { redis: Redis; logger: Logger },
): WorkspaceSettingsService {
  return new WorkspaceSettingsService({
    store: new SettingsStore(dependencies.redis, { keyPrefix: configuration.redis.keyPrefix }),
    defaults: settingsDefaults(configuration),
    logger: dependencies.logger.child({ component: 'workspace-settings' }),
  });
}
