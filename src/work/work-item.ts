/**
 * A durable work item as plain data, the Redis keys it lives under (layout in durable-work.ts), how it is run, and
 * where to tell the user when it is given up. Apart from durable-work.ts so that the reply anchors (reply-anchors.ts) and the
 * re-assertion after Redis lost its data (work-reassertion.ts) share the keys without importing the sweeper.
 */
import type { IncomingRequest } from '../ports/capability.ts';
import type { ActionRequest, AssistantThreadRequest, FileSharedRequest, HomeOpenedRequest } from './requests.ts';
import type { ReactionRequest, Work } from './work.ts';

/** One unit of post-ack work, as plain data. */
export type WorkUnit =
  | { kind: 'route'; request: IncomingRequest }
  | { kind: 'reaction'; request: ReactionRequest }
  | { kind: 'action'; request: ActionRequest }
  | { kind: 'fileShared'; request: FileSharedRequest }
  | { kind: 'assistantThread'; request: AssistantThreadRequest }
  | { kind: 'homeOpened'; request: HomeOpenedRequest };

/** A stored unit of work: what to run, for which delivery, and how many times it has been started. */
export type StoredWork = WorkUnit & { deliveryId: string; name: string; attempts: number; replyTs?: string };

/** The Redis key of a delivery's stored item. */
export function workItemKey(keyPrefix: string, deliveryId: string): string {
  return `${keyPrefix}{work}:item:${deliveryId}`;
}

/** Where and to whom to say that a request could not be completed. */
export interface UndeliverableNotice {
  /** The request's tenant: with OAuth distribution, whose token tells the user. */
  workspaceId?: string;
  channelId: string;
  /** Set when the request came from a message: the reply goes in its thread. */
  threadTs?: string;
  /** Set when only this user should see it (commands, clicks, files). */
  userId?: string;
  text: string;
}

/** The ZSET of delivery ids scored by when their item should be looked at again. */
export function workPendingKey(keyPrefix: string): string {
  return `${keyPrefix}{work}:pending`;
}

/**
 * The work epoch: a random value that lives as long as Redis keeps its data (work-reassertion.ts). In the `{work}`
 * slot, so that on a Redis Cluster it is lost exactly when the node holding the items is.
 */
export function workEpochKey(keyPrefix: string): string {
  return `${keyPrefix}{work}:epoch`;
}

/** The item hash's field that holds the reply's first message (reply-anchors.ts). */
export const replyTsField = 'replyTs';

/** Runs a stored item on the work side. */
export async function runWorkUnit(work: Work, item: StoredWork): Promise<void> {
  switch (item.kind) {
    case 'route': {
      // The reply keeps its first message with this item, and a re-run continues the one an earlier run started.
      const replyAnchor = { deliveryId: item.deliveryId, ...(item.replyTs ? { replyTs: item.replyTs } : {}) };
      await work.route({ ...item.request, replyAnchor });
      return;
    }
    case 'reaction':
      await work.reaction(item.request);
      return;
    case 'action':
      await work.action(item.request);
      return;
    case 'fileShared':
      await work.fileShared(item.request);
      return;
    case 'assistantThread':
      await work.assistantThread(item.request);
      return;
    case 'homeOpened':
      await work.homeOpened(item.request);
      return;
  }
}

const givenUpText =
  'Sorry, I could not complete this request: the work was interrupted several times. Please try again.';

/** Where to tell the user about a given-up item; undefined when the request names no channel. */
export function noticeFor(item: StoredWork): UndeliverableNotice | undefined {
  const notice = placeOfNotice(item);
  return notice && { workspaceId: item.request.workspaceId, ...notice };
}

function placeOfNotice(item: StoredWork): UndeliverableNotice | undefined {
  switch (item.kind) {
    case 'route': {
      const { channelId, userId, threadTs, messageTs } = item.request;
      const thread = threadTs ?? messageTs;
      // Commands have no message to thread on: only the user who ran it sees the notice.
      return thread ? { channelId, threadTs: thread, text: givenUpText } : { channelId, userId, text: givenUpText };
    }
    case 'reaction':
      return { channelId: item.request.channelId, threadTs: item.request.messageTs, text: givenUpText };
    case 'action':
    case 'fileShared':
      return item.request.channelId
        ? { channelId: item.request.channelId, userId: item.request.userId, text: givenUpText }
        : undefined;
    case 'assistantThread':
      // Nothing the user asked for was lost (prompts and context only): no notice in their assistant thread.
      return undefined;
    case 'homeOpened':
      // The Home is published again the next time it is opened: nothing to tell.
      return undefined;
  }
}
