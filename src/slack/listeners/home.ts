/**
 * `app_home_opened` on the Home tab: stores a durable `homeOpened` work item (before the ack, like every other
 * event) so the work side publishes the opener's Home with `views.publish`. Opening the Messages or About tab does
 * nothing. The tenant is the installation's, as for every event (tenancy.ts); the user is the one Slack names.
 * https://docs.slack.dev/reference/events/app_home_opened
 */
import type { App } from '@slack/bolt';
import { deliveryIdFrom, dispatchDurably } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  const { durable, logger } = dependencies;
  app.event('app_home_opened', async ({ event, body, context }) => {
    const workspaceId = tenantOf(body, installationOf(context, dependencies.identity()));
    if (event.tab !== 'home' || !workspaceId || !event.user) {
      logger.debug({ deliveryId: deliveryIdFrom(context), tab: event.tab }, 'app_home_opened ignored');
      return;
    }
    await dispatchDurably(context, durable, 'app_home_opened', {
      kind: 'homeOpened',
      request: { workspaceId, userId: event.user, requestId: deliveryIdFrom(context) },
    });
  });
}
