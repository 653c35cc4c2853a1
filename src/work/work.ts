/**
 * Everything that happens after the ack, behind one interface, so the ingress (receiver, Bolt, de-duplication,
 * listeners) can hand work to this event loop (`createInProcessWork`) or to a worker thread
 * (src/composition/worker/threaded-work.ts) without knowing which. Every request type is plain, serialisable data.
 */
import { DeskhandError, toDeskhandError } from '../errors.ts';
import { type EncodingName, getEncoder } from '../llm/tokenizer.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { CapabilityHandlers, IncomingRequest } from '../ports/capability.ts';
import type { LanguageModelGateway } from '../ports/language-model.ts';
import type { Block, Messenger } from '../ports/messenger.ts';
import { completeHandlers } from '../router/default-handlers.ts';
import { Router, type RouterDependencies, type RouterOutcome } from '../router/router.ts';
import type { BotIdentity } from '../router/thread-context.ts';
import type { ThreadMemory } from '../router/thread-memory.ts';
import { errorMessage } from '../slack-kit/error-message.ts';
import type { AdminIngestRequest, AdminIngestResult } from './admin-ingest.ts';
import type {
  ActionRequest,
  AssistantThreadRequest,
  FileSharedRequest,
  HomeOpenedRequest,
  InteractionHandlers,
  ViewAckResponse,
  ViewRequest,
} from './requests.ts';

/** A ticket reaction: the target message is fetched by the work side, not on the ack path. */
export interface ReactionRequest {
  workspaceId: string;
  channelId: string;
  userId: string;
  messageTs: string;
  requestId: string;
}

export interface Work {
  /** Routes a mention, follow-up, command or shortcut to its capability and delivers the outcome. */
  route(request: IncomingRequest): Promise<RouterOutcome>;
  /** Turns the reacted-to message into a routed ticket request. */
  reaction(request: ReactionRequest): Promise<RouterOutcome>;
  /** Runs a button's handler; the clicker always sees a result or the reason there is none. */
  action(request: ActionRequest): Promise<void>;
  /**
   * Runs a modal submission's quick part and returns the ack response; its slow part continues on the work side
   * (`settled` resolves when it has ended).
   */
  view(request: ViewRequest): Promise<{ response?: ViewAckResponse; settled: Promise<void> }>;
  fileShared(request: FileSharedRequest): Promise<void>;
  /** An assistant thread started or its viewed channel changed (Slack's assistant view). */
  assistantThread(request: AssistantThreadRequest): Promise<void>;
  /** Someone opened the App Home tab: their Home is published. */
  homeOpened(request: HomeOpenedRequest): Promise<void>;
  /** A file handed over by `POST /admin/ingest` (admin-ingest.ts); absent when the work side cannot ingest. */
  adminIngest?(request: AdminIngestRequest): Promise<AdminIngestResult>;
  /** Tells the work side who Deskhand is (after auth.test). */
  setIdentity(identity: BotIdentity): void;
  /** Readiness of what the work side owns (index, stores). */
  ready(): Promise<boolean>;
  /** Waits for running work, then releases what the work side owns. */
  close(timeoutMs: number): Promise<void>;
}

export interface InProcessWorkDependencies {
  messenger: Messenger;
  gateway: LanguageModelGateway;
  threads: ThreadMemory;
  logger: Logger;
  registry: Registry;
  capabilities?: Partial<CapabilityHandlers>;
  interactions?: Partial<InteractionHandlers>;
  classifierModel: string;
  threadContextTokens: number;
  encoding: EncodingName;
  /**
   * Deskhand's bot ids for the current request when they differ per workspace (OAuth distribution); undefined
   * (or absent) falls back to the one identity given with `setIdentity`.
   */
  identity?: () => BotIdentity | undefined;
  /** Readiness of the stores the work side uses (e.g. the vector index). */
  ready?: () => Promise<boolean>;
  /**
   * A request another handler already serves (e.g. the mention that shares a file, which `fileShared` adds):
   * not routed, outcome `ignored`. A failing check routes the request as usual.
   */
  handledElsewhere?: (request: IncomingRequest) => Promise<boolean>;
  /**
   * Work-side preparation of a request before it is routed, e.g. a message in an assistant thread becomes a
   * mention whose documents are the viewed channel's (src/capabilities/assistant/). Must not throw: it decides
   * what to do when its own lookups fail.
   */
  prepareRoute?: (request: IncomingRequest) => Promise<IncomingRequest>;
  /** Ingests a file handed over by `POST /admin/ingest`; without it the work side has no `adminIngest`. */
  adminIngest?: (request: AdminIngestRequest) => Promise<AdminIngestResult>;
  /** Called by `close` after running work has ended (drain the messenger, close the index…). */
  onClose?: () => Promise<void>;
  /**
   * Where Deskhand works (src/router/channel-control.ts), asked by the router before any model call; a file
   * shared in a channel it refuses is not added (logged), and a mention sharing one gets the explanation.
   */
  channels?: RouterDependencies['channels'];
  /** Keeps each reply's first message with its durable work item (src/work/reply-anchors.ts). */
  replyAnchors?: RouterDependencies['replyAnchors'];
}

/** The work side on the current event loop (tests, and `WORK_THREAD=false`). */
export function createInProcessWork(dependencies: InProcessWorkDependencies): Work & { router: Router } {
  const { messenger, logger } = dependencies;
  // Building a tiktoken encoder compiles its WASM and ranks (~1 s on a busy machine) and blocks the event loop;
  // doing it now, before the app listens, keeps that pause off the first requests.
  getEncoder(dependencies.encoding);
  let identity: BotIdentity = {};
  const running = new RunningWork();
  const track = <T>(promise: Promise<T>): Promise<T> => running.track(promise);
  const router = new Router({
    gateway: dependencies.gateway,
    messenger,
    threads: dependencies.threads,
    handlers: completeHandlers(dependencies.capabilities ?? {}),
    logger,
    registry: dependencies.registry,
    classifierModel: dependencies.classifierModel,
    threadContextTokens: dependencies.threadContextTokens,
    encoding: dependencies.encoding,
    identity: () => dependencies.identity?.() ?? identity,
    ...(dependencies.channels ? { channels: dependencies.channels } : {}),
    ...(dependencies.replyAnchors ? { replyAnchors: dependencies.replyAnchors } : {}),
  });
  const interactions = dependencies.interactions ?? {};
  const adminIngest = dependencies.adminIngest;

  return {
    router,
    route: (request) => track(prepareAndRoute(request, router, dependencies)),
    reaction: (request) => track(routeReaction(request, router, messenger)),
    action: (request) => track(runAction(request, interactions, messenger, logger)),
    view: (request) => runView(request, interactions, logger, track),
    async fileShared(request) {
      const handler = interactions.fileShared;
      if (!handler) {
        logger.debug({ code: 'not_available_yet', requestId: request.requestId }, 'file_shared not handled');
        return;
      }
      if (!(await fileChannelAdmitted(request, dependencies))) return;
      await track(handler(request));
    },
    async assistantThread(request) {
      const handler = interactions.assistantThread;
      if (!handler) {
        logger.debug({ code: 'not_available_yet', requestId: request.requestId }, 'assistant thread not handled');
        return;
      }
      await track(handler(request));
    },
    async homeOpened(request) {
      const handler = interactions.homeOpened;
      if (!handler) {
        logger.debug({ code: 'not_available_yet', requestId: request.requestId }, 'app_home_opened not handled');
        return;
      }
      await track(handler(request));
    },
    ...(adminIngest ? { adminIngest: (request: AdminIngestRequest) => track(adminIngest(request)) } : {}),
    setIdentity(value) {
      identity = value;
    },
    ready: dependencies.ready ?? (async () => true),
    async close(timeoutMs) {
      await running.settle(timeoutMs, logger);
      await messenger.drain();
      await dependencies.onClose?.();
    },
  };
}

/** The work started and not yet ended, so that `close` can wait for it. */
class RunningWork {
  readonly #running = new Set<Promise<unknown>>();

  track<T>(promise: Promise<T>): Promise<T> {
    this.#running.add(promise);
    void promise.finally(() => this.#running.delete(promise)).catch(() => {});
    return promise;
  }

  /** Waits until nothing runs or `timeoutMs` has passed (then warns with how many are still running). */
  async settle(timeoutMs: number, logger: Logger): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#running.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.#running]), new Promise((resolve) => setTimeout(resolve, 100))]);
    }
    if (this.#running.size > 0)
      logger.warn({ inFlight: this.#running.size, code: 'deadline_exceeded' }, 'work still running');
  }
}

/** Prepares the request on the work side (when a preparation is given), then routes it. */
async function prepareAndRoute(
  request: IncomingRequest,
  router: Router,
  dependencies: InProcessWorkDependencies,
): Promise<RouterOutcome> {
  const prepared = dependencies.prepareRoute ? await dependencies.prepareRoute(request) : request;
  return routeUnlessHandledElsewhere(prepared, router, dependencies);
}

/** Routes the request unless another handler serves it (outcome `ignored`); a failing check routes it as usual. */
async function routeUnlessHandledElsewhere(
  request: IncomingRequest,
  router: Router,
  dependencies: InProcessWorkDependencies,
): Promise<RouterOutcome> {
  const { logger } = dependencies;
  // A refused channel's mention is not handed to another handler: the router tells the requester why.
  if (request.origin !== 'thread_follow_up' && !(await admitted(request, dependencies))) return router.handle(request);
  const elsewhere = await dependencies.handledElsewhere?.(request).catch((error: unknown) => {
    logger.warn({ err: error, requestId: request.requestId }, 'could not check the request; routing it');
    return false;
  });
  if (!elsewhere) return router.handle(request);
  logger.info({ requestId: request.requestId, origin: request.origin, code: 'ok' }, 'handled elsewhere');
  return { status: 'ignored' };
}

/** True unless the channel settings refuse the request (a failing check is left to the router, which refuses). */
async function admitted(request: IncomingRequest, dependencies: InProcessWorkDependencies): Promise<boolean> {
  if (!dependencies.channels) return true;
  const admission = await dependencies.channels.admit(request).catch(() => undefined);
  return admission?.admitted === true;
}

/** A shared file is added only where Deskhand works; otherwise (or when that cannot be told) it is logged and left. */
async function fileChannelAdmitted(
  request: FileSharedRequest,
  dependencies: InProcessWorkDependencies,
): Promise<boolean> {
  if (!dependencies.channels || request.channelId === undefined) return true;
  const { channelId } = request;
  const check = { origin: 'mention' as const, workspaceId: request.workspaceId, channelId, userId: request.userId };
  const admission = await dependencies.channels
    .admit({ ...check, text: '', requestId: request.requestId })
    .catch((error: unknown) => {
      dependencies.logger.warn({ err: error, requestId: request.requestId }, 'could not read the channel settings');
      return undefined;
    });
  if (admission?.admitted) return true;
  dependencies.logger.info(
    { code: 'channel_not_allowed', requestId: request.requestId, workspaceId: request.workspaceId, channelId },
    'file shared in a channel Deskhand does not work in: not added',
  );
  return false;
}

/** Fetches the reacted-to message and routes it as a `reaction` request. */
async function routeReaction(request: ReactionRequest, router: Router, messenger: Messenger): Promise<RouterOutcome> {
  const target = await messenger.message(request.channelId, request.messageTs);
  return router.handle({
    origin: 'reaction',
    workspaceId: request.workspaceId,
    channelId: request.channelId,
    userId: request.userId,
    text: target?.text ?? '',
    messageTs: request.messageTs,
    ...(target?.threadTs ? { threadTs: target.threadTs } : {}),
    requestId: request.requestId,
  });
}

/** Runs a button's handler; the clicker sees its reply, or the reason there is none, as an ephemeral message. */
async function runAction(
  request: ActionRequest,
  interactions: Partial<InteractionHandlers>,
  messenger: Messenger,
  logger: Logger,
): Promise<void> {
  const actionLogger = logger.child({ requestId: request.requestId, actionId: request.actionId });
  let reply: { text: string; blocks?: Block[] } | undefined;
  try {
    const handler = interactions.actions?.[request.actionId];
    if (!handler) {
      throw new DeskhandError('not_available_yet', `no handler for action ${request.actionId}`, {
        userMessage: 'That button does not do anything yet.',
      });
    }
    const outcome = await handler(request);
    if (outcome?.kind === 'reply')
      reply = { text: outcome.text, ...(outcome.blocks ? { blocks: outcome.blocks } : {}) };
    actionLogger.info({ code: 'ok' }, 'action handled');
  } catch (error) {
    const coded = toDeskhandError(error);
    actionLogger[coded.code === 'internal' ? 'error' : 'warn']({ err: error, code: coded.code }, 'action failed');
    reply = errorMessage(coded.code, coded.userMessage);
  }
  if (reply && request.channelId) {
    await messenger.postEphemeral({ channel: request.channelId, user: request.userId, ...reply });
  }
}

/** Runs a modal submission's quick part for the ack response; its `afterAck` part is tracked as running work. */
async function runView(
  request: ViewRequest,
  interactions: Partial<InteractionHandlers>,
  logger: Logger,
  track: <T>(promise: Promise<T>) => Promise<T>,
): Promise<{ response?: ViewAckResponse; settled: Promise<void> }> {
  const handler = interactions.views?.[request.callbackId];
  if (!handler) {
    logger.info({ code: 'not_available_yet', callbackId: request.callbackId }, 'view submission without a handler');
    return { response: messageView(defaultNotAvailable), settled: Promise.resolve() };
  }
  try {
    const result = await handler(request);
    const afterAck = result?.afterAck;
    const settled = afterAck
      ? track(
          afterAck().catch((error: unknown) => {
            const coded = toDeskhandError(error);
            logger.error({ err: error, code: coded.code, callbackId: request.callbackId }, 'view work failed');
          }),
        )
      : Promise.resolve();
    return { ...(result?.response ? { response: result.response } : {}), settled };
  } catch (error) {
    const coded = toDeskhandError(error);
    logger[coded.code === 'internal' ? 'error' : 'warn'](
      { err: error, code: coded.code, callbackId: request.callbackId },
      'view submission failed',
    );
    return { response: messageView(coded.userMessage), settled: Promise.resolve() };
  }
}

const defaultNotAvailable = 'That is not available yet.';

/** A modal that only says `text` (replaces the submitted one, so the submitter sees the outcome). */
export function messageView(text: string): ViewAckResponse {
  return {
    response_action: 'update',
    view: {
      type: 'modal',
      title: { type: 'plain_text', text: 'Deskhand' },
      close: { type: 'plain_text', text: 'Close' },
      blocks: [{ type: 'section', text: { type: 'plain_text', text } }],
    },
  };
}
