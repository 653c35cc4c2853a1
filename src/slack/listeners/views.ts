/**
 * Modal submissions. With a handler: ack (closing the modal) and run it in the background. Without one: the
 * modal is replaced by a short "not available yet" view, so the submitter is never left guessing.
 */
import type { App, ViewSubmitAction } from '@slack/bolt';
import { defaultUserMessages } from '../../errors.ts';
import { deliveryIdFrom, runInBackground } from '../delivery-middleware.ts';
import { type ViewCallbackId, views } from '../ids.ts';
import { tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const callbackId of Object.values(views)) {
    app.view<ViewSubmitAction>(callbackId, async ({ ack, body, view, context }) => {
      const handler = dependencies.interactions.views[callbackId as ViewCallbackId];
      if (!handler) {
        await ack({
          response_action: 'update',
          view: {
            type: 'modal',
            title: { type: 'plain_text', text: 'Deskhand' },
            close: { type: 'plain_text', text: 'Close' },
            blocks: [{ type: 'section', text: { type: 'plain_text', text: defaultUserMessages.not_available_yet } }],
          },
        });
        dependencies.logger.info(
          { code: 'not_available_yet', callbackId, deliveryId: deliveryIdFrom(context) },
          'view submission without a handler',
        );
        return;
      }
      await ack();
      const request = {
        callbackId: callbackId as ViewCallbackId,
        workspaceId: tenantOf(body) ?? body.team?.id ?? '',
        userId: body.user.id,
        viewId: view.id,
        privateMetadata: view.private_metadata,
        values: view.state.values as Record<string, Record<string, unknown>>,
        requestId: deliveryIdFrom(context),
      };
      runInBackground(context, dependencies.jobs, 'view', () => handler(request), { leaseMs: dependencies.leaseMs });
    });
  }
}
