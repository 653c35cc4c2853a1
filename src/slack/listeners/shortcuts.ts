/** The "Create ticket" message shortcut: store the request durably, ack, then route the message as a ticket. */
import type { App, MessageShortcut } from '@slack/bolt';
import { messageShortcuts } from '../../slack-kit/ids.ts';
import { deliveryIdFrom, dispatchDurably } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  app.shortcut<MessageShortcut>(
    { callback_id: messageShortcuts.createTicket, type: 'message_action' },
    async ({ shortcut, ack, body, context }) => {
      const workspaceId = tenantOf(body, installationOf(context, dependencies.identity())) ?? shortcut.team?.id;
      if (!workspaceId) {
        dependencies.logger.warn(
          { code: 'invalid_input', deliveryId: deliveryIdFrom(context) },
          'shortcut without team',
        );
        await ack();
        return;
      }
      const message = shortcut.message as { ts: string; text?: string; thread_ts?: string };
      await dispatchDurably(context, dependencies.durable, 'shortcut', {
        kind: 'route',
        request: {
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
        },
      });
      await ack();
    },
  );
}
