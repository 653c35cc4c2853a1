/**
 * The plain, serialisable shapes of work after the ack that is not a routed request: button clicks, modal
 * submissions and shared files, and the handlers the work side registers for them. They live below the Slack
 * listeners that produce them and the work that consumes them, so neither imports the other's module.
 */
import type { CapabilityOutcome } from '../ports/capability.ts';
import type { ActionId, ViewCallbackId } from '../slack-kit/ids.ts';

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
  /** `home` when the button is on the clicker's App Home tab (no channel: the Home is refreshed instead). */
  surface?: 'home';
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

/**
 * Slack's assistant view: a thread was started (`assistant_thread_started`) or the channel its user is viewing
 * changed (`assistant_thread_context_changed`). The thread lives in the user's DM with Deskhand.
 */
export interface AssistantThreadRequest {
  event: 'thread_started' | 'context_changed';
  workspaceId: string;
  /** The DM channel of the assistant thread. */
  channelId: string;
  threadTs: string;
  userId: string;
  /** What the user is viewing, as the signed event says; checked against the tenant on the work side. */
  context: { channelId?: string; teamId?: string; enterpriseId?: string };
  requestId: string;
}

/** Stores an assistant thread's context and, when it starts, sets its suggested prompts. */
export type AssistantThreadHandler = (request: AssistantThreadRequest) => Promise<void>;

/** Someone opened Deskhand's App Home tab (`app_home_opened`, tab `home`). */
export interface HomeOpenedRequest {
  workspaceId: string;
  userId: string;
  requestId: string;
}

/** Publishes the opener's App Home. */
export type HomeOpenedHandler = (request: HomeOpenedRequest) => Promise<void>;

export interface InteractionHandlers {
  actions: Partial<Record<ActionId, ActionHandler>>;
  views: Partial<Record<ViewCallbackId, ViewHandler>>;
  fileShared?: FileSharedHandler;
  assistantThread?: AssistantThreadHandler;
  homeOpened?: HomeOpenedHandler;
}
