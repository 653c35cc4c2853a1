/**
 * What happens to a delivery that could not be claimed for de-duplication (Redis unreachable, read-only or failing
 * over): it is not worked on, because work that runs unclaimed is run a second time by the sweeper or a
 * redelivery once Redis is back (issue 17: 7 duplicate replies after a Redis restart). Instead:
 * - an Events API delivery is not acknowledged: `DeliveryUnclaimedError` reaches the receiver, which answers 503,
 *   and Slack retries it (immediately, then after about 1 and 5 minutes; docs/platform-facts.md "Retries"), by
 *   which time the claim can be made and the event is worked on once;
 * - a command or an interaction is never retried by Slack, and its ack is ours to write: it is acknowledged with
 *   `unclaimedText` (a command's ephemeral response, a modal replaced by a view saying it), and for a click or a
 *   shortcut the text is posted ephemerally in the channel, or in a small modal when there is no channel.
 * Either way the log line carries code `upstream_unavailable` and the delivery id.
 */
import type { AllMiddlewareArgs, AnyMiddlewareArgs } from '@slack/bolt';
import type { Logger } from '../observability/logger.ts';
import { messageView } from '../work/work.ts';
import { DeliveryUnclaimedError } from '../work/work-errors.ts';

/** What the user sees when a command or click could not be taken. */
export const unclaimedText =
  'Deskhand could not take this request right now: its shared store is not answering, so nothing was started. Please try again in a minute.';

type Json = Record<string, unknown>;
type OpenedView = NonNullable<Parameters<AllMiddlewareArgs['client']['views']['open']>[0]>['view'];

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function objectAt(value: unknown, key: string): Json | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const inner = (value as Json)[key];
  return typeof inner === 'object' && inner !== null ? (inner as Json) : undefined;
}

/**
 * Refuses an unclaimed delivery as described in the header: throws `DeliveryUnclaimedError` for an event;
 * otherwise acknowledges with the explanation and tells the user (that post is not awaited: it must not delay the
 * ack, and its failure is only logged).
 */
export async function refuseUnclaimed(
  args: AnyMiddlewareArgs & AllMiddlewareArgs,
  deliveryId: string,
  cause: unknown,
  logger: Logger,
): Promise<void> {
  const body = args.body as Json;
  const ack = (args as { ack?: (response?: unknown) => Promise<void> }).ack;
  const fields = { err: cause, deliveryId, code: 'upstream_unavailable' };
  if (body.type === 'event_callback' || !ack) {
    logger.warn(fields, 'delivery could not be claimed: not acknowledged, so that Slack redelivers it');
    throw new DeliveryUnclaimedError(deliveryId, cause);
  }
  logger.warn(fields, 'delivery could not be claimed: the user was asked to try again');
  if (typeof body.command === 'string') {
    await ack({ response_type: 'ephemeral', text: unclaimedText });
    return;
  }
  if (body.type === 'view_submission') {
    await ack(messageView(unclaimedText));
    return;
  }
  if (body.type === 'block_suggestion') {
    await ack({ options: [] });
    return;
  }
  await ack();
  const userId = str(objectAt(body, 'user')?.id) ?? str(body.user_id);
  const channelId = str(objectAt(body, 'channel')?.id) ?? str(objectAt(body, 'container')?.channel_id);
  const triggerId = str(body.trigger_id);
  const { client } = args;
  const tell =
    channelId && userId
      ? client.chat.postEphemeral({ channel: channelId, user: userId, text: unclaimedText })
      : triggerId && body.type !== 'view_closed'
        ? client.views.open({ trigger_id: triggerId, view: messageView(unclaimedText).view as OpenedView })
        : undefined;
  tell?.catch((error: unknown) => {
    logger.warn({ err: error, deliveryId, code: 'upstream_unavailable' }, 'could not tell the user to try again');
  });
}
