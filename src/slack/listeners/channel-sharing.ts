/**
 * `channel_shared` and `channel_unshared`: Slack says a channel was shared with another organisation (or an
 * organisation joined it), or that one left. Either changes what channel control lets retrieval read there
 * (src/router/channel-control.ts: workspace-wide documents stay out of externally shared channels), so the
 * channel's cached sharing is dropped at once, before the ack — the next request asks Slack again instead of
 * trusting the cache for up to its 10 minutes. The deletion is one Redis command on the ack side; if it fails, the
 * delivery is not acknowledged and Slack retries it (delivery-middleware.ts).
 *
 * Payloads (https://docs.slack.dev/reference/events/channel_shared, .../channel_unshared): `channel` (the id),
 * `connected_team_id` / `previously_connected_team_id` (the other organisation: never the tenant), `event_ts`.
 * The tenant is the installation's, as for every event (tenancy.ts). Needs `channels:read` (public channels) and
 * `groups:read` (private ones), which the manifest already asks for.
 */
import type { App } from '@slack/bolt';
import { deliveryIdFrom } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

const channelIdPattern = /^[CG][A-Z0-9]{2,30}$/;

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const name of ['channel_shared', 'channel_unshared'] as const) {
    app.event(name, async ({ event, body, context }) => {
      const { logger, forgetChannelSharing } = dependencies;
      const workspaceId = tenantOf(body, installationOf(context, dependencies.identity()));
      const channelId = (event as { channel?: unknown }).channel;
      if (!workspaceId || typeof channelId !== 'string' || !channelIdPattern.test(channelId)) {
        logger.warn(
          { deliveryId: deliveryIdFrom(context), event: name, code: 'invalid_input' },
          'channel sharing event without a workspace or channel id; ignored',
        );
        return;
      }
      if (!forgetChannelSharing) {
        logger.debug({ event: name, workspaceId, channelId }, 'channel sharing event: no sharing cache to drop');
        return;
      }
      await forgetChannelSharing(workspaceId, channelId);
      logger.info(
        { event: name, workspaceId, channelId, code: 'ok' },
        'channel sharing changed: its cached sharing was dropped',
      );
    });
  }
}
