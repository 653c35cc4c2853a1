/**
 * One tap per app replica between it and the fake Slack Web API: an HTTP proxy on 127.0.0.1 that forwards every
 * call unchanged and records which replica made it (method, channel, ts, thread_ts, when). The fake Slack keeps
 * the messages; the taps tell the fault test which replica started a stream or posted a reply, so it can name the
 * events a killed replica was streaming and see who finished them.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TappedCall {
  replica: string;
  method: string;
  channel?: string;
  /** `ts` sent (updates, stream appends and stops) or answered (posts, stream starts). */
  ts?: string;
  threadTs?: string;
  ok: boolean;
  /** Slack's `error` when the answer was `ok: false`. */
  error?: string;
  at: number;
}

function parameters(body: string, contentType: string | undefined): Record<string, unknown> {
  if (body === '') return {};
  if (contentType?.includes('application/json')) {
    try {
      return JSON.parse(body) as Record<string, unknown>;
    } catch {
      return {};
    }
  }
  return Object.fromEntries(new URLSearchParams(body));
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

export class SlackTap {
  readonly replica: string;
  readonly calls: TappedCall[];
  #server: Server;
  #target: URL;
  #url = '';

  private constructor(replica: string, target: string, calls: TappedCall[]) {
    this.replica = replica;
    this.calls = calls;
    this.#target = new URL(target);
    this.#server = createServer((incoming, outgoing) => {
      void this.#forward(incoming, outgoing).catch(() => {
        if (!outgoing.headersSent) outgoing.writeHead(502).end();
        else outgoing.destroy();
      });
    });
  }

  /** Starts a tap for `replica` in front of the fake Slack at `target` (its `url`); `calls` is shared by all taps. */
  static async start(replica: string, target: string, calls: TappedCall[]): Promise<SlackTap> {
    const tap = new SlackTap(replica, target, calls);
    await new Promise<void>((resolve) => tap.#server.listen(0, '127.0.0.1', resolve));
    tap.#url = `http://127.0.0.1:${(tap.#server.address() as AddressInfo).port}/api/`;
    return tap;
  }

  /** What the replica's `SLACK_API_URL` is set to. */
  get url(): string {
    return this.#url;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #forward(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const body = await readAll(incoming);
    const method = (incoming.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
    const sent = parameters(body.toString('utf8'), incoming.headers['content-type']);
    const answer = await new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
      (resolve, reject) => {
        const forwarded = httpRequest(
          {
            host: this.#target.hostname,
            port: this.#target.port,
            path: `${this.#target.pathname}${method}`,
            method: incoming.method,
            headers: { ...incoming.headers, host: this.#target.host },
          },
          (response) => {
            readAll(response).then(
              (answerBody) =>
                resolve({ status: response.statusCode ?? 502, headers: response.headers, body: answerBody }),
              reject,
            );
          },
        );
        forwarded.on('error', reject);
        forwarded.end(body);
      },
    );
    let answered: Record<string, unknown> = {};
    try {
      answered = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      // not JSON: recorded as not ok
    }
    const channel = text(sent.channel) ?? text(answered.channel);
    const ts = text(sent.ts) ?? text(answered.ts);
    const threadTs = text(sent.thread_ts);
    const error = text(answered.error);
    this.calls.push({
      replica: this.replica,
      method,
      ...(channel === undefined ? {} : { channel }),
      ...(ts === undefined ? {} : { ts }),
      ...(threadTs === undefined ? {} : { threadTs }),
      ok: answered.ok === true,
      ...(error === undefined ? {} : { error }),
      at: Date.now(),
    });
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    outgoing.writeHead(answer.status, { ...headers, 'content-length': String(answer.body.length) });
    outgoing.end(answer.body);
  }
}
