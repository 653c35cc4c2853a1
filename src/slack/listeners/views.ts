/**
 * Modal submissions: the work side's quick answer decides the ack (close, or show field errors); its slow part
 * runs on after the ack. Without a handler, or when it fails, the modal is replaced by a short view saying why,
 * so the submitter is never left guessing.
 */
import type { App, ViewSubmitAction } from '@slack/bolt';
import { toDeskhandError } from '../../errors.ts';
import { type ViewCallbackId, views } from '../../slack-kit/ids.ts';
import { messageView } from '../../work/work.ts';
import { deliveryIdFrom, runInBackground } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const callbackId of Object.values(views)) {
    app.view<ViewSubmitAction>(callbackId, async ({ ack, body, view, context }) => {
      const request = {
        callbackId: callbackId as ViewCallbackId,
        workspaceId: tenantOf(body, installationOf(context, dependencies.identity())) ?? body.team?.id ?? '',
        userId: body.user.id,
        viewId: view.id,
        privateMetadata: view.private_metadata,
        values: view.state.values as Record<string, Record<string, unknown>>,
        requestId: deliveryIdFrom(context),
      };
      let result: Awaited<ReturnType<typeof dependencies.work.view>>;
      try {
        result = await dependencies.work.view(request);
      } catch (error) {
        const coded = toDeskhandError(error);
        dependencies.logger.error({ err: error, code: coded.code, callbackId }, 'view submission failed');
        await ack(messageView(coded.userMessage) as Parameters<typeof ack>[0]);
        return;
      }
      await ack(result.response as Parameters<typeof ack>[0]);
      // Not durable: `afterAck` is a closure on the work side, not serialisable data, so it cannot be stored and
      // re-run by another process. Its quick, durable part (`respond`) ran before the ack above.
      const { settled } = result;
      runInBackground(context, dependencies.jobs, 'view', () => settled, { leaseMs: dependencies.leaseMs });
    });
  }
}
