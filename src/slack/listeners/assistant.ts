/**
 * Slack's assistant view (AI apps surface): `assistant_thread_started` and `assistant_thread_context_changed`.
 * Each stores a durable `assistantThread` work item before returning (the ack follows), and the work side stores
 * the thread's context and sets its suggested prompts (src/capabilities/assistant/). Messages in the thread are
 * ordinary `message.im` events, handled by events.ts; the work side turns those of a known assistant thread into
 * mentions scoped to the viewed channel (`prepareRoute`).
 *
 * Plain listeners rather than Bolt's `Assistant` middleware: it runs its handlers before the ack with no durable
 * hand-off, keeps the context in the metadata of a bot message it edits (`chat.update`), and claims every DM
 * thread message — our listeners must store the work first, keep the context in Redis per workspace, and leave
 * ordinary DM threads to the existing follow-up path.
 *
 * A payload without a user, a DM channel, a thread or a tenant starts nothing (logged).
 */
import type { App } from '@slack/bolt';
import { deliveryIdFrom, dispatchDurably } from '../delivery-middleware.ts';
import { installationOf, tenantOf } from '../tenancy.ts';
import type { ListenerDependencies } from './dependencies.ts';

/** The `assistant_thread` object both events carry (docs.slack.dev/reference/events/assistant_thread_started). */
interface AssistantThreadPayload {
  user_id?: unknown;
  channel_id?: unknown;
  thread_ts?: unknown;
  context?: { channel_id?: unknown; team_id?: unknown; enterprise_id?: unknown } | null;
}

const events = {
  assistant_thread_started: 'thread_started',
  assistant_thread_context_changed: 'context_changed',
} as const;

export function register(app: App, dependencies: ListenerDependencies): void {
  for (const [eventType, kind] of Object.entries(events)) {
    app.event(eventType, async ({ event, body, context }) => {
      const thread = (event as { assistant_thread?: AssistantThreadPayload }).assistant_thread;
      const workspaceId = tenantOf(body, installationOf(context, dependencies.identity()));
      const userId = text(thread?.user_id);
      const channelId = text(thread?.channel_id);
      const threadTs = text(thread?.thread_ts);
      if (!workspaceId || !userId || !channelId || !threadTs) {
        dependencies.logger.info(
          { deliveryId: deliveryIdFrom(context), code: 'invalid_input', event: eventType },
          'assistant thread event without a tenant, user, channel or thread: ignored',
        );
        return;
      }
      const viewed = thread?.context ?? {};
      const viewedChannel = text(viewed.channel_id);
      const viewedTeam = text(viewed.team_id);
      const viewedEnterprise = text(viewed.enterprise_id);
      await dispatchDurably(context, dependencies.durable, eventType, {
        kind: 'assistantThread',
        request: {
          event: kind,
          workspaceId,
          channelId,
          threadTs,
          userId,
          context: {
            ...(viewedChannel ? { channelId: viewedChannel } : {}),
            ...(viewedTeam ? { teamId: viewedTeam } : {}),
            ...(viewedEnterprise ? { enterpriseId: viewedEnterprise } : {}),
          },
          requestId: deliveryIdFrom(context),
        },
      });
    });
  }
}

/** A non-empty string of at most 64 characters (Slack ids and timestamps are far shorter), else undefined. */
function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 64 ? value : undefined;
}
