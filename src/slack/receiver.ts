/**
 * The HTTP front door: Bolt's `HTTPReceiver` (signature verification, 5-minute staleness check, ack handling)
 * behind our own `node:http` server, which adds what Bolt lacks:
 * - a future-timestamp check: Bolt accepts timestamps in the future, so a request signed with a clock far ahead
 *   would stay replayable for longer than 5 minutes (docs/platform-facts.md, "Signatures");
 * - `GET /healthz`, `GET /readyz`, `GET /metrics`;
 * - request metrics, whose duration for `POST /slack/events` is the ack latency;
 * - a graceful stop: first `refuseNewRequests` (while work already accepted drains, every request but the GET routes
 *   is answered 503 with retry-after and `connection: close` — a delivery is not acknowledged, so Slack retries it and
 *   a load balancer can send the retry to another replica — and `/readyz` keeps answering, 503), then `stop`.
 *
 * The ack waits for the listeners (`processBeforeResponse: true`), because listeners store their work item in
 * Redis before returning (durable-work.ts): a 200 then means the work survives a process death. Verified in
 * @slack/bolt 5.1.0: `HTTPResponseAck.bind()` only stores the body when `processBeforeResponse` is set
 * (`storedResponse`), and `HTTPReceiver.requestListener` writes it with `buildContentResponse` after
 * `await this.app.processEvent(event)` resolves — i.e. after `App.processEvent` has run the global middleware
 * and awaited every listener (`Promise.allSettled`), including for Events API requests, which App acks before
 * the middleware. If processing rejects before any response was sent, the default `processEventErrorHandler`
 * answers 500 (no ack, so Slack retries). The 3001 ms no-ack timer is cleared by `ack()`, so it does not fire
 * while listeners run; listeners must stay fast (a Redis write), never model or index work.
 * A delivery that could not be claimed for de-duplication (`DeliveryUnclaimedError`, unclaimed-delivery.ts) is
 * answered 503 instead of its stored ack, so Slack retries it once the store is back.
 * Between the receiver and Bolt sits the inbound guard (inbound-guard.ts): malformed payloads get 400 here
 * (`processEventErrorHandler`), and what no listener acknowledged is acknowledged, so no signed request waits
 * for Bolt's 3 s "not acknowledged" 404.
 * Socket Mode has no such option (`SocketModeResponseAck` sends at once): see `deferSocketModeAcks`.
 * With OAuth distribution (`oauth` set) the inner receiver also serves Bolt's built-in `GET /slack/install` and
 * `GET /slack/oauth_redirect` (its `InstallProvider`: signed state in a cookie, `oauth.v2.access`, the
 * installation stored in the given store), and `installer` authorises each request from that store.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type App,
  HTTPModuleFunctions,
  HTTPReceiver,
  type InstallationStore,
  type Receiver,
  type ReceiverEvent,
} from '@slack/bolt';
import type { Logger } from '../observability/logger.ts';
import { counter, histogram, type Registry } from '../observability/metrics.ts';
import { isDeliveryUnclaimed } from '../work/work-errors.ts';
import { boltLogger } from './bolt-logger.ts';
import type { RouteHandler } from './health-routes.ts';
import {
  guardApp,
  type InboundGuardOptions,
  isMalformedRequestError,
  type StaleInteractionNotice,
} from './inbound-guard.ts';

export const eventsPath = '/slack/events';
export const installPath = '/slack/install';
export const oauthRedirectPath = '/slack/oauth_redirect';

/** Bolt's OAuth flow settings (HTTPReceiver's `clientId`, `clientSecret`, `stateSecret`, `installationStore`…). */
export interface ReceiverOAuthOptions {
  clientId: string;
  clientSecret: string;
  stateSecret: string;
  installationStore: InstallationStore;
  scopes: string[];
  redirectUri?: string;
  /** Options of Bolt's `InstallProvider` client (the OAuth exchange's `slackApiUrl`, timeout). */
  clientOptions?: { slackApiUrl: string; timeout: number };
}

export interface DeskhandReceiverOptions {
  signingSecret: string;
  maxFutureSkewSeconds: number;
  logger: Logger;
  registry: Registry;
  routes: Record<string, RouteHandler>;
  /** Routes that take any method and answer it themselves (`POST /admin/ingest`), kept off Bolt's path. */
  ownMethodRoutes?: Record<string, RouteHandler>;
  /** Clock in seconds, injectable for tests. */
  nowSeconds?: () => number;
  /** Tells a user that the button or shortcut they used no longer exists (see inbound-guard.ts). */
  notifyStale?: (notice: StaleInteractionNotice) => Promise<void>;
  /** OAuth distribution: serve the install and redirect paths and authorise from the installation store. */
  oauth?: ReceiverOAuthOptions;
}

export class DeskhandReceiver implements Receiver {
  readonly #inner: HTTPReceiver;
  readonly #options: DeskhandReceiverOptions;
  readonly #requests;
  readonly #duration;
  #server: Server | undefined;
  #refusing = false;

  constructor(options: DeskhandReceiverOptions) {
    this.#options = options;
    this.#inner = new HTTPReceiver({
      signingSecret: options.signingSecret,
      endpoints: [eventsPath],
      logger: boltLogger(options.logger),
      processBeforeResponse: true,
      signatureVerification: true,
      ...(options.oauth ? oauthReceiverOptions(options.oauth) : {}),
      processEventErrorHandler: async (args) => {
        if (isDeliveryUnclaimed(args.error) && !args.response.headersSent) {
          // Not acknowledged: any non-2xx makes Slack retry the event (X-Slack-No-Retry is not set).
          args.response.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' });
          args.response.end('delivery not accepted: the de-duplication store is unavailable, retry later');
          return true;
        }
        if (!isMalformedRequestError(args.error) || args.response.headersSent) {
          return HTTPModuleFunctions.defaultProcessEventErrorHandler(args);
        }
        args.response.writeHead(400, { 'content-type': 'text/plain' });
        args.response.end(`malformed request: ${args.error.reason}`);
        // True: the request is answered, so Bolt clears its no-ack timer instead of logging "not acknowledged".
        return true;
      },
    });
    this.#requests = counter(options.registry, 'deskhand_http_requests_total', 'HTTP requests by path and status', [
      'path',
      'status',
    ]);
    this.#duration = histogram(
      options.registry,
      'deskhand_http_request_duration_seconds',
      'HTTP request duration; for /slack/events this is the ack latency',
      ['path'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3, 5],
    );
  }

  /** Bolt's `InstallProvider` in OAuth mode (its `authorize` reads the installation store), else undefined. */
  get installer(): HTTPReceiver['installer'] {
    return this.#inner.installer;
  }

  init(app: App): void {
    const { logger, registry, notifyStale } = this.#options;
    this.#inner.init(guardApp(app, { logger, registry, ...(notifyStale ? { notifyStale } : {}) }));
  }

  /** Starts listening; `port` 0 picks a free port (see `port`). */
  async start(port: number, host = '0.0.0.0'): Promise<Server> {
    const server = createServer((request, response) => this.#handle(request, response));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** The port the server listens on (after `start`). */
  get port(): number | undefined {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? (address as AddressInfo).port : undefined;
  }

  /** First step of a graceful stop (see the header): new requests other than the GET routes are answered 503. */
  refuseNewRequests(): void {
    this.#refusing = true;
  }

  /**
   * Stops accepting connections and waits for in-flight requests, up to `timeoutMs`; then closes what is left.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const oauthPath = this.#options.oauth !== undefined && (path === installPath || path === oauthRedirectPath);
    const own = this.#options.ownMethodRoutes;
    const ownMethodRoute = own && Object.hasOwn(own, path) ? own[path] : undefined;
    const known = path === eventsPath || oauthPath || path in this.#options.routes || ownMethodRoute !== undefined;
    const label = known ? path : 'other';
    response.once('finish', () => {
      this.#requests.inc({ path: label, status: String(response.statusCode) });
      this.#duration.observe({ path: label }, (performance.now() - started) / 1000);
    });

    if (this.#refusing && !(request.method === 'GET' && path in this.#options.routes)) {
      request.resume();
      response.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5', connection: 'close' });
      response.end('shutting down: retry later');
      return;
    }
    if (ownMethodRoute) {
      ownMethodRoute(request, response);
      return;
    }
    const route = this.#options.routes[path];
    if (route && request.method === 'GET') {
      route(request, response);
      return;
    }
    if (path === eventsPath && request.method === 'POST') {
      const rejection = this.#futureTimestampRejection(request);
      if (rejection) {
        this.#options.logger.warn({ code: 'not_authorised', ...rejection }, 'rejected a request signed in the future');
        request.resume();
        response.writeHead(401, { 'content-type': 'text/plain' });
        response.end('request timestamp is too far in the future');
        return;
      }
    }
    this.#inner.requestListener(request, response);
  }

  #futureTimestampRejection(request: IncomingMessage): { timestamp: number; skewSeconds: number } | undefined {
    const header = request.headers['x-slack-request-timestamp'];
    const timestamp = Number(Array.isArray(header) ? header[0] : header);
    // Missing or malformed timestamps are Bolt's to reject (it answers 401 for them).
    if (!Number.isFinite(timestamp)) return undefined;
    const now = this.#options.nowSeconds?.() ?? Math.floor(Date.now() / 1000);
    const skewSeconds = timestamp - now;
    return skewSeconds > this.#options.maxFutureSkewSeconds ? { timestamp, skewSeconds } : undefined;
  }
}

function oauthReceiverOptions(oauth: ReceiverOAuthOptions) {
  return {
    clientId: oauth.clientId,
    clientSecret: oauth.clientSecret,
    stateSecret: oauth.stateSecret,
    installationStore: oauth.installationStore,
    scopes: oauth.scopes,
    ...(oauth.redirectUri ? { redirectUri: oauth.redirectUri } : {}),
    installerOptions: {
      installPath,
      redirectUriPath: oauthRedirectPath,
      // The install page redirects straight to Slack's authorize URL, with the state cookie set.
      directInstall: true,
      ...(oauth.clientOptions ? { clientOptions: oauth.clientOptions } : {}),
    },
  };
}

/**
 * Socket Mode's equivalent of `processBeforeResponse`: wraps a receiver (Bolt's `SocketModeReceiver`, which only
 * calls `app.processEvent(event)`) so that `ack()` records the response and the envelope is acknowledged after
 * `processEvent` resolves, i.e. after the listeners stored their work. If processing rejects, nothing is
 * acknowledged here; the receiver's error handler decides (Bolt's default does not ack, so Slack redelivers).
 */
export function deferSocketModeAcks<R extends Receiver>(receiver: R, guard?: InboundGuardOptions): R {
  const init = receiver.init.bind(receiver);
  receiver.init = (bolt: App) => {
    // With a guard, what no listener acknowledged is acknowledged too; a malformed envelope has no 400 to get
    // here, so it is acknowledged and dropped (the guard logged and counted it) rather than redelivered.
    const app = guard ? guardApp(bolt, guard) : bolt;
    const deferring = {
      processEvent: async (event: ReceiverEvent) => {
        let acked = false;
        let response: unknown;
        try {
          await app.processEvent({
            ...event,
            ack: async (body?: unknown) => {
              acked = true;
              response = body;
            },
          });
        } catch (error) {
          if (!guard || !isMalformedRequestError(error)) throw error;
          await event.ack();
          return;
        }
        if (acked) await event.ack(response as Parameters<ReceiverEvent['ack']>[0]);
      },
    };
    init(deferring as unknown as App);
  };
  return receiver;
}
