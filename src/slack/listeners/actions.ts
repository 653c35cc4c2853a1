/**
 * Button clicks: store the click as a durable work item, then ack (the receiver sends the ack only after this
 * listener returns, so an acknowledged click is never lost: docs/platform-facts.md, "Approvals"); the work side
 * runs the action's handler after the ack, and the clicker always sees a result or the reason there is none.
 * If the click cannot be stored, the listener throws and Slack gets an error instead of an ack: the clicker's
 * client shows that the click failed, nothing ran, and clicking again is safe. Handlers must treat the button
 * value as untrusted.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { type ActionId, actions } from '../../slack-kit/ids.ts';
import type { ActionRequest } from '../../work/requests.ts';
import { deliveryIdFrom, dispatchDurably } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const actionId of Object.values(actions)) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, context }) => {
      const request: ActionRequest = {
        actionId: actionId as ActionId,
        value: action.value,
        workspaceId: tenantOf(body, installationOf(context, dependencies.identity())) ?? body.team?.id ?? '',
        userId: body.user.id,
        channelId: body.channel?.id ?? body.container?.channel_id,
        messageTs: body.message?.ts ?? body.container?.message_ts,
        requestId: deliveryIdFrom(context),
        triggerId: body.trigger_id,
        ...(body.view?.type === 'home' ? { surface: 'home' as const } : {}),
      };
      await dispatchDurably(context, dependencies.durable, 'action', { kind: 'action', request });
      await ack();
    });
  }
}
