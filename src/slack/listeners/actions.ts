/**
 * Button clicks: ack at once, then run the action's handler in the background. The clicker always sees a
 * result or the reason there is none (ephemeral). Handlers must treat the button value as untrusted.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { DeskhandError, toDeskhandError } from '../../errors.ts';
import type { Block } from '../../ports/messenger.ts';
import { errorMessage } from '../blocks/error-message.ts';
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
      runInBackground(context, dependencies.jobs, 'action', () => handleAction(request, dependencies), {
        leaseMs: dependencies.leaseMs,
      });
    });
  }
}

async function handleAction(request: ActionRequest, dependencies: ListenerDependencies): Promise<void> {
  const logger = dependencies.logger.child({ requestId: request.requestId, actionId: request.actionId });
  let reply: { text: string; blocks?: Block[] } | undefined;
  try {
    const handler = dependencies.interactions.actions[request.actionId];
    if (!handler) {
      throw new DeskhandError('not_available_yet', `no handler for action ${request.actionId}`, {
        userMessage: 'That button does not do anything yet.',
      });
    }
    const outcome = await handler(request);
    if (outcome?.kind === 'reply')
      reply = { text: outcome.text, ...(outcome.blocks ? { blocks: outcome.blocks } : {}) };
    logger.info({ code: 'ok' }, 'action handled');
  } catch (error) {
    const coded = toDeskhandError(error);
    logger[coded.code === 'internal' ? 'error' : 'warn']({ err: error, code: coded.code }, 'action failed');
    reply = errorMessage(coded.code, coded.userMessage);
  }
  if (reply && request.channelId) {
    await dependencies.messenger.postEphemeral({ channel: request.channelId, user: request.userId, ...reply });
  }
}
