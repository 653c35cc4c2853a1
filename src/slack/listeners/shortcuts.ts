/** The "Create ticket" message shortcut: ack at once, then route the message (and its thread) as a ticket. */
import type { App, MessageShortcut } from '@slack/bolt';
import { deliveryIdFrom, runInBackground } from '../delivery-middleware.ts';
import { messageShortcuts } from '../ids.ts';
import { tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  app.shortcut<MessageShortcut>(
    { callback_id: messageShortcuts.createTicket, type: 'message_action' },
    async ({ shortcut, ack, body, context }) => {
      await ack();
      const workspaceId = tenantOf(body) ?? shortcut.team?.id;
      if (!workspaceId) {
        dependencies.logger.warn(
          { code: 'invalid_input', deliveryId: deliveryIdFrom(context) },
          'shortcut without team',
        );
        return;
      }
      const message = shortcut.message as { ts: string; text?: string; thread_ts?: string };
      runInBackground(
        context,
        dependencies.jobs,
        'shortcut',
        async () => {
          await dependencies.work.route({
            origin: 'shortcut',
            workspaceId,
            channelId: shortcut.channel.id,
            userId: shortcut.user.id,
            text: message.text ?? '',
            messageTs: message.ts,
            ...(message.thread_ts ? { threadTs: message.thread_ts } : {}),
            requestId: deliveryIdFrom(context),
            triggerId: shortcut.trigger_id,
            responseUrl: shortcut.response_url,
          });
        },
        { leaseMs: dependencies.leaseMs },
      );
    },
  );
}
