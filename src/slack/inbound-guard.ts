/**
 * Every signed request gets an answer within Slack's 3 s: the guard sits between the receiver and Bolt's
 * `App.processEvent` and
 * - refuses a malformed payload before Bolt reads it (`MalformedRequestError`, answered 400 by the receiver):
 *   nesting deeper than `maxDepth` (hashing it for de-duplication would overflow the stack), an id longer than
 *   `maxIdLength` (it would become a Redis key), an interaction without `user.id` or an event envelope without
 *   an `event` object (Bolt's `buildSource` throws on both, which used to answer 500);
 * - acknowledges `app_rate_limited` (Slack's notice that it is dropping our events: a warning and a metric);
 * - acknowledges whatever no listener acknowledged (an unknown event type or command, an interaction whose
 *   callback or action id Deskhand no longer has, `view_closed`, legacy `interactive_message` and `dialog_*`):
 *   an unknown command answers the user why in the ack; a stale button or shortcut gets a short ephemeral
 *   "no longer available" (through `notifyStale`, after the ack); an unknown modal is replaced by a view saying so.
 * Without it Bolt leaves such requests unacknowledged and its 3 s timer answers 404 (docs/platform-facts.md).
 */
import type { App, ReceiverEvent } from '@slack/bolt';
import type { Logger } from '../observability/logger.ts';
import { counter, type Registry } from '../observability/metrics.ts';
import { messageView } from '../work/work.ts';
import { tenantOf } from './tenancy.ts';

/** Deeper JSON than this is refused; real Slack payloads stay well under 20 levels. */
export const maxPayloadDepth = 64;
/** Longer ids than this are refused; Slack's ids are a few dozen characters. */
export const maxIdLength = 255;

export const staleActionText = 'This action is no longer available.';

export class MalformedRequestError extends Error {
  readonly code = 'invalid_input';
  readonly reason: string;
  constructor(reason: string) {
    super(`malformed Slack request: ${reason}`);
    this.reason = reason;
    this.name = 'MalformedRequestError';
  }
}

export function isMalformedRequestError(error: unknown): error is MalformedRequestError {
  return error instanceof MalformedRequestError;
}

/** Where a stale interaction happened, so the clicker can be told it no longer works. */
export interface StaleInteractionNotice {
  /** The tenant (tenancy.ts): with OAuth distribution, whose token tells the user. */
  workspaceId?: string;
  channelId: string;
  userId: string;
  text: string;
}

export interface InboundGuardOptions {
  logger: Logger;
  registry: Registry;
  /** Posts the "no longer available" ephemeral; failures are logged, never thrown into the ack. */
  notifyStale?: (notice: StaleInteractionNotice) => Promise<void>;
}

type Json = Record<string, unknown>;

const interactionTypes: ReadonlySet<string> = new Set([
  'block_actions',
  'block_suggestion',
  'interactive_message',
  'message_action',
  'shortcut',
  'view_submission',
  'view_closed',
  'dialog_submission',
  'dialog_cancellation',
  'dialog_suggestion',
]);

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIdKey(key: string): boolean {
  return key === 'id' || key === 'type' || key === 'command' || key.endsWith('_id');
}

/**
 * Why `body` must not reach Bolt, or undefined when it may. Walks the payload iteratively (no recursion, so a
 * hostile nesting depth cannot overflow the stack) and stops at the first problem.
 */
export function malformedBecause(body: unknown): string | undefined {
  if (!isObject(body)) return 'the body is not an object';
  const stack: { value: unknown; depth: number }[] = [{ value: body, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof value !== 'object' || value === null) continue;
    if (depth > maxPayloadDepth) return `nesting deeper than ${maxPayloadDepth} levels`;
    if (Array.isArray(value)) {
      for (const item of value)
        if (typeof item === 'object' && item !== null) stack.push({ value: item, depth: depth + 1 });
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === 'string') {
        if (item.length > maxIdLength && isIdKey(key)) return `${key} longer than ${maxIdLength} characters`;
      } else if (typeof item === 'object' && item !== null) {
        stack.push({ value: item, depth: depth + 1 });
      }
    }
  }
  const type = body.type;
  if (typeof type === 'string' && interactionTypes.has(type)) {
    if (!isObject(body.user) || typeof body.user.id !== 'string') return `${type} without user.id`;
    if ((type === 'view_submission' || type === 'view_closed') && !isObject(body.view)) return `${type} without view`;
    if (type === 'block_actions' && !Array.isArray(body.actions)) return 'block_actions without actions';
  }
  if (type === 'event_callback' && !isObject(body.event)) return 'event_callback without an event object';
  if ('command' in body && typeof body.command !== 'string') return 'command is not a string';
  return undefined;
}

/** Wraps `app` so that its `processEvent` is guarded as described in the header. */
export function guardApp(app: App, options: InboundGuardOptions): App {
  const { logger, registry } = options;
  const rateLimited = counter(
    registry,
    'deskhand_slack_app_rate_limited_total',
    'app_rate_limited notices from Slack (Slack is dropping events for this app)',
    ['team'],
  );
  const unhandled = counter(
    registry,
    'deskhand_unhandled_requests_total',
    'Signed Slack requests no listener acknowledged, acknowledged by the fallback',
    ['kind'],
  );
  const malformed = counter(
    registry,
    'deskhand_malformed_requests_total',
    'Signed Slack requests refused as malformed',
  );

  const processEvent = async (event: ReceiverEvent): Promise<void> => {
    const body = event.body as unknown;
    const reason = malformedBecause(body);
    if (reason) {
      malformed.inc();
      logger.warn({ code: 'invalid_input', reason }, 'refused a malformed Slack request');
      throw new MalformedRequestError(reason);
    }
    const payload = body as Json;
    if (payload.type === 'app_rate_limited') {
      const team = typeof payload.team_id === 'string' ? payload.team_id : 'unknown';
      rateLimited.inc({ team });
      logger.warn(
        { code: 'upstream_rate_limited', team, minuteRateLimited: payload.minute_rate_limited },
        'Slack is rate limiting our events (app_rate_limited)',
      );
      await event.ack();
      return;
    }
    let acked = false;
    const ack: ReceiverEvent['ack'] = async (response) => {
      acked = true;
      await event.ack(response);
    };
    await app.processEvent({ ...event, ack });
    if (acked) return;
    const fallback = fallbackFor(payload);
    unhandled.inc({ kind: fallback.kind });
    logger.info(
      { code: 'not_found', kind: fallback.kind, id: fallback.id },
      'acknowledged a request no listener handled',
    );
    await event.ack(fallback.response as Parameters<ReceiverEvent['ack']>[0]);
    if (fallback.notice && options.notifyStale) {
      const notice = fallback.notice;
      options.notifyStale(notice).catch((error: unknown) => {
        logger.warn({ err: error, code: 'upstream_unavailable' }, 'could not tell the user an action is stale');
      });
    }
  };
  // HTTPReceiver and SocketModeReceiver only ever call `processEvent` on the app they are given.
  return { processEvent } as unknown as App;
}

interface Fallback {
  kind: string;
  id: string | undefined;
  response?: unknown;
  notice?: StaleInteractionNotice;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** How to acknowledge a request nothing handled, by surface. */
function fallbackFor(body: Json): Fallback {
  if (typeof body.command === 'string') {
    return {
      kind: 'command',
      id: body.command,
      response: {
        response_type: 'ephemeral',
        text: `Deskhand has no ${body.command} command (it answers /ask, /ticket, /agent, /budget and /docs).`,
      },
    };
  }
  const type = str(body.type) ?? 'unknown';
  const user = body.user as Json | undefined;
  const userId = str(user?.id);
  const channelId =
    str((body.channel as Json | undefined)?.id) ?? str((body.container as Json | undefined)?.channel_id);
  const workspaceId = tenantOf(body);
  const notice =
    userId && channelId
      ? { notice: { channelId, userId, text: staleActionText, ...(workspaceId ? { workspaceId } : {}) } }
      : {};
  switch (type) {
    case 'block_actions': {
      const [action] = (body.actions as Json[] | undefined) ?? [];
      return { kind: type, id: str(action?.action_id), ...notice };
    }
    case 'interactive_message':
    case 'message_action':
    case 'shortcut':
      return { kind: type, id: str(body.callback_id), ...notice };
    case 'view_submission':
      return {
        kind: type,
        id: str((body.view as Json).callback_id),
        response: messageView('This form is no longer available. Close it and start again.'),
      };
    case 'block_suggestion':
      return { kind: type, id: str(body.action_id), response: { options: [] } };
    case 'event_callback':
      return { kind: `event:${str((body.event as Json).type) ?? 'unknown'}`, id: str(body.event_id) };
    default:
      // view_closed, dialog_*, unknown envelope types: an empty ack is all Slack expects.
      return { kind: type, id: str(body.callback_id) };
  }
}
