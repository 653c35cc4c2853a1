/** Slash commands: store the request durably, ack (empty ack: no extra message), then route in the background. */
import type { App } from '@slack/bolt';
import { commands } from '../../slack-kit/ids.ts';
import { deliveryIdFrom, dispatchDurably } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const name of Object.values(commands)) {
    app.command(name, async ({ command, ack, body, context }) => {
      const workspaceId = tenantOf(body, installationOf(context, dependencies.identity())) ?? command.team_id;
      await dispatchDurably(context, dependencies.durable, 'command', {
        kind: 'route',
        request: {
          origin: 'command',
          command: command.command,
          workspaceId,
          channelId: command.channel_id,
          userId: command.user_id,
          text: command.text ?? '',
          requestId: deliveryIdFrom(context),
          triggerId: command.trigger_id,
          responseUrl: command.response_url,
        },
      });
      await ack();
    });
  }
}
