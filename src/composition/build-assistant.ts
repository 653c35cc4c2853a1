/**
 * Slack's assistant view on the work side: the thread store on the work side's Redis, the `assistantThread`
 * handler (context and suggested prompts) and the `prepareRoute` step that turns an assistant-thread message into
 * a mention scoped to the viewed channel (src/capabilities/assistant/).
 *
 * `channelAdmitted` is the seam to channel control: pass the work side's allow/deny decision for a channel so a
 * question in the assistant view never reads the documents of a channel Deskhand may not work in. Absent, every
 * channel the user is a member of is admitted (as for mentions without channel control). Slack Connect scoping
 * (workspace-wide documents withheld in shared channels) applies wherever the answers path derives its access
 * scope from the request's document channel (`documentScope`), as it does for any channel.
 */

import type { RedisClient } from '../adapters/redis-client.ts';
import {
  createAssistantRoutePreparer,
  createAssistantThreadHandler,
} from '../capabilities/assistant/assistant-handlers.ts';
import { AssistantThreadStore } from '../capabilities/assistant/assistant-thread-store.ts';
import type { ViewedChannelChecks } from '../capabilities/assistant/viewed-channel-scope.ts';
import type { Logger } from '../observability/logger.ts';
import type { IncomingRequest } from '../ports/capability.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { AssistantThreadHandler } from '../work/requests.ts';
import type { Configuration } from './config.ts';

export function buildAssistant(
  configuration: Configuration,
  parts: {
    redis: RedisClient;
    messenger: Messenger;
    logger: Logger;
    channelAdmitted?: ViewedChannelChecks['channelAdmitted'];
  },
): { assistantThread: AssistantThreadHandler; prepareRoute: (request: IncomingRequest) => Promise<IncomingRequest> } {
  const dependencies = {
    store: new AssistantThreadStore(parts.redis, { keyPrefix: configuration.redis.keyPrefix }),
    messenger: parts.messenger,
    logger: parts.logger.child({ component: 'assistant' }),
    ...(parts.channelAdmitted ? { channelAdmitted: parts.channelAdmitted } : {}),
  };
  return {
    assistantThread: createAssistantThreadHandler(dependencies),
    prepareRoute: createAssistantRoutePreparer(dependencies),
  };
}
