/**
 * A proxy in front of the fake OpenAI server that delivers streamed completions the way a real model does: one
 * server-sent event every `intervalMs` instead of all at once. The fake writes a whole answer within a millisecond,
 * so a Slack stream would open and close between two instants and no replica could ever be killed "while
 * streaming answers"; paced, an answer streams for a few seconds. Everything else is forwarded unchanged.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export class PacedModelStream {
  #server: Server;
  #target: URL;
  #intervalMs: number;
  #baseURL = '';

  private constructor(target: string, intervalMs: number) {
    this.#target = new URL(target);
    this.#intervalMs = intervalMs;
    this.#server = createServer((incoming, outgoing) => {
      void this.#forward(incoming, outgoing).catch(() => {
        if (!outgoing.headersSent) outgoing.writeHead(502).end();
        else outgoing.destroy();
      });
    });
  }

  /** Starts a proxy to `baseURL` (the fake's, ending in /v1) pacing stream events `intervalMs` apart. */
  static async start(baseURL: string, intervalMs: number): Promise<PacedModelStream> {
    const proxy = new PacedModelStream(baseURL, intervalMs);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.#baseURL = `http://127.0.0.1:${(proxy.#server.address() as AddressInfo).port}${proxy.#target.pathname}`;
    return proxy;
  }

  /** What the replicas' `OPENAI_BASE_URL` is set to. */
  get baseURL(): string {
    return this.#baseURL;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #forward(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const forwarded = httpRequest(
        {
          host: this.#target.hostname,
          port: this.#target.port,
          path: incoming.url,
          method: incoming.method,
          headers: { ...incoming.headers, host: this.#target.host },
        },
        resolve,
      );
      forwarded.on('error', reject);
      forwarded.end(Buffer.concat(chunks));
    });
    // A client that went away (its replica was killed) must not keep the paced copy running.
    outgoing.on('close', () => response.destroy());
    const streaming = String(response.headers['content-type'] ?? '').includes('text/event-stream');
    outgoing.writeHead(response.statusCode ?? 502, response.headers);
    if (!streaming) {
      response.pipe(outgoing);
      return;
    }
    outgoing.flushHeaders();
    let pending = '';
    for await (const chunk of response) {
      pending += (chunk as Buffer).toString('utf8');
      let end = pending.indexOf('\n\n');
      while (end >= 0) {
        const event = pending.slice(0, end + 2);
        pending = pending.slice(end + 2);
        if (outgoing.destroyed) return;
        outgoing.write(event);
        await sleep(this.#intervalMs);
        end = pending.indexOf('\n\n');
      }
    }
    outgoing.end(pending);
  }
}
