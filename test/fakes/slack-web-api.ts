/**
 * A fake Slack Web API: a real HTTP server on 127.0.0.1 (port 0) that speaks Slack's wire format, keeps
 * channel/thread state, records every call and checks every request against the official Web API spec
 * (test/fixtures/slack/slack-api-specs/web-api/slack_web_openapi_v2.json.gz) and Slack's limits
 * (docs/platform-facts.md).
 *
 * Usage:
 * ```ts
 * const slack = await FakeSlackWebApi.start();              // token 'xoxb-test-token', bot U0BOT / B0BOT, team T111
 * // app configuration: SLACK_API_URL = slack.url (http://127.0.0.1:<port>/api/), SLACK_BOT_TOKEN = slack.token
 * const parent = slack.addMessage({ channel: 'C111', user: 'W222', text: '<@U0BOT> help' }); // seed a thread parent
 * // ... drive the app ...
 * await slack.waitForCalls('chat.postMessage', 1);          // resolves once a post was received (default 5 s)
 * slack.callsTo('chat.postMessage')[0]?.params.text;         // decoded params: blocks/view parsed, booleans real
 * slack.thread('C111', parent.ts);                           // parent + replies, oldest first
 * slack.expectNoViolations();                                // throws listing every spec/limit/policy violation
 * slack.inject('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 1 }, { channel: 'C1', times: 1 });
 * slack.inject('chat.postMessage', { kind: 'drop_response' });   // applied, then the connection is destroyed
 * slack.inject('chat.update', { kind: 'server_error', status: 500 });
 * slack.inject('conversations.replies', { kind: 'delay', ms: 200 });
 * slack.inject('views.open', { kind: 'platform_error', error: 'expired_trigger_id' });
 * await slack.close();
 * ```
 * Behaviour:
 * - Any `POST`/`GET /api/<method>`; form-encoded or JSON bodies; `Authorization: Bearer <token>` (or a `token`
 *   parameter). Missing token → `not_authed`, wrong token → `invalid_auth`.
 * - Spec or limit problems answer like Slack (`{ok:false, error:'invalid_arguments'|'invalid_blocks'|
 *   'msg_blocks_too_long'|'msg_too_long'|'no_text'|…}`) and are recorded in `violations`.
 * - Policy problems Slack itself would accept (`unfurl_links`/`unfurl_media` not false on chat.postMessage,
 *   blocks without a `text` fallback) succeed but are recorded as violations of kind `policy`.
 * - State errors (`message_not_found`, `thread_not_found`, `cant_update_message`, `already_reacted`, …) are
 *   normal answers, visible in `calls[i].response`, not violations.
 * - `views.open` with a trigger id minted by the driver (`<epoch ms>.…`) more than 3 s ago fails with
 *   `expired_trigger_id` (a `limit` violation), as Slack's triggers expire after 3 s.
 * - A reply to a `thread_ts` the fake never saw is accepted (the parent may come from a driver event): seed the
 *   parent with `addMessage({ ts })` when a test needs `conversations.replies` to return it.
 * - `conversations.info` answers a conversation object (the spec's `objs_conversation`) for any channel id:
 *   internal by default, a Slack Connect channel after `shareChannel(id)` (`is_shared`/`is_ext_shared` true; with
 *   `{ pending: true }` only `is_pending_ext_shared`; with `{ orgOnly: true }` shared within one Grid org), back
 *   to internal after `unshareChannel(id)`; an id that is not a channel id answers `channel_not_found`.
 * - `usergroups.users.list` returns the members set with `setUserGroup(id, members)`; an unknown group answers
 *   `no_such_subteam`.
 * - OAuth: `issueInstallCode({ teamId })` mints a one-time code as Slack's authorize page would; `oauth.v2.access`
 *   (client credentials, no token) exchanges it for a bot token distinct per team, which every later call may
 *   use; `auth.test` then answers for that token's team. `calls[i].token` shows which token each call used.
 * - Socket Mode: `serveSocketMode(() => url)` makes `apps.connections.open` answer `{ok:true, url}` with each URL the
 *   provider mints (test/fakes/socket-mode-server.ts `issueUrl`). Only the app-level token (`appToken`, xapp-…) may
 *   call it, and it may call nothing else: either way round Slack answers `not_allowed_token_type` (an `auth`
 *   violation here).
 * - Faults are matched by method and optionally by channel (`channel` or `channel_id` parameter), consumed
 *   `times` times (default 1, `Infinity` allowed), in the order injected. A faulted call is still recorded.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixturesDirectory } from '../support/fixtures.ts';
import { checkMessage, checkView, type LimitProblem } from './slack-limits.ts';
import { OpenApiValidator } from './spec-validator.ts';

export const slackWebApiSpecPath = `${fixturesDirectory}/slack/slack-api-specs/web-api/slack_web_openapi_v2.json.gz`;

export type FakeSlackFault =
  /** 429 with `Retry-After`; the call is NOT applied (as in Slack). */
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  /** An HTTP 5xx with a text body; the call is NOT applied. */
  | { kind: 'server_error'; status?: number }
  /** `{ok:false, error}` with HTTP 200; the call is NOT applied. */
  | { kind: 'platform_error'; error: string }
  /** Waits, then handles the call normally (a client timeout shorter than this leaves the outcome applied). */
  | { kind: 'delay'; ms: number }
  /** Applies the call, then destroys the connection without answering: the "lost response" case. */
  | { kind: 'drop_response'; afterMs?: number };

export interface FaultMatch {
  /** Only calls whose `channel` (or `channel_id`) parameter equals this. */
  channel?: string;
  /** How many matching calls the fault applies to (default 1). */
  times?: number;
}

export type ViolationKind = 'auth' | 'spec' | 'limit' | 'policy' | 'unknown_method';

export interface Violation {
  method: string;
  kind: ViolationKind;
  /** The Slack error code answered (for `policy`, the rule's name; the call succeeded). */
  error: string;
  detail: string;
  params: Record<string, unknown>;
}

export interface RecordedCall {
  /** Position in `calls`, from 0. */
  sequence: number;
  method: string;
  httpMethod: string;
  contentType: string;
  /** Parameters decoded: JSON fields (`blocks`, `view`, `attachments`, `metadata`) parsed, `true`/`false` real. */
  params: Record<string, unknown>;
  /** Wall-clock receive time (ms since epoch). */
  receivedAt: number;
  /** Monotonic receive time (`performance.now()`), for measuring gaps between calls. */
  receivedAtMonotonic: number;
  /** Fault applied to this call, if any. */
  fault?: FakeSlackFault['kind'];
  /** The token the call was made with (Authorization header or `token` parameter). */
  token?: string;
  /** HTTP status sent (0 when the response was dropped). */
  status: number;
  /** Body sent (or that would have been sent, for a dropped response). */
  response?: Record<string, unknown>;
}

export interface StoredMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks?: unknown[];
  user?: string;
  botId?: string;
  subtype?: string;
  files?: Record<string, unknown>[];
  edited?: { user: string; ts: string };
  /** Times chat.update changed it. */
  updateCount: number;
  streaming?: { startedAt: number; stopped: boolean };
  parameters: Record<string, unknown>;
}

export interface EphemeralMessage {
  channel: string;
  user: string;
  threadTs?: string;
  text: string;
  blocks?: unknown[];
  messageTs: string;
}

export interface StoredView {
  id: string;
  view: Record<string, unknown>;
  hash: string;
  triggerId?: string;
  userId?: string;
  externalId?: string;
}

export interface FakeSlackOptions {
  token?: string;
  botUserId?: string;
  botId?: string;
  teamId?: string;
  /** Clock for stream expiry and `edited.ts` (default `Date.now`). */
  now?: () => number;
  /** The app's OAuth client credentials `oauth.v2.access` accepts (default `fake-client-id` / `fake-client-secret`). */
  clientId?: string;
  clientSecret?: string;
  /** The app-level token `apps.connections.open` accepts (default `xapp-1-A111-1-test`). */
  appToken?: string;
}

/** A workspace (or org-wide) installation made through the fake's OAuth exchange. */
export interface FakeInstallation {
  teamId: string;
  teamName: string;
  enterpriseId?: string;
  isEnterpriseInstall: boolean;
  botToken: string;
  botUserId: string;
  botId: string;
  scope: string;
  installerUserId: string;
}

const jsonFields = new Set(['blocks', 'attachments', 'view', 'metadata', 'loading_messages', 'chunks', 'prompts']);
const streamLifetimeMs = 5 * 60 * 1000;
const triggerLifetimeMs = 3000;

/**
 * Methods newer than the 2021 spec, hand-described from docs.slack.dev (required parameters and types only);
 * their limits (markdown_text ≤ 12,000, recipients outside DMs) are checked in the handlers.
 */
const supplementSpec = new OpenApiValidator({
  swagger: '2.0',
  paths: {
    // docs.slack.dev/reference/methods/apps.connections.open (missing from the 2021 spec): no arguments; the
    // app-level token is the only credential.
    '/apps.connections.open': { post: { parameters: [] } },
    '/assistant.threads.setStatus': {
      post: {
        parameters: [
          { in: 'formData', name: 'channel_id', type: 'string', required: true },
          { in: 'formData', name: 'thread_ts', type: 'string', required: true },
          { in: 'formData', name: 'status', type: 'string', required: true },
          { in: 'formData', name: 'loading_messages', type: 'string' },
        ],
      },
    },
    // docs.slack.dev/reference/methods/assistant.threads.setSuggestedPrompts: channel_id and prompts required,
    // thread_ts and title optional; "up to four suggested prompts", each with a title and a message.
    '/assistant.threads.setSuggestedPrompts': {
      post: {
        parameters: [
          { in: 'formData', name: 'channel_id', type: 'string', required: true },
          { in: 'formData', name: 'prompts', type: 'string', required: true },
          { in: 'formData', name: 'thread_ts', type: 'string' },
          { in: 'formData', name: 'title', type: 'string' },
        ],
      },
    },
    // docs.slack.dev/reference/methods/assistant.threads.setTitle: channel_id, thread_ts and title required.
    '/assistant.threads.setTitle': {
      post: {
        parameters: [
          { in: 'formData', name: 'channel_id', type: 'string', required: true },
          { in: 'formData', name: 'thread_ts', type: 'string', required: true },
          { in: 'formData', name: 'title', type: 'string', required: true },
        ],
      },
    },
    '/chat.startStream': {
      post: {
        parameters: [
          { in: 'formData', name: 'channel', type: 'string', required: true },
          { in: 'formData', name: 'thread_ts', type: 'string', required: true },
          { in: 'formData', name: 'markdown_text', type: 'string' },
          { in: 'formData', name: 'recipient_user_id', type: 'string' },
          { in: 'formData', name: 'recipient_team_id', type: 'string' },
          { in: 'formData', name: 'chunks', type: 'string' },
        ],
      },
    },
    '/chat.appendStream': {
      post: {
        parameters: [
          { in: 'formData', name: 'channel', type: 'string', required: true },
          { in: 'formData', name: 'ts', type: 'string', required: true },
          { in: 'formData', name: 'markdown_text', type: 'string' },
          { in: 'formData', name: 'chunks', type: 'string' },
        ],
      },
    },
    '/chat.stopStream': {
      post: {
        parameters: [
          { in: 'formData', name: 'channel', type: 'string', required: true },
          { in: 'formData', name: 'ts', type: 'string', required: true },
          { in: 'formData', name: 'markdown_text', type: 'string' },
          { in: 'formData', name: 'blocks', type: 'string' },
          { in: 'formData', name: 'metadata', type: 'string' },
        ],
      },
    },
  },
});

let sharedSpec: OpenApiValidator | undefined;
function webApiSpec(): OpenApiValidator {
  sharedSpec ??= OpenApiValidator.fromFile(slackWebApiSpecPath);
  return sharedSpec;
}

function decodeValue(name: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (jsonFields.has(name)) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value;
}

/** Spec view of the parameters: JSON values as strings (the spec types them so), everything else as sent. */
function specView(raw: Record<string, unknown>): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name === 'token') continue;
    view[name] = typeof value === 'object' && value !== null ? JSON.stringify(value) : value;
  }
  return view;
}

function stringParam(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

/** `client_id`/`client_secret` from an HTTP Basic Authorization header (RFC 7617). */
function basicCredentials(authorization: string): Record<string, string> {
  const decoded = Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  return separator < 0 ? {} : { client_id: decoded.slice(0, separator), client_secret: decoded.slice(separator + 1) };
}

class SlackApiError extends Error {
  readonly error: string;
  constructor(error: string) {
    super(error);
    this.error = error;
  }
}

type Handler = (params: Record<string, unknown>, record: (problem: Violation) => void) => Record<string, unknown>;

export class FakeSlackWebApi {
  readonly token: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly teamId: string;
  readonly appToken: string;
  /** Every request received, in order. */
  readonly calls: RecordedCall[] = [];
  /** Every spec, limit, policy and auth violation, in order. */
  readonly violations: Violation[] = [];
  readonly ephemeralMessages: EphemeralMessage[] = [];
  readonly views = new Map<string, StoredView>();
  readonly reactions: { channel: string; timestamp: string; name: string }[] = [];
  readonly statuses: { channelId: string; threadTs: string; status: string }[] = [];
  readonly suggestedPrompts: { channelId: string; threadTs?: string; title?: string; prompts: unknown[] }[] = [];
  readonly threadTitles: { channelId: string; threadTs: string; title: string }[] = [];

  #server: Server;
  #url = '';
  #now: () => number;
  #messages = new Map<string, StoredMessage[]>();
  #users = new Map<string, Record<string, unknown>>();
  #userGroups = new Map<string, string[]>();
  #sharedChannels = new Map<string, 'external' | 'pending' | 'org'>();
  #files = new Map<string, Record<string, unknown>>();
  #channelMembers = new Map<string, string[]>();
  #faults: { method: string; fault: FakeSlackFault; channel?: string; remaining: number }[] = [];
  #tsCounter = 0;
  #viewCounter = 0;
  #waiters: { predicate: () => boolean; resolve: () => void }[] = [];
  #handlers: Record<string, Handler>;
  readonly #clientId: string;
  readonly #clientSecret: string;
  #installCodes = new Map<string, FakeInstallation>();
  #installationsByToken = new Map<string, FakeInstallation>();
  #tokenOfCall: string | undefined;
  #socketModeUrl: (() => string) | undefined;

  private constructor(options: FakeSlackOptions) {
    this.token = options.token ?? 'xoxb-test-token';
    this.botUserId = options.botUserId ?? 'U0BOT';
    this.botId = options.botId ?? 'B0BOT';
    this.teamId = options.teamId ?? 'T111';
    this.appToken = options.appToken ?? 'xapp-1-A111-1-test';
    this.#now = options.now ?? Date.now;
    this.#clientId = options.clientId ?? 'fake-client-id';
    this.#clientSecret = options.clientSecret ?? 'fake-client-secret';
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) {
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(`fake Slack crashed: ${String(error)}`);
        }
      });
    });
    this.#handlers = this.#createHandlers();
  }

  /** Starts a server on 127.0.0.1 with an ephemeral port. */
  static async start(options: FakeSlackOptions = {}): Promise<FakeSlackWebApi> {
    const fake = new FakeSlackWebApi(options);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    const { port } = fake.#server.address() as AddressInfo;
    fake.#url = `http://127.0.0.1:${port}/api/`;
    return fake;
  }

  /** Base URL to pass as `SLACK_API_URL` / WebClient `slackApiUrl`: `http://127.0.0.1:<port>/api/`. */
  get url(): string {
    return this.#url;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Turns Socket Mode on: `apps.connections.open` answers with the URL `mint` returns (one per call). */
  serveSocketMode(mint: () => string): void {
    this.#socketModeUrl = mint;
  }

  /** Calls of one method, in order. */
  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /** Resolves when at least `count` calls of `method` were received; rejects after `timeoutMs`. */
  async waitForCalls(method: string, count: number, timeoutMs = 5000): Promise<RecordedCall[]> {
    const done = () => this.callsTo(method).length >= count;
    if (!done()) {
      await new Promise<void>((resolve, reject) => {
        const waiter = { predicate: done, resolve };
        this.#waiters.push(waiter);
        setTimeout(() => {
          this.#waiters = this.#waiters.filter((entry) => entry !== waiter);
          reject(
            new Error(`expected ${count} ${method} call(s) within ${timeoutMs} ms, got ${this.callsTo(method).length}`),
          );
        }, timeoutMs).unref();
      });
    }
    return this.callsTo(method);
  }

  /** Throws an AssertionError listing every violation recorded so far. */
  expectNoViolations(): void {
    if (this.violations.length === 0) return;
    const lines = this.violations.map(
      (violation) => `- ${violation.method} [${violation.kind}] ${violation.error}: ${violation.detail}`,
    );
    assert.fail(`The fake Slack Web API recorded ${this.violations.length} violation(s):\n${lines.join('\n')}`);
  }

  /** Scripts a fault for the next matching call(s) of `method`. */
  inject(method: string, fault: FakeSlackFault, match: FaultMatch = {}): void {
    this.#faults.push({
      method,
      fault,
      remaining: match.times ?? 1,
      ...(match.channel === undefined ? {} : { channel: match.channel }),
    });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  /** Forgets calls, violations, messages, views, reactions, statuses and faults; seeded users and files stay. */
  reset(): void {
    this.calls.length = 0;
    this.violations.length = 0;
    this.ephemeralMessages.length = 0;
    this.reactions.length = 0;
    this.statuses.length = 0;
    this.suggestedPrompts.length = 0;
    this.threadTitles.length = 0;
    this.views.clear();
    this.#messages.clear();
    this.#faults = [];
  }

  /** Messages posted to a channel (thread replies included), in ts order. */
  messages(channel: string): StoredMessage[] {
    return [...(this.#messages.get(channel) ?? [])].sort((a, b) => compareTs(a.ts, b.ts));
  }

  /** A thread: the parent (when known) then its replies, oldest first. */
  thread(channel: string, threadTs: string): StoredMessage[] {
    return this.messages(channel).filter((message) => message.ts === threadTs || message.threadTs === threadTs);
  }

  /** A stored message by channel and ts. */
  message(channel: string, ts: string): StoredMessage | undefined {
    return this.#messages.get(channel)?.find((message) => message.ts === ts);
  }

  /** Seeds a message as if a person (default) or another bot wrote it. Returns the stored message. */
  addMessage(input: {
    channel: string;
    text: string;
    ts?: string;
    threadTs?: string;
    user?: string;
    botId?: string;
    subtype?: string;
    files?: Record<string, unknown>[];
  }): StoredMessage {
    const message: StoredMessage = {
      channel: input.channel,
      ts: input.ts ?? this.#nextTs(),
      text: input.text,
      updateCount: 0,
      parameters: {},
      ...(input.threadTs === undefined ? {} : { threadTs: input.threadTs }),
      ...(input.user === undefined && input.botId === undefined ? { user: 'W222' } : {}),
      ...(input.user === undefined ? {} : { user: input.user }),
      ...(input.botId === undefined ? {} : { botId: input.botId }),
      ...(input.subtype === undefined ? {} : { subtype: input.subtype }),
      ...(input.files === undefined ? {} : { files: input.files }),
    };
    this.#store(message);
    return message;
  }

  /** Adds (or replaces) a user returned by users.info. */
  addUser(user: { id: string } & Record<string, unknown>): void {
    this.#users.set(user.id, user);
  }

  /** Sets the members (user ids) usergroups.users.list returns for a user group id (`S…`). */
  setUserGroup(id: string, members: string[]): void {
    this.#userGroups.set(id, [...members]);
  }

  /** Makes `conversations.info` report the channel as shared with another organisation (see the header). */
  shareChannel(id: string, options: { pending?: boolean; orgOnly?: boolean } = {}): void {
    this.#sharedChannels.set(id, options.pending ? 'pending' : options.orgOnly ? 'org' : 'external');
  }

  unshareChannel(id: string): void {
    this.#sharedChannels.delete(id);
  }

  /**
   * What Slack's authorize page hands the app's redirect URL after the user approves: a one-time `code` that
   * `oauth.v2.access` exchanges for this installation (a new bot token, distinct per team).
   */
  issueInstallCode(input: {
    teamId: string;
    teamName?: string;
    enterpriseId?: string;
    isEnterpriseInstall?: boolean;
    botUserId?: string;
    botId?: string;
    scope?: string;
    installerUserId?: string;
  }): string {
    const code = `code-${input.teamId}-${this.#installCodes.size + this.#installationsByToken.size + 1}`;
    const installation: FakeInstallation = {
      teamId: input.teamId,
      teamName: input.teamName ?? `Workspace ${input.teamId}`,
      ...(input.enterpriseId === undefined ? {} : { enterpriseId: input.enterpriseId }),
      isEnterpriseInstall: input.isEnterpriseInstall ?? false,
      botToken: `xoxb-${input.teamId}-${Math.random().toString(36).slice(2, 12)}`,
      botUserId: input.botUserId ?? this.botUserId,
      botId: input.botId ?? this.botId,
      scope: input.scope ?? 'app_mentions:read,chat:write',
      installerUserId: input.installerUserId ?? 'W222',
    };
    this.#installCodes.set(code, installation);
    return code;
  }

  /** The installation whose bot token `oauth.v2.access` issued for a team (or org), if any. */
  installationOf(teamOrEnterpriseId: string): FakeInstallation | undefined {
    return [...this.#installationsByToken.values()].find((installation) =>
      installation.isEnterpriseInstall
        ? installation.enterpriseId === teamOrEnterpriseId
        : installation.teamId === teamOrEnterpriseId,
    );
  }

  /** Revokes an issued bot token (as uninstalling the app does): later calls with it answer `invalid_auth`. */
  revokeToken(token: string): void {
    this.#installationsByToken.delete(token);
  }

  /** Sets the members (user ids) conversations.members returns; a channel never set answers `channel_not_found`. */
  setChannelMembers(channel: string, members: string[]): void {
    this.#channelMembers.set(channel, [...members]);
  }

  /** Adds a file returned by files.info. */
  addFile(file: { id: string } & Record<string, unknown>): void {
    this.#files.set(file.id, file);
  }

  // ---------------------------------------------------------------------------------------------------------------

  #nextTs(): string {
    this.#tsCounter += 100;
    const seconds = 1_700_000_000 + Math.floor(this.#tsCounter / 1_000_000);
    return `${seconds}.${String(this.#tsCounter % 1_000_000).padStart(6, '0')}`;
  }

  #store(message: StoredMessage): void {
    const list = this.#messages.get(message.channel) ?? [];
    list.push(message);
    this.#messages.set(message.channel, list);
  }

  #findMessage(channel: string | undefined, ts: string | undefined): StoredMessage | undefined {
    if (channel === undefined || ts === undefined) return undefined;
    return this.message(channel, ts);
  }

  #takeFault(method: string, params: Record<string, unknown>): FakeSlackFault | undefined {
    const channel = stringParam(params, 'channel') ?? stringParam(params, 'channel_id');
    const entry = this.#faults.find(
      (candidate) =>
        candidate.method === method &&
        candidate.remaining > 0 &&
        (candidate.channel === undefined || candidate.channel === channel),
    );
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.#faults = this.#faults.filter((candidate) => candidate !== entry);
    return entry.fault;
  }

  async #readBody(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const rawBody = await this.#readBody(request);
    const contentType = String(request.headers['content-type'] ?? '');
    const method = url.pathname.startsWith('/api/') ? url.pathname.slice('/api/'.length) : '';

    const raw: Record<string, unknown> = Object.fromEntries(url.searchParams);
    let bodyProblem: string | undefined;
    if (rawBody.length > 0) {
      if (contentType.includes('application/json')) {
        try {
          const parsed: unknown = JSON.parse(rawBody);
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) Object.assign(raw, parsed);
          else bodyProblem = 'JSON body must be an object';
        } catch {
          bodyProblem = 'JSON body does not parse';
        }
      } else {
        Object.assign(raw, Object.fromEntries(new URLSearchParams(rawBody)));
      }
    }
    const params: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(raw)) {
      if (name !== 'token') params[name] = decodeValue(name, value);
    }

    const call: RecordedCall = {
      sequence: this.calls.length,
      method,
      httpMethod: request.method ?? 'GET',
      contentType,
      params,
      receivedAt: Date.now(),
      receivedAtMonotonic: performance.now(),
      status: 200,
    };
    this.calls.push(call);
    this.#notifyWaiters();

    const send = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      call.status = status;
      call.response = body;
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      response.end(JSON.stringify(body));
    };
    const violation = (kind: ViolationKind, error: string, detail: string) => {
      this.violations.push({ method, kind, error, detail, params });
    };

    const authorization = String(request.headers.authorization ?? '');
    const token = authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : raw.token;
    if (typeof token === 'string' && token !== '') call.token = token;
    // oauth.v2.access authenticates with the client credentials (parameters or HTTP Basic), never a token.
    const tokenless = method === 'oauth.v2.access';
    if (tokenless) {
      // Basic credentials are checked by the handler like the parameters.
      if (authorization.startsWith('Basic ')) Object.assign(params, basicCredentials(authorization));
    } else if (token === undefined || token === '') {
      violation('auth', 'not_authed', 'no Authorization: Bearer header and no token parameter');
      return send(200, { ok: false, error: 'not_authed' });
    } else if (token !== this.appToken && token !== this.token && !this.#installationsByToken.has(String(token))) {
      violation('auth', 'invalid_auth', 'the token is neither the one the fake was started with nor an issued one');
      return send(200, { ok: false, error: 'invalid_auth' });
    } else if ((token === this.appToken) !== (method === 'apps.connections.open')) {
      violation('auth', 'not_allowed_token_type', 'the app-level token opens Socket Mode connections and nothing else');
      return send(200, { ok: false, error: 'not_allowed_token_type' });
    }

    const handler = this.#handlers[method];
    if (!handler) {
      violation('unknown_method', 'unknown_method', `the fake does not serve '${method}'`);
      return send(200, { ok: false, error: 'unknown_method' });
    }

    const fault = this.#takeFault(method, params);
    if (fault) call.fault = fault.kind;
    if (fault?.kind === 'rate_limited') {
      return send(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(fault.retryAfterSeconds) });
    }
    if (fault?.kind === 'server_error') {
      call.status = fault.status ?? 500;
      response.writeHead(call.status, { 'content-type': 'text/plain' });
      response.end('Internal Server Error');
      return;
    }
    if (fault?.kind === 'platform_error') return send(200, { ok: false, error: fault.error });
    if (fault?.kind === 'delay') await sleep(fault.ms);

    let body: Record<string, unknown>;
    if (bodyProblem) {
      violation('spec', 'invalid_json', bodyProblem);
      body = { ok: false, error: 'invalid_json' };
    } else {
      this.#tokenOfCall = call.token;
      body = this.#apply(method, raw, params, handler, violation);
    }

    if (fault?.kind === 'drop_response') {
      call.status = 0;
      call.response = body;
      if (fault.afterMs) await sleep(fault.afterMs);
      request.socket.destroy();
      return;
    }
    send(200, body);
  }

  #apply(
    method: string,
    raw: Record<string, unknown>,
    params: Record<string, unknown>,
    handler: Handler,
    violation: (kind: ViolationKind, error: string, detail: string) => void,
  ): Record<string, unknown> {
    const path = `/${method}`;
    const spec = webApiSpec().hasPath(path) ? webApiSpec() : supplementSpec;
    if (spec.hasPath(path)) {
      const httpMethod = Object.keys((spec.document.paths as Record<string, Record<string, unknown>>)[path] ?? {})[0];
      const result = spec.validateParameters(path, httpMethod ?? 'post', specView(raw), {
        coerce: true,
        ignore: ['token'],
      });
      if (!result.valid) {
        violation('spec', 'invalid_arguments', result.summary);
        return {
          ok: false,
          error: 'invalid_arguments',
          response_metadata: { messages: result.issues.map((issue) => `[ERROR] ${issue.path} ${issue.message}`) },
        };
      }
    }
    try {
      return handler(params, (problem) => this.violations.push(problem));
    } catch (error) {
      if (error instanceof SlackApiError) return { ok: false, error: error.error };
      if (error instanceof LimitError) {
        violation('limit', error.problem.error, error.problem.detail);
        return {
          ok: false,
          error: error.problem.error,
          response_metadata: { messages: [`[ERROR] ${error.problem.detail}`] },
        };
      }
      throw error;
    }
  }

  #authTestOfStartToken(): Record<string, unknown> {
    return {
      ok: true,
      url: 'https://fake-workspace.slack.com/',
      team: 'Fake Workspace',
      user: 'deskhand',
      team_id: this.teamId,
      user_id: this.botUserId,
      bot_id: this.botId,
      is_enterprise_install: false,
    };
  }

  /**
   * `oauth.v2.access` as docs.slack.dev describes it: the client credentials must be the app's, the code one
   * issued and unused (`invalid_code` otherwise; codes are single use); the answer carries the bot token, its
   * scopes, the bot user, the team (null for an org-wide install), the enterprise and the installing user.
   */
  #exchangeInstallCode(params: Record<string, unknown>): Record<string, unknown> {
    if (params.client_id !== this.#clientId) throw new SlackApiError('invalid_client_id');
    if (params.client_secret !== this.#clientSecret) throw new SlackApiError('bad_client_secret');
    const code = stringParam(params, 'code') ?? '';
    const installation = this.#installCodes.get(code);
    if (!installation) throw new SlackApiError('invalid_code');
    this.#installCodes.delete(code);
    this.#installationsByToken.set(installation.botToken, installation);
    return {
      ok: true,
      access_token: installation.botToken,
      token_type: 'bot',
      scope: installation.scope,
      bot_user_id: installation.botUserId,
      app_id: 'A111',
      team: installation.isEnterpriseInstall ? null : { id: installation.teamId, name: installation.teamName },
      enterprise: installation.enterpriseId === undefined ? null : { id: installation.enterpriseId, name: 'Org' },
      is_enterprise_install: installation.isEnterpriseInstall,
      authed_user: { id: installation.installerUserId },
    };
  }

  #notifyWaiters(): void {
    const ready = this.#waiters.filter((waiter) => waiter.predicate());
    this.#waiters = this.#waiters.filter((waiter) => !ready.includes(waiter));
    for (const waiter of ready) waiter.resolve();
  }

  #serialize(message: StoredMessage): Record<string, unknown> {
    const replies = message.threadTs === undefined || message.threadTs === message.ts ? this.#replies(message) : [];
    const parent =
      message.threadTs && message.threadTs !== message.ts ? this.message(message.channel, message.threadTs) : undefined;
    return {
      type: 'message',
      ts: message.ts,
      text: message.text,
      ...(message.user === undefined ? {} : { user: message.user }),
      ...(message.botId === undefined ? {} : { bot_id: message.botId, app_id: 'A111' }),
      ...(message.subtype === undefined ? {} : { subtype: message.subtype }),
      ...(message.blocks === undefined ? {} : { blocks: message.blocks }),
      ...(message.files === undefined ? {} : { files: message.files }),
      ...(message.edited === undefined ? {} : { edited: message.edited }),
      ...(message.threadTs === undefined ? {} : { thread_ts: message.threadTs }),
      ...(parent?.user === undefined ? {} : { parent_user_id: parent.user }),
      ...(replies.length > 0
        ? {
            thread_ts: message.ts,
            reply_count: replies.length,
            reply_users: [...new Set(replies.map((reply) => reply.user ?? reply.botId))],
            latest_reply: replies.at(-1)?.ts,
          }
        : {}),
      team: this.teamId,
    };
  }

  #replies(parent: StoredMessage): StoredMessage[] {
    return this.messages(parent.channel).filter(
      (message) => message.threadTs === parent.ts && message.ts !== parent.ts,
    );
  }

  /**
   * A conversation object as `conversations.info` returns it: the spec's channel shape, or its IM shape for `D…`
   * ids (`objs_conversation` lists both), with the sharing set by `shareChannel`.
   */
  #conversation(id: string): Record<string, unknown> {
    const sharing = this.#sharedChannels.get(id);
    const flags = {
      is_shared: sharing === 'external' || sharing === 'org',
      is_ext_shared: sharing === 'external',
      is_org_shared: sharing === 'org',
    };
    if (id.startsWith('D')) {
      return { id, created: 1_700_000_000, is_im: true, user: 'U0HUMAN', priority: 0, is_archived: false, ...flags };
    }
    const name = id.toLowerCase();
    const text = { value: '', creator: '', last_set: 0 };
    return {
      id,
      name,
      name_normalized: name,
      created: 1_700_000_000,
      creator: 'U0CREATOR',
      is_channel: true,
      is_group: false,
      is_im: false,
      is_mpim: false,
      is_private: id.startsWith('G'),
      is_archived: false,
      is_general: false,
      is_member: true,
      ...flags,
      is_pending_ext_shared: sharing === 'pending',
      pending_shared: [],
      topic: text,
      purpose: text,
    };
  }

  #requireChannel(params: Record<string, unknown>, name = 'channel'): string {
    const channel = stringParam(params, name);
    if (channel === undefined || !/^[CDG][A-Z0-9]+$/.test(channel)) throw new SlackApiError('channel_not_found');
    return channel;
  }

  #checkPostPolicy(method: string, params: Record<string, unknown>, record: (problem: Violation) => void): void {
    if (params.blocks !== undefined && (typeof params.text !== 'string' || params.text.trim() === '')) {
      record({
        method,
        kind: 'policy',
        error: 'missing_text_fallback',
        detail: 'blocks were sent without a plain-text `text` fallback',
        params,
      });
    }
    if (method === 'chat.postMessage') {
      for (const flag of ['unfurl_links', 'unfurl_media']) {
        if (params[flag] !== false) {
          record({
            method,
            kind: 'policy',
            error: 'unfurl_not_disabled',
            detail: `${flag} must be false on posts`,
            params,
          });
        }
      }
    }
  }

  #paginate<T>(items: T[], params: Record<string, unknown>, defaultLimit: number) {
    const limit = Math.max(1, Math.min(1000, Number(params.limit ?? defaultLimit) || defaultLimit));
    const cursor = stringParam(params, 'cursor');
    const offset = cursor ? Number(Buffer.from(cursor, 'base64').toString('utf8').replace('offset:', '')) || 0 : 0;
    const page = items.slice(offset, offset + limit);
    const hasMore = offset + limit < items.length;
    return {
      page,
      hasMore,
      nextCursor: hasMore ? Buffer.from(`offset:${offset + limit}`).toString('base64') : '',
    };
  }

  #createHandlers(): Record<string, Handler> {
    const postMessage: Handler = (params, record) => {
      const channel = this.#requireChannel(params);
      checkLimits(checkMessage(params.text, params.blocks));
      this.#checkPostPolicy('chat.postMessage', params, record);
      const threadTs = stringParam(params, 'thread_ts');
      const message: StoredMessage = {
        channel,
        ts: this.#nextTs(),
        text: typeof params.text === 'string' ? params.text : '',
        user: this.botUserId,
        botId: this.botId,
        updateCount: 0,
        parameters: params,
        ...(Array.isArray(params.blocks) ? { blocks: params.blocks } : {}),
        ...(threadTs === undefined ? {} : { threadTs }),
      };
      this.#store(message);
      return { ok: true, channel, ts: message.ts, message: this.#serialize(message) };
    };

    return {
      'oauth.v2.access': (params) => this.#exchangeInstallCode(params),
      'apps.connections.open': () => {
        if (!this.#socketModeUrl) throw new Error('apps.connections.open called but serveSocketMode() was not');
        return { ok: true, url: this.#socketModeUrl() };
      },
      'auth.test': () => {
        const installation = this.#installationsByToken.get(this.#tokenOfCall ?? '');
        if (!installation) return this.#authTestOfStartToken();
        return {
          ok: true,
          url: `https://${installation.teamId.toLowerCase()}.slack.com/`,
          team: installation.teamName,
          user: 'deskhand',
          team_id: installation.teamId,
          user_id: installation.botUserId,
          bot_id: installation.botId,
          is_enterprise_install: installation.isEnterpriseInstall,
          ...(installation.enterpriseId === undefined ? {} : { enterprise_id: installation.enterpriseId }),
        };
      },
      'chat.postMessage': postMessage,
      'chat.update': (params, record) => {
        const channel = this.#requireChannel(params);
        const message = this.#findMessage(channel, stringParam(params, 'ts'));
        if (!message) throw new SlackApiError('message_not_found');
        if (message.botId !== this.botId) throw new SlackApiError('cant_update_message');
        checkLimits(checkMessage(params.text ?? message.text, params.blocks));
        this.#checkPostPolicy('chat.update', params, record);
        if (typeof params.text === 'string') message.text = params.text;
        if (Array.isArray(params.blocks)) message.blocks = params.blocks;
        message.updateCount += 1;
        message.edited = { user: this.botUserId, ts: `${Math.floor(this.#now() / 1000)}.000000` };
        return { ok: true, channel, ts: message.ts, text: message.text, message: this.#serialize(message) };
      },
      'chat.postEphemeral': (params, record) => {
        const channel = this.#requireChannel(params);
        const user = stringParam(params, 'user');
        if (user === undefined || !/^[UW][A-Z0-9]+$/.test(user)) throw new SlackApiError('user_not_found');
        checkLimits(checkMessage(params.text, params.blocks));
        this.#checkPostPolicy('chat.postEphemeral', params, record);
        const threadTs = stringParam(params, 'thread_ts');
        const messageTs = this.#nextTs();
        this.ephemeralMessages.push({
          channel,
          user,
          text: typeof params.text === 'string' ? params.text : '',
          messageTs,
          ...(Array.isArray(params.blocks) ? { blocks: params.blocks } : {}),
          ...(threadTs === undefined ? {} : { threadTs }),
        });
        return { ok: true, message_ts: messageTs };
      },
      'chat.getPermalink': (params) => {
        const channel = this.#requireChannel(params);
        const message = this.#findMessage(channel, stringParam(params, 'message_ts'));
        if (!message) throw new SlackApiError('message_not_found');
        const path = `https://fake-workspace.slack.com/archives/${channel}/p${message.ts.replace('.', '')}`;
        const thread =
          message.threadTs && message.threadTs !== message.ts ? `?thread_ts=${message.threadTs}&cid=${channel}` : '';
        return { ok: true, channel, permalink: `${path}${thread}` };
      },
      'conversations.replies': (params) => {
        const channel = this.#requireChannel(params);
        const ts = stringParam(params, 'ts');
        if (ts === undefined) throw new SlackApiError('thread_not_found');
        const target = this.message(channel, ts);
        const threadTs = target?.threadTs ?? ts;
        const messages = this.thread(channel, threadTs).filter((message) => inRange(message.ts, params));
        if (messages.length === 0) throw new SlackApiError('thread_not_found');
        const { page, hasMore, nextCursor } = this.#paginate(messages, params, 1000);
        return {
          ok: true,
          messages: page.map((message) => this.#serialize(message)),
          has_more: hasMore,
          response_metadata: { next_cursor: nextCursor },
        };
      },
      'conversations.history': (params) => {
        const channel = this.#requireChannel(params);
        const topLevel = this.messages(channel)
          .filter(
            (message) =>
              message.threadTs === undefined ||
              message.threadTs === message.ts ||
              message.subtype === 'thread_broadcast',
          )
          .filter((message) => inRange(message.ts, params))
          .reverse();
        const { page, hasMore, nextCursor } = this.#paginate(topLevel, params, 100);
        return {
          ok: true,
          messages: page.map((message) => this.#serialize(message)),
          has_more: hasMore,
          pin_count: 0,
          response_metadata: { next_cursor: nextCursor },
        };
      },
      'views.open': (params) => {
        const triggerId = stringParam(params, 'trigger_id') ?? '';
        const issuedAt = /^(\d{13})\./.exec(triggerId)?.[1];
        if (issuedAt !== undefined && this.#now() - Number(issuedAt) > triggerLifetimeMs) {
          throw new LimitError({
            error: 'expired_trigger_id',
            detail: `trigger_id used ${this.#now() - Number(issuedAt)} ms after the interaction (Slack allows 3 s)`,
          });
        }
        checkLimits(checkView(params.view));
        const view = params.view as Record<string, unknown>;
        const stored = this.#storeView(view, { triggerId: stringParam(params, 'trigger_id') });
        return { ok: true, view: stored };
      },
      'views.update': (params) => {
        const viewId = stringParam(params, 'view_id');
        const externalId = stringParam(params, 'external_id');
        if (viewId === undefined && externalId === undefined) throw new SlackApiError('invalid_arguments');
        checkLimits(checkView(params.view));
        const existing = [...this.views.values()].find(
          (candidate) => candidate.id === viewId || (externalId !== undefined && candidate.externalId === externalId),
        );
        if (!existing) throw new SlackApiError('not_found');
        const hash = stringParam(params, 'hash');
        if (hash !== undefined && hash !== existing.hash) throw new SlackApiError('hash_conflict');
        existing.view = params.view as Record<string, unknown>;
        existing.hash = `${Math.floor(this.#now() / 1000)}.${++this.#viewCounter}`;
        return { ok: true, view: this.#viewPayload(existing) };
      },
      'views.publish': (params) => {
        checkLimits(checkView(params.view));
        const userId = stringParam(params, 'user_id');
        if (userId === undefined) throw new SlackApiError('user_not_found');
        const existing = [...this.views.values()].find((candidate) => candidate.userId === userId);
        if (existing) {
          existing.view = params.view as Record<string, unknown>;
          return { ok: true, view: this.#viewPayload(existing) };
        }
        return { ok: true, view: this.#storeView(params.view as Record<string, unknown>, { userId }) };
      },
      'reactions.add': (params) => {
        const channel = this.#requireChannel(params);
        const timestamp = stringParam(params, 'timestamp') ?? '';
        const name = stringParam(params, 'name') ?? '';
        if (this.reactions.some((r) => r.channel === channel && r.timestamp === timestamp && r.name === name)) {
          throw new SlackApiError('already_reacted');
        }
        this.reactions.push({ channel, timestamp, name });
        return { ok: true };
      },
      'users.info': (params) => {
        const id = stringParam(params, 'user');
        if (id === undefined || !/^[UWB][A-Z0-9]+$/.test(id)) throw new SlackApiError('user_not_found');
        const user = this.#users.get(id) ?? {
          id,
          team_id: this.teamId,
          name: id.toLowerCase(),
          real_name: `User ${id}`,
          deleted: false,
          is_bot: id === this.botUserId,
          tz: 'UTC',
          profile: { display_name: id.toLowerCase(), real_name: `User ${id}` },
        };
        return { ok: true, user };
      },
      'conversations.info': (params) => {
        const channel = this.#requireChannel(params);
        if (!/^[CDG][A-Z0-9]+$/.test(channel)) throw new SlackApiError('channel_not_found');
        return { ok: true, channel: this.#conversation(channel) };
      },
      'usergroups.users.list': (params) => {
        const members = this.#userGroups.get(stringParam(params, 'usergroup') ?? '');
        if (!members) throw new SlackApiError('no_such_subteam');
        return { ok: true, users: [...members] };
      },
      'files.info': (params) => {
        const id = stringParam(params, 'file');
        const file = id === undefined ? undefined : this.#files.get(id);
        if (!file) throw new SlackApiError('file_not_found');
        return { ok: true, file, comments: [], response_metadata: { next_cursor: '' } };
      },
      'assistant.threads.setStatus': (params) => {
        const channelId = this.#requireChannel(params, 'channel_id');
        this.statuses.push({
          channelId,
          threadTs: stringParam(params, 'thread_ts') ?? '',
          status: stringParam(params, 'status') ?? '',
        });
        return { ok: true };
      },
      'assistant.threads.setSuggestedPrompts': (params) => {
        const channelId = this.#requireChannel(params, 'channel_id');
        checkLimits(checkSuggestedPrompts(params.prompts));
        const threadTs = stringParam(params, 'thread_ts');
        const title = stringParam(params, 'title');
        this.suggestedPrompts.push({
          channelId,
          prompts: params.prompts as unknown[],
          ...(threadTs === undefined ? {} : { threadTs }),
          ...(title === undefined ? {} : { title }),
        });
        return { ok: true };
      },
      'assistant.threads.setTitle': (params) => {
        const channelId = this.#requireChannel(params, 'channel_id');
        const title = stringParam(params, 'title') ?? '';
        if (title.trim() === '') throw new LimitError({ error: 'invalid_arguments', detail: 'title is empty' });
        this.threadTitles.push({ channelId, threadTs: stringParam(params, 'thread_ts') ?? '', title });
        return { ok: true };
      },
      'conversations.members': (params) => {
        const channel = this.#requireChannel(params);
        const members = this.#channelMembers.get(channel);
        if (!members) throw new SlackApiError('channel_not_found');
        const { page, nextCursor } = this.#paginate(members, params, 100);
        return { ok: true, members: page, response_metadata: { next_cursor: nextCursor } };
      },
      'chat.startStream': (params) => {
        const channel = this.#requireChannel(params);
        const markdown = stringParam(params, 'markdown_text') ?? '';
        checkMarkdown(markdown);
        if (
          !channel.startsWith('D') &&
          (params.recipient_user_id === undefined || params.recipient_team_id === undefined)
        ) {
          throw new LimitError({
            error: 'invalid_arguments',
            detail: 'recipient_user_id and recipient_team_id are required outside DMs',
          });
        }
        const message: StoredMessage = {
          channel,
          ts: this.#nextTs(),
          text: markdown,
          user: this.botUserId,
          botId: this.botId,
          updateCount: 0,
          parameters: params,
          threadTs: stringParam(params, 'thread_ts') ?? '',
          streaming: { startedAt: this.#now(), stopped: false },
        };
        this.#store(message);
        return { ok: true, channel, ts: message.ts };
      },
      'chat.appendStream': (params) => {
        const message = this.#streamingMessage(params);
        const markdown = stringParam(params, 'markdown_text') ?? '';
        checkMarkdown(message.text + markdown);
        message.text += markdown;
        return { ok: true, channel: message.channel, ts: message.ts };
      },
      'chat.stopStream': (params) => {
        const message = this.#streamingMessage(params);
        const markdown = stringParam(params, 'markdown_text') ?? '';
        checkMarkdown(message.text + markdown);
        message.text += markdown;
        if (Array.isArray(params.blocks)) message.blocks = params.blocks;
        if (message.streaming) message.streaming.stopped = true;
        return { ok: true, channel: message.channel, ts: message.ts, message: this.#serialize(message) };
      },
    };
  }

  #streamingMessage(params: Record<string, unknown>): StoredMessage {
    const channel = this.#requireChannel(params);
    const message = this.#findMessage(channel, stringParam(params, 'ts'));
    if (!message) throw new SlackApiError('message_not_found');
    const streaming = message.streaming;
    if (!streaming || streaming.stopped || this.#now() - streaming.startedAt > streamLifetimeMs) {
      throw new SlackApiError('message_not_in_streaming_state');
    }
    return message;
  }

  #storeView(view: Record<string, unknown>, where: { triggerId?: string | undefined; userId?: string }) {
    this.#viewCounter += 1;
    const stored: StoredView = {
      id: `V${String(this.#viewCounter).padStart(8, '0')}`,
      view,
      hash: `${Math.floor(this.#now() / 1000)}.${this.#viewCounter}`,
      ...(where.triggerId === undefined ? {} : { triggerId: where.triggerId }),
      ...(where.userId === undefined ? {} : { userId: where.userId }),
      ...(typeof view.external_id === 'string' && view.external_id !== '' ? { externalId: view.external_id } : {}),
    };
    this.views.set(stored.id, stored);
    return this.#viewPayload(stored);
  }

  #viewPayload(stored: StoredView): Record<string, unknown> {
    return {
      ...stored.view,
      id: stored.id,
      team_id: this.teamId,
      hash: stored.hash,
      app_id: 'A111',
      bot_id: this.botId,
      root_view_id: stored.id,
      state: { values: {} },
    };
  }
}

class LimitError extends Error {
  readonly problem: LimitProblem;
  constructor(problem: LimitProblem) {
    super(problem.detail);
    this.problem = problem;
  }
}

function checkLimits(problem: LimitProblem | undefined): void {
  if (problem) throw new LimitError(problem);
}

/** Slack's suggested prompts: a list of one to four `{ title, message }` objects with non-empty strings. */
function checkSuggestedPrompts(prompts: unknown): LimitProblem | undefined {
  if (!Array.isArray(prompts) || prompts.length === 0) {
    return { error: 'invalid_arguments', detail: 'prompts must be a non-empty JSON array' };
  }
  if (prompts.length > 4)
    return { error: 'invalid_arguments', detail: `${prompts.length} prompts (Slack shows up to 4)` };
  for (const prompt of prompts) {
    const entry = prompt as { title?: unknown; message?: unknown } | null;
    if (
      typeof entry?.title !== 'string' ||
      entry.title === '' ||
      typeof entry.message !== 'string' ||
      entry.message === ''
    ) {
      return { error: 'invalid_arguments', detail: 'every prompt needs a non-empty title and message' };
    }
  }
  return undefined;
}

function checkMarkdown(markdown: string): void {
  if (markdown.length > 12_000) {
    throw new LimitError({
      error: 'msg_too_long',
      detail: `markdown_text is ${markdown.length} characters (max 12000)`,
    });
  }
}

/** Orders Slack timestamps ("seconds.micros") numerically. */
export function compareTs(a: string, b: string): number {
  const [aSeconds = '0', aMicros = '0'] = a.split('.');
  const [bSeconds = '0', bMicros = '0'] = b.split('.');
  return Number(aSeconds) - Number(bSeconds) || Number(aMicros.padEnd(6, '0')) - Number(bMicros.padEnd(6, '0'));
}

function inRange(ts: string, params: Record<string, unknown>): boolean {
  const inclusive = params.inclusive === true || params.inclusive === '1';
  const oldest = stringParam(params, 'oldest');
  const latest = stringParam(params, 'latest');
  if (oldest !== undefined) {
    const order = compareTs(ts, oldest);
    if (order < 0 || (order === 0 && !inclusive)) return false;
  }
  if (latest !== undefined) {
    const order = compareTs(ts, latest);
    if (order > 0 || (order === 0 && !inclusive)) return false;
  }
  return true;
}
