/**
 * The one router: every mention, thread follow-up, slash command, shortcut and ticket reaction goes through
 * `handle`, which picks a route (rules first, one classification call only for an ambiguous mention), fetches
 * the thread context once, calls the capability with the request's `Reply` (request-reply.ts) and delivers its
 * reply through that same object — or a short, specific reason when there is none. It never throws: every
 * request ends in an outcome that is logged with a stable code and counted. Routing itself never ends a request
 * in an error: a mention the rules cannot place gets help when no model is configured or when its
 * classification fails for any reason.
 */
import { DeskhandError, type OutcomeCode, toDeskhandError } from '../errors.ts';
import { isNoModelGateway } from '../llm/no-model-gateway.ts';
import type { EncodingName } from '../llm/tokenizer.ts';
import type { Logger } from '../observability/logger.ts';
import { counter, histogram, type Registry } from '../observability/metrics.ts';
import type {
  CapabilityHandlers,
  CapabilityRequest,
  ContextMessage,
  IncomingRequest,
  Route,
} from '../ports/capability.ts';
import type { LanguageModelGateway } from '../ports/language-model.ts';
import type { Messenger } from '../ports/messenger.ts';
import type { ReplyAnchors } from '../ports/reply-anchor.ts';
import { messageShortcuts } from '../slack-kit/ids.ts';
import { type ChannelAdmission, routeOfMentionDefault } from './channel-policy.ts';
import { classifyRoute } from './classify-route.ts';
import { RequestReply } from './request-reply.ts';
import { explicitMentionRoute, routeForCommand, routeMentionByRules, withoutRoutePrefix } from './route-rules.ts';
import { type BotIdentity, toContextMessages, trimThreadContext } from './thread-context.ts';
import type { ThreadKey, ThreadMemory } from './thread-memory.ts';

/** Routes whose conversations continue in a thread without a mention (help does not: it would make every chat noisy). */
const conversationalRoutes: ReadonlySet<Route> = new Set(['ticket', 'question', 'task']);

export interface RouterDependencies {
  gateway: LanguageModelGateway;
  messenger: Messenger;
  threads: ThreadMemory;
  handlers: CapabilityHandlers;
  logger: Logger;
  registry: Registry;
  classifierModel: string;
  threadContextTokens: number;
  encoding: EncodingName;
  /** Deskhand's own user and bot ids (from auth.test), to label its messages in thread context. */
  identity: () => BotIdentity;
  /**
   * Where Deskhand works (src/router/channel-control.ts): asked before anything else is done for a request
   * addressed to Deskhand; a refused request gets the explanation, ephemerally, and nothing else. Absent: every
   * channel, `auto` mentions.
   */
  channels?: { admit(request: IncomingRequest): Promise<ChannelAdmission> };
  /** Keeps each reply's first message with its durable work item (src/ports/reply-anchor.ts). Absent: not kept. */
  replyAnchors?: ReplyAnchors;
}

export type RouterOutcome =
  | { status: 'done'; route: Route; classified: boolean }
  | { status: 'failed'; route: Route | undefined; classified: boolean; code: OutcomeCode }
  /** A thread message in a thread Deskhand is not part of: not addressed to Deskhand, nothing to do. */
  | { status: 'ignored' };

export class Router {
  readonly #dependencies: RouterDependencies;
  readonly #requests;
  readonly #classifications;
  readonly #duration;

  constructor(dependencies: RouterDependencies) {
    this.#dependencies = dependencies;
    const { registry } = dependencies;
    this.#requests = counter(registry, 'deskhand_requests_total', 'Requests by origin, route and outcome code', [
      'origin',
      'route',
      'outcome',
    ]);
    this.#classifications = counter(registry, 'deskhand_route_classifications_total', 'Mention classifications', [
      'result',
    ]);
    this.#duration = histogram(
      registry,
      'deskhand_request_duration_seconds',
      'Time from routing to the reply being sent',
      ['origin', 'route'],
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    );
  }

  /** Handles one request to its end; resolves with what happened, never rejects. */
  async handle(request: IncomingRequest): Promise<RouterOutcome> {
    const started = performance.now();
    const logger = this.#dependencies.logger.child({
      requestId: request.requestId,
      origin: request.origin,
      workspaceId: request.workspaceId,
      channelId: request.channelId,
      userId: request.userId,
    });
    let route: Route | undefined;
    let classified = false;
    const reply = new RequestReply(request, this.#dependencies.messenger, this.#dependencies.replyAnchors);
    try {
      const thread = this.#threadKey(request);
      const threadRoute = thread ? await this.#dependencies.threads.recall(thread) : undefined;
      if (request.origin === 'thread_follow_up' && threadRoute === undefined) return { status: 'ignored' };

      const admission = await this.#dependencies.channels?.admit(request);
      if (admission && !admission.admitted) {
        throw new DeskhandError('channel_not_allowed', `Deskhand does not work in this channel (${admission.mode})`, {
          userMessage: admission.userMessage,
        });
      }
      const mentionDefault = admission?.admitted ? routeOfMentionDefault(admission.mentionDefault) : undefined;
      const decision = await this.#decide(request, threadRoute, mentionDefault);
      route = decision.route;
      classified = decision.classified;

      // `docs` (commands and saving a thread, which reads the whole thread itself) needs no thread context.
      const threadContext = thread && route !== 'docs' ? await this.#threadContext(request, thread.threadTs) : [];
      const capabilityRequest: CapabilityRequest = {
        ...request,
        text: decision.text,
        route,
        threadContext,
      };
      if (reply.threadTs !== undefined) capabilityRequest.replyThreadTs = reply.threadTs;

      const outcome = await this.#dependencies.handlers[route](capabilityRequest, reply);
      await reply.deliver(outcome);
      const postedThreadTs = reply.conversationThreadTs;
      if (postedThreadTs !== undefined && conversationalRoutes.has(route)) {
        await this.#dependencies.threads
          .remember({ workspaceId: request.workspaceId, channelId: request.channelId, threadTs: postedThreadTs }, route)
          .catch((error: unknown) => logger.warn({ err: error }, 'could not remember the thread'));
      }
      this.#requests.inc({ origin: request.origin, route, outcome: 'ok' });
      this.#duration.observe({ origin: request.origin, route }, (performance.now() - started) / 1000);
      logger.info({ route, classified, code: 'ok', durationMs: Math.round(performance.now() - started) }, 'handled');
      return { status: 'done', route, classified };
    } catch (error) {
      const coded = toDeskhandError(error);
      const routeLabel = route ?? 'unrouted';
      this.#requests.inc({ origin: request.origin, route: routeLabel, outcome: coded.code });
      this.#duration.observe({ origin: request.origin, route: routeLabel }, (performance.now() - started) / 1000);
      const durationMs = Math.round(performance.now() - started);
      const fields = { route: routeLabel, classified, code: coded.code, reason: coded.message, durationMs };
      // Expected outcomes (budget, not available, upstream down…) are values, not bugs: no stack trace for them.
      if (coded.code === 'internal') logger.error({ ...fields, err: error }, 'request ended without a result');
      else logger.warn(fields, 'request ended without a result');
      await reply
        .deliverFailure(coded)
        .catch((deliveryError: unknown) =>
          logger.error({ err: deliveryError, code: 'upstream_unavailable' }, 'could not tell the user why'),
        );
      return { status: 'failed', route, classified, code: coded.code };
    }
  }

  /**
   * The route: by command, by origin, by the thread's conversation, or for a mention by (in order) rules (only
   * explicit prefixes and greetings when the channel has a default meaning), the thread's conversation, the
   * channel's default meaning, and last the classifier.
   */
  async #decide(
    request: IncomingRequest,
    threadRoute: Route | undefined,
    mentionDefault: Route | undefined,
  ): Promise<{ route: Route; classified: boolean; text: string }> {
    switch (request.origin) {
      case 'command': {
        const route = routeForCommand(request.command ?? '', request.text);
        if (!route) {
          throw new DeskhandError('invalid_input', `unknown command ${request.command}`, {
            userMessage: `I do not know the command ${request.command ?? ''}.`,
          });
        }
        return { route, classified: false, text: request.text.trim() };
      }
      case 'shortcut': {
        const route = request.shortcut === messageShortcuts.saveThreadToDocs ? 'docs' : 'ticket';
        return { route, classified: false, text: request.text };
      }
      case 'reaction':
        return { route: 'ticket', classified: false, text: request.text };
      case 'thread_follow_up':
        // Only reached for threads Deskhand is part of (checked by the caller of #decide).
        return { route: threadRoute ?? 'help', classified: false, text: request.text.trim() };
      case 'mention': {
        // With a channel default only explicit prefixes and greetings are rules; keyword signals are not.
        const byRule =
          mentionDefault === undefined ? routeMentionByRules(request.text) : explicitMentionRoute(request.text);
        if (byRule !== undefined) return { route: byRule, classified: false, text: withoutRoutePrefix(request.text) };
        if (threadRoute !== undefined && conversationalRoutes.has(threadRoute)) {
          return { route: threadRoute, classified: false, text: request.text.trim() };
        }
        // A plain mention in a channel whose admins gave mentions a meaning: that capability, no classification.
        if (mentionDefault !== undefined)
          return { route: mentionDefault, classified: false, text: request.text.trim() };
        return { ...(await this.#classify(request)), text: request.text.trim() };
      }
    }
  }

  /**
   * One classification call for a mention the rules could not place. Never fails the request: without a model
   * no call is tried, and a failure of any kind (upstream down, over budget, a reply that is not a route, a
   * configuration problem) is logged with its code and answered with help, which says how to be explicit.
   */
  async #classify(request: IncomingRequest): Promise<{ route: Route; classified: boolean }> {
    const logger = this.#dependencies.logger;
    if (isNoModelGateway(this.#dependencies.gateway)) {
      this.#classifications.inc({ result: 'no_model' });
      logger.info(
        { requestId: request.requestId, code: 'configuration' },
        'no language model: a mention the rules cannot place gets help',
      );
      return { route: 'help', classified: false };
    }
    try {
      const route = await classifyRoute(
        this.#dependencies.gateway,
        request.text,
        {
          workspaceId: request.workspaceId,
          channelId: request.channelId,
          userId: request.userId,
          requestId: `${request.requestId}:route`,
        },
        { model: this.#dependencies.classifierModel },
      );
      this.#classifications.inc({ result: route });
      return { route, classified: true };
    } catch (error) {
      const coded = toDeskhandError(error);
      this.#classifications.inc({ result: coded.code });
      logger[coded.code === 'internal' ? 'error' : 'warn'](
        { requestId: request.requestId, code: coded.code, err: error },
        'classification failed; answering with help',
      );
      return { route: 'help', classified: false };
    }
  }

  async #threadContext(request: IncomingRequest, threadTs: string): Promise<ContextMessage[]> {
    const messages = await this.#dependencies.messenger.threadMessages(request.channelId, threadTs);
    const labelled = toContextMessages(messages, this.#dependencies.identity(), request.messageTs);
    return trimThreadContext(labelled, this.#dependencies.threadContextTokens, this.#dependencies.encoding);
  }

  #threadKey(request: IncomingRequest): ThreadKey | undefined {
    if (request.threadTs === undefined) return undefined;
    return { workspaceId: request.workspaceId, channelId: request.channelId, threadTs: request.threadTs };
  }
}
