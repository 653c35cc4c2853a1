/**
 * The message shortcuts: "Create ticket" (the message becomes a ticket draft) and "Save to Deskhand docs" (its
 * thread becomes a document of the channel). Each stores the request durably, acks, then routes it on the work
 * side with its callback id, which decides the route (src/router/router.ts).
 */
import type { App, MessageShortcut } from '@slack/bolt';
import { messageShortcuts } from '../../slack-kit/ids.ts';
import { deliveryIdFrom, dispatchDurably } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const callbackId of Object.values(messageShortcuts)) {
    app.shortcut<MessageShortcut>(
      { callback_id: callbackId, type: 'message_action' },
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
        // Saving works on the whole thread: its root is the message itself when it starts (or is alone in) one.
        const threadTs =
          callbackId === messageShortcuts.saveThreadToDocs ? (message.thread_ts ?? message.ts) : message.thread_ts;
        await dispatchDurably(context, dependencies.durable, 'shortcut', {
          kind: 'route',
          request: {
            origin: 'shortcut',
            shortcut: callbackId,
            workspaceId,
            channelId: shortcut.channel.id,
            userId: shortcut.user.id,
            text: message.text ?? '',
            messageTs: message.ts,
            ...(threadTs ? { threadTs } : {}),
            requestId: deliveryIdFrom(context),
            triggerId: shortcut.trigger_id,
            responseUrl: shortcut.response_url,
          },
        });
        await ack();
      },
    );
  }
}
