/**
 * Button clicks: ack at once, then hand the click to the work side, where the action's handler runs and the
 * clicker always sees a result or the reason there is none. Handlers must treat the button value as untrusted.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { deliveryIdFrom, runInBackground } from '../delivery-middleware.ts';
import { type ActionId, actions } from '../ids.ts';
import { tenantOf } from '../tenancy.ts';
import type { ActionRequest, ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const actionId of Object.values(actions)) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, context }) => {
      await ack();
      const request: ActionRequest = {
        actionId: actionId as ActionId,
        value: action.value,
        workspaceId: tenantOf(body) ?? body.team?.id ?? '',
        userId: body.user.id,
        channelId: body.channel?.id ?? body.container?.channel_id,
        messageTs: body.message?.ts ?? body.container?.message_ts,
        requestId: deliveryIdFrom(context),
        triggerId: body.trigger_id,
      };
      runInBackground(context, dependencies.jobs, 'action', () => dependencies.work.action(request), {
        leaseMs: dependencies.leaseMs,
      });
    });
  }
}
