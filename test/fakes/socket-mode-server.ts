/**
 * A fake of Slack's Socket Mode endpoint — the WebSocket side; the Web API side (`apps.connections.open`) is
 * FakeSlackWebApi's, which hands out the URLs this server mints. It speaks Slack's wire format
 * (docs.slack.dev/apis/events-api/using-socket-mode), so Bolt's real SocketModeReceiver can run against it, and it
 * can fail the way a real connection does when a NAT or proxy forgets it: half-open.
 *
 * Usage:
 * ```ts
 * const socketMode = await FakeSocketModeServer.start({ serverPingIntervalMs: 500 });
 * slack.serveSocketMode(() => socketMode.issueUrl());      // apps.connections.open → {ok:true,url:'ws://127.0.0.1:…'}
 * // app configuration: SLACK_APP_TOKEN = slack.appToken, SLACK_API_URL = slack.url
 * const first = await socketMode.waitForConnection(1);     // the app connected and got `hello`
 * const id = socketMode.pushEvent(slackPayloads.appMention().payload); // an events_api envelope on the newest live one
 * await socketMode.waitForAck(id);                         // the app acked {envelope_id}
 * socketMode.goHalfOpen(first.index);                      // TCP stays up; nothing comes back any more
 * await socketMode.waitForConnection(2);                   // the app noticed and reconnected
 * await socketMode.close();
 * ```
 * Behaviour:
 * - Each URL (`/link/?ticket=…&app_id=…`) opens one connection: an unknown or used ticket is refused (HTTP 401 on
 *   the upgrade) and recorded in `refusedTickets`.
 * - On connect the server sends `hello` (`num_connections`, `debug_info`, `connection_info.app_id`), then pings
 *   the connection every `serverPingIntervalMs` as Slack does, and answers the client's pings with pongs.
 * - `pushEvent(payload)` sends `{envelope_id, type:'events_api', payload, accepts_response_payload:false,
 *   retry_attempt, retry_reason}`; every `{envelope_id, payload?}` the client sends back is recorded in `acks`.
 * - `goHalfOpen(index)`: the connection stays established but the server stops reading it (so it answers no ping
 *   and no close frame — the client can only time out) and stops pinging and pushing on it.
 * - `stopPinging(index)`: the server stops pinging that connection but still answers its pings.
 *
 * Why the `ws` package (a devDependency only for this file): Node ships a WebSocket client but no server, and
 * this fake must decide per connection whether a ping is answered and whether anything is read at all.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

export interface FakeSocketModeOptions {
  /** The app id in URLs and `hello` (default `A111`, as FakeSlackWebApi's). */
  appId?: string;
  /** How often the server pings each connection (default 5000 ms; 0: never). */
  serverPingIntervalMs?: number;
}

export interface SocketModeConnection {
  /** 1 for the first connection, 2 for the next, … */
  readonly index: number;
  /** `performance.now()` when the WebSocket was accepted (before `hello` was sent). */
  readonly openedAt: number;
  /** When `goHalfOpen` was called on it. */
  halfOpenAt: number | undefined;
  /** When its TCP connection closed (not seen while half-open: nothing is read then). */
  closedAt: number | undefined;
  /** The client's pings received (and answered unless half-open). */
  pingsReceived: number;
  /** The server's pings sent on it. */
  pingsSent: number;
}

export interface SocketModeAck {
  envelopeId: string;
  /** The connection (`index`) the ack came in on. */
  connection: number;
  payload: unknown;
  receivedAt: number;
}

interface LiveConnection {
  record: SocketModeConnection;
  ws: WebSocket;
  socket: Socket;
  pinger: NodeJS.Timeout | undefined;
}

export class FakeSocketModeServer {
  readonly appId: string;
  /** Every connection accepted, in order. */
  readonly connections: SocketModeConnection[] = [];
  /** Every ack received, in order. */
  readonly acks: SocketModeAck[] = [];
  /** Tickets refused on upgrade (unknown, or already used). */
  readonly refusedTickets: string[] = [];
  /** Envelopes pushed: envelope id → the connection it was sent on. */
  readonly pushed = new Map<string, number>();

  readonly #http: Server;
  readonly #wss = new WebSocketServer({ noServer: true, autoPong: false });
  readonly #pingIntervalMs: number;
  readonly #tickets = new Set<string>();
  readonly #live = new Map<number, LiveConnection>();
  #port = 0;
  #waiters: { predicate: () => boolean; resolve: () => void }[] = [];

  private constructor(options: FakeSocketModeOptions) {
    this.appId = options.appId ?? 'A111';
    this.#pingIntervalMs = options.serverPingIntervalMs ?? 5000;
    this.#http = createServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain' });
      response.end('Socket Mode only speaks WebSocket');
    });
    this.#http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#upgrade(request, socket, head),
    );
  }

  static async start(options: FakeSocketModeOptions = {}): Promise<FakeSocketModeServer> {
    const fake = new FakeSocketModeServer(options);
    await new Promise<void>((resolve) => fake.#http.listen(0, '127.0.0.1', resolve));
    fake.#port = (fake.#http.address() as AddressInfo).port;
    return fake;
  }

  /** A one-time WebSocket URL, as `apps.connections.open` returns (wss://wss-primary.slack.com/link/?ticket=…). */
  issueUrl(): string {
    const ticket = randomUUID();
    this.#tickets.add(ticket);
    return `ws://127.0.0.1:${this.#port}/link/?ticket=${ticket}&app_id=${this.appId}`;
  }

  /**
   * Sends an `events_api` envelope carrying `payload` (an `event_callback` body) on connection `index` (default:
   * the newest one not half-open) and returns its envelope id.
   */
  pushEvent(payload: Record<string, unknown>, options: { connection?: number; retryAttempt?: number } = {}): string {
    const live = this.#pushable(options.connection);
    const envelopeId = randomUUID();
    const retryAttempt = options.retryAttempt ?? 0;
    live.ws.send(
      JSON.stringify({
        envelope_id: envelopeId,
        type: 'events_api',
        payload,
        accepts_response_payload: false,
        retry_attempt: retryAttempt,
        retry_reason: retryAttempt > 0 ? 'timeout' : '',
      }),
    );
    this.pushed.set(envelopeId, live.record.index);
    return envelopeId;
  }

  /** The connection stays established, but nothing is read from it or sent on it any more. */
  goHalfOpen(index: number): void {
    const live = this.#require(index);
    live.record.halfOpenAt = performance.now();
    clearInterval(live.pinger);
    live.pinger = undefined;
    live.socket.pause();
  }

  /** The server stops pinging connection `index`; it still answers the client's pings. */
  stopPinging(index: number): void {
    const live = this.#require(index);
    clearInterval(live.pinger);
    live.pinger = undefined;
  }

  /** Resolves with connection number `count` once it is accepted; rejects after `timeoutMs`. */
  async waitForConnection(count: number, timeoutMs = 5000): Promise<SocketModeConnection> {
    await this.#waitFor(
      () => this.connections.length >= count,
      timeoutMs,
      () => {
        return `expected ${count} Socket Mode connection(s) within ${timeoutMs} ms, got ${this.connections.length}`;
      },
    );
    return this.connections[count - 1] as SocketModeConnection;
  }

  /** Resolves once the server has pinged connection `index` `count` times; rejects after `timeoutMs`. */
  async waitForServerPings(index: number, count: number, timeoutMs = 5000): Promise<void> {
    const sent = () => this.connections[index - 1]?.pingsSent ?? 0;
    await this.#waitFor(
      () => sent() >= count,
      timeoutMs,
      () => `${sent()} of ${count} pings sent in ${timeoutMs} ms`,
    );
  }

  /** Resolves with the ack of `envelopeId`; rejects after `timeoutMs`. */
  async waitForAck(envelopeId: string, timeoutMs = 5000): Promise<SocketModeAck> {
    const find = () => this.acks.find((ack) => ack.envelopeId === envelopeId);
    await this.#waitFor(
      () => find() !== undefined,
      timeoutMs,
      () => `no ack of ${envelopeId} within ${timeoutMs} ms`,
    );
    return find() as SocketModeAck;
  }

  /** Resolves when every connection that is not half-open has closed (the client's close handshake done). */
  async waitForClientsGone(timeoutMs = 5000): Promise<void> {
    const open = () => [...this.#live.values()].filter((live) => live.record.halfOpenAt === undefined).length;
    await this.#waitFor(
      () => open() === 0,
      timeoutMs,
      () => `${open()} connection(s) still open after ${timeoutMs} ms`,
    );
  }

  async close(): Promise<void> {
    for (const live of this.#live.values()) {
      clearInterval(live.pinger);
      live.socket.destroy();
    }
    this.#live.clear();
    this.#wss.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #upgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== '/link/' || !this.#tickets.delete(ticket)) {
      this.refusedTickets.push(ticket);
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, socket));
  }

  #accept(ws: WebSocket, socket: Socket): void {
    const record: SocketModeConnection = {
      index: this.connections.length + 1,
      openedAt: performance.now(),
      halfOpenAt: undefined,
      closedAt: undefined,
      pingsReceived: 0,
      pingsSent: 0,
    };
    const live: LiveConnection = { record, ws, socket, pinger: undefined };
    this.#live.set(record.index, live);
    ws.on('ping', (data: Buffer) => {
      record.pingsReceived += 1;
      if (record.halfOpenAt === undefined) ws.pong(data);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) this.#receive(record.index, data.toString());
    });
    ws.on('close', () => {
      record.closedAt = performance.now();
      clearInterval(live.pinger);
      this.#live.delete(record.index);
      this.#notify();
    });
    ws.on('error', () => {}); // a client that vanished mid-frame: the close event follows
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.#live.size,
        debug_info: {
          host: 'applink-fake-1',
          build_number: 1,
          approximate_connection_time: 18_060,
        },
        connection_info: { app_id: this.appId },
      }),
    );
    if (this.#pingIntervalMs > 0) {
      live.pinger = setInterval(() => {
        ws.ping(Buffer.from(`ping ${Date.now()}`));
        record.pingsSent += 1;
        this.#notify();
      }, this.#pingIntervalMs);
    }
    this.connections.push(record);
    this.#notify();
  }

  #receive(connection: number, text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const { envelope_id: envelopeId, payload } = message as { envelope_id?: unknown; payload?: unknown };
    if (typeof envelopeId !== 'string') return;
    this.acks.push({ envelopeId, connection, payload, receivedAt: performance.now() });
    this.#notify();
  }

  #pushable(index: number | undefined): LiveConnection {
    if (index !== undefined) return this.#require(index);
    const open = [...this.#live.values()].filter((live) => live.record.halfOpenAt === undefined);
    const newest = open.at(-1);
    if (!newest) throw new Error('no live Socket Mode connection to push on');
    return newest;
  }

  #require(index: number): LiveConnection {
    const live = this.#live.get(index);
    if (!live) throw new Error(`Socket Mode connection ${index} is not open`);
    return live;
  }

  async #waitFor(predicate: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new Error(describe()));
      }, timeoutMs);
      const entry = {
        predicate,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(entry);
    });
  }

  #notify(): void {
    const ready = this.#waiters.filter((waiter) => waiter.predicate());
    this.#waiters = this.#waiters.filter((waiter) => !ready.includes(waiter));
    for (const waiter of ready) waiter.resolve();
  }
}
