/**
 * Modal submissions. With a handler: its quick part decides the ack (close, or show field errors), its slow part
 * runs in the background. Without one, or when it fails: the modal is replaced by a short view saying why, so the
 * submitter is never left guessing.
 */
import type { App, ViewSubmitAction } from '@slack/bolt';
import { defaultUserMessages, toDeskhandError } from '../../errors.ts';
import { deliveryIdFrom, runInBackground } from '../delivery-middleware.ts';
import { type ViewCallbackId, views } from '../ids.ts';
import { tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const callbackId of Object.values(views)) {
    app.view<ViewSubmitAction>(callbackId, async ({ ack, body, view, context }) => {
      const handler = dependencies.interactions.views[callbackId as ViewCallbackId];
      if (!handler) {
        await ack({ response_action: 'update', view: messageView(defaultUserMessages.not_available_yet) });
        dependencies.logger.info(
          { code: 'not_available_yet', callbackId, deliveryId: deliveryIdFrom(context) },
          'view submission without a handler',
        );
        return;
      }
      const request = {
        callbackId: callbackId as ViewCallbackId,
        workspaceId: tenantOf(body) ?? body.team?.id ?? '',
        userId: body.user.id,
        viewId: view.id,
        privateMetadata: view.private_metadata,
        values: view.state.values as Record<string, Record<string, unknown>>,
        requestId: deliveryIdFrom(context),
      };
      let result: Awaited<ReturnType<typeof handler>>;
      try {
        result = await handler(request);
      } catch (error) {
        const coded = toDeskhandError(error);
        dependencies.logger[coded.code === 'internal' ? 'error' : 'warn'](
          { err: error, code: coded.code, callbackId, deliveryId: request.requestId },
          'view submission failed',
        );
        await ack({ response_action: 'update', view: messageView(coded.userMessage) });
        return;
      }
      await ack(result?.response as Parameters<typeof ack>[0]);
      const afterAck = result?.afterAck;
      if (afterAck) runInBackground(context, dependencies.jobs, 'view', afterAck, { leaseMs: dependencies.leaseMs });
    });
  }
}

/** A modal that only says `text` (replaces the submitted one, so the submitter sees the outcome). */
function messageView(text: string) {
  return {
    type: 'modal' as const,
    title: { type: 'plain_text' as const, text: 'Deskhand' },
    close: { type: 'plain_text' as const, text: 'Close' },
    blocks: [{ type: 'section', text: { type: 'plain_text', text } }],
  };
}
