/** What listeners need: the router for routed requests, and handlers for clicks, modals and shared files. */
import type { Logger } from '../../observability/logger.ts';
import type { BotIdentity } from '../../router/thread-context.ts';
import type { CapabilityOutcome } from '../../router/types.ts';
import type { BackgroundJobs } from '../background-jobs.ts';
import type { DurableWork } from '../durable-work.ts';
import type { ActionId, ViewCallbackId } from '../ids.ts';
import type { Work } from '../work.ts';

export interface ActionRequest {
  actionId: ActionId;
  /** The button's `value`: untrusted (anyone who can click may craft it); authorise server-side. */
  value: string | undefined;
  workspaceId: string;
  userId: string;
  channelId: string | undefined;
  messageTs: string | undefined;
  requestId: string;
  triggerId: string | undefined;
}

/** Handles a button click after the ack; a `reply` outcome is shown to the clicker only. */
export type ActionHandler = (request: ActionRequest) => Promise<CapabilityOutcome | undefined>;

export interface ViewRequest {
  callbackId: ViewCallbackId;
  workspaceId: string;
  userId: string;
  viewId: string;
  privateMetadata: string;
  /** `view.state.values`: block id → action id → element state. */
  values: Record<string, Record<string, unknown>>;
  requestId: string;
}

/** What to answer Slack for a submission: close the modal (undefined), or e.g. `response_action: 'errors'`. */
export type ViewAckResponse = Record<string, unknown> & { response_action: 'errors' | 'update' | 'push' | 'clear' };

/**
 * Handles a modal submission in two parts: `respond` runs before the ack and must be quick (validation, a
 * Redis write — no model or index work; Slack waits at most 3 s), `afterAck` runs after the ack in the background.
 */
export type ViewHandler = (
  request: ViewRequest,
) => Promise<{ response?: ViewAckResponse; afterAck?: () => Promise<void> } | undefined>;

export interface FileSharedRequest {
  workspaceId: string;
  fileId: string;
  channelId: string | undefined;
  userId: string;
  requestId: string;
}

/** Document ingestion hook for `file_shared`; absent until the documents capability lands. */
export type FileSharedHandler = (request: FileSharedRequest) => Promise<void>;

export interface InteractionHandlers {
  actions: Partial<Record<ActionId, ActionHandler>>;
  views: Partial<Record<ViewCallbackId, ViewHandler>>;
  fileShared?: FileSharedHandler;
}

export interface ListenerDependencies {
  /** Everything after the ack (this event loop or a worker thread). */
  work: Work;
  /** Stores post-ack work before the ack and runs it (see durable-work.ts). */
  durable: DurableWork;
  jobs: BackgroundJobs;
  logger: Logger;
  /** Delivery lease (see dedupe.ts), renewed by the background job while it runs. */
  leaseMs: number;
  /** Reaction name (without colons) that turns a message into a ticket. */
  ticketReaction: string;
  identity: () => BotIdentity;
}
