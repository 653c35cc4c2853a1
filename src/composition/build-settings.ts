/**
 * `buildWorkspaceSettings`: each workspace's settings for the work side — the environment's values from
 * `Configuration` as defaults (`settingsDefaults`), the overrides admins saved in Redis over them
 * (`WorkspaceSettingsService`, the `WorkspaceSettingsSource` every consumer reads).
 *
 * Consumers take the source, never the configuration, for anything a workspace may change: admins, approvers and
 * the approver group, caps, model, ticket categories and sinks, and where Deskhand works. What stays process-wide
 * (the webhook secret, the time zone, the reservation TTL) is still read from the configuration.
 */

import type { RedisClient } from '../adapters/redis-client.ts';
import { createSettingsHandlers } from '../capabilities/settings/settings-handlers.ts';
import { SettingsStore } from '../capabilities/settings/settings-store.ts';
import { WorkspaceSettingsService } from '../capabilities/settings/workspace-settings-service.ts';
import { isDeskhandError } from '../errors.ts';
import { PriceTable } from '../llm/prices.ts';
import type { Logger } from '../observability/logger.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { WorkspaceSettings } from '../ports/workspace-settings.ts';
import { settingsActionIds, settingsModalCallbackId } from '../slack-kit/settings-ids.ts';
import type { InteractionHandlers } from '../work/requests.ts';
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
  dependencies: { redis: RedisClient; logger: Logger },
): WorkspaceSettingsService {
  return new WorkspaceSettingsService({
    store: new SettingsStore(dependencies.redis, { keyPrefix: configuration.redis.keyPrefix }),
    defaults: settingsDefaults(configuration),
    logger: dependencies.logger.child({ component: 'workspace-settings' }),
  });
}

/**
 * The settings modal's button and submission for the work side. A model is refused at save time when the price
 * table (`MODEL_PRICES_JSON`, `UNKNOWN_MODEL_PRICE`) has no price for it; `onSettingsChanged` runs after each save
 * (default: nothing).
 */
export function buildSettingsHandlers(
  configuration: Pick<Configuration, 'openai' | 'tickets'>,
  settings: WorkspaceSettingsService,
  dependencies: {
    messenger: Messenger;
    logger: Logger;
    onSettingsChanged?: (workspaceId: string, userId: string) => Promise<void>;
  },
): Pick<InteractionHandlers, 'actions' | 'views'> {
  const prices = new PriceTable({
    overridesJson: configuration.openai.pricesJson,
    unknownModels: configuration.openai.unknownModels,
  });
  const handlers = createSettingsHandlers({
    settings,
    messenger: dependencies.messenger,
    logger: dependencies.logger,
    modelProblem: (model) => {
      try {
        prices.resolve(model);
        return undefined;
      } catch (error) {
        if (!isDeskhandError(error)) throw error;
        return `Deskhand has no price for “${model}”, so budgets could not hold it. Add it to MODEL_PRICES_JSON in the configuration first, or choose a listed model such as ${configuration.openai.model}.`;
      }
    },
    webhookSecretConfigured: configuration.tickets.webhookSecret !== undefined,
    ...(dependencies.onSettingsChanged ? { onSettingsChanged: dependencies.onSettingsChanged } : {}),
  });
  return {
    actions: { [settingsActionIds.open]: (click) => handlers.open(click) },
    views: { [settingsModalCallbackId]: (submission) => handlers.submit(submission) },
  };
}
