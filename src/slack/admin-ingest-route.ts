/**
 * `POST /admin/ingest`: hands one file to the work side's `adminIngest` (src/work/admin-ingest.ts), so that
 * `npm run ingest -- … --app-url` adds documents to the index the running app holds (the embedded index takes one
 * writer). Served by the app's HTTP server beside the health routes, never on the Slack ack path.
 *
 * Guarantees:
 * - Exists only when `ADMIN_API_TOKEN` is set; every request needs `Authorization: Bearer <token>`, compared in
 *   constant time (SHA-256 of both sides, `timingSafeEqual`); a wrong or missing token is 401 and logged, and
 *   nothing of the body is read.
 * - Bounded: a body over `maxBodyBytes` (the upload limit, base64-encoded, plus 64 KiB) is 413 without being
 *   buffered; at most `maxConcurrent` requests (default 2) are worked on at once in this process — more are 429
 *   with `retry-after`, as is a workspace whose ingestion cap (shared with Slack shares) is reached; a passing
 *   failure (the embedder unavailable, a work thread that died under the request) is 503 with `retry-after`, one
 *   retrying cannot mend (the model provider's quota) 502.
 * - Bad input (not JSON, a bad workspace id, scope, source or file name) is 400 with the reason; a refused
 *   document (too large, binary, encrypted…) is 422 with the reason shown to a Slack user; an answer of 200 means
 *   the document is durable in the index. Nothing here throws into the server.
 *
 * Body (JSON): `{ workspaceId, scope: "workspace" | "channel:C…", source, fileName, contentBase64, remove? }`.
 * Answer (JSON): `{ kind, chunkCount, embeddedChunks, cachedChunks }` or `{ error, message }`.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { DocumentScope } from '../ports/vector-index.ts';
import type { AdminIngestRequest, AdminIngestResult } from '../work/admin-ingest.ts';
import type { RouteHandler } from './health-routes.ts';

export const adminIngestPath = '/admin/ingest';

export interface AdminIngestRouteOptions {
  token: string;
  ingest: (request: AdminIngestRequest) => Promise<AdminIngestResult>;
  /** The largest document accepted (MAX_UPLOAD_BYTES); the body limit follows from it. */
  maxUploadBytes: number;
  maxConcurrent?: number;
  logger: Logger;
}

const workspacePattern = /^[TE][A-Z0-9]{1,30}$/;
const channelScopePattern = /^channel:[CGD][A-Z0-9]{1,30}$/;

export function adminIngestRoute(options: AdminIngestRouteOptions): RouteHandler {
  const expected = digest(options.token);
  const maxBodyBytes = Math.ceil(options.maxUploadBytes / 3) * 4 + 64 * 1024;
  const maxConcurrent = Math.max(1, options.maxConcurrent ?? 2);
  const { logger } = options;
  let running = 0;

  return (request, response) => {
    if (request.method !== 'POST') {
      request.resume();
      return send(response, 405, { error: 'method_not_allowed', message: 'Use POST.' }, { allow: 'POST' });
    }
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!timingSafeEqual(digest(presented), expected)) {
      logger.warn({ code: 'not_authorised', remote: request.socket.remoteAddress }, 'admin ingest: bad token');
      request.resume();
      return send(response, 401, {
        error: 'not_authorised',
        message: 'A valid ADMIN_API_TOKEN bearer token is needed.',
      });
    }
    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      request.resume();
      return send(response, 413, { error: 'too_large', message: `The body is over ${maxBodyBytes} bytes.` });
    }
    if (running >= maxConcurrent) {
      request.resume();
      const message = `At most ${maxConcurrent} documents at a time; retry shortly.`;
      return send(response, 429, { error: 'busy', message }, { 'retry-after': '1' });
    }
    running += 1;
    void handle(request, response, { ...options, maxBodyBytes }).finally(() => {
      running -= 1;
    });
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  options: AdminIngestRouteOptions & { maxBodyBytes: number },
): Promise<void> {
  const { logger } = options;
  const requestId = `admin-ingest-${randomUUID()}`;
  try {
    const body = await readBody(request, options.maxBodyBytes);
    if (body === undefined) {
      return send(response, 413, { error: 'too_large', message: `The body is over ${options.maxBodyBytes} bytes.` });
    }
    const parsed = parseRequest(body, requestId);
    if (typeof parsed === 'string') {
      logger.warn({ code: 'invalid_input', requestId, reason: parsed }, 'admin ingest: bad request');
      return send(response, 400, { error: 'invalid_input', message: parsed });
    }
    const result = await options.ingest(parsed);
    send(response, 200, result);
  } catch (error) {
    const code = isDeskhandError(error) ? error.code : 'internal';
    const message = isDeskhandError(error) ? error.userMessage : 'The document could not be ingested.';
    const status = statusOf(code, isDeskhandError(error) && error.retryable);
    if (status >= 500) logger.error({ err: error, code, requestId }, 'admin ingest failed');
    else logger.warn({ code, requestId, message }, 'admin ingest refused');
    send(response, status, { error: code, message }, status === 429 || status === 503 ? { 'retry-after': '2' } : {});
  }
}

/**
 * 429 and 503 (both with `retry-after`) mean "try again" and the CLI does; 502 is an upstream failure retrying
 * cannot mend (the provider's quota is exhausted), so the CLI reports it at once instead of spending its window.
 */
function statusOf(code: string, retryable: boolean): number {
  if (code === 'not_available_yet' || code === 'upstream_rate_limited') return 429;
  if (code === 'input_too_large') return 413;
  if (code === 'invalid_input' || code === 'unsupported_input') return 422;
  if (code === 'deadline_exceeded') return 504;
  if (code === 'upstream_quota_exhausted' || code === 'upstream_invalid_response') return 502;
  if (code.startsWith('upstream') || code === 'cancelled' || code === 'budget_unenforceable') return 503;
  // A retryable failure (a work thread that died under the request) is worth another attempt.
  return retryable ? 503 : 500;
}

/** The body, or undefined once it passes `limit` (the rest is drained, not kept). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    request.once('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    request.once('error', reject);
  });
}

/** The request, or why it is not one. */
function parseRequest(body: Buffer, requestId: string): AdminIngestRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'The body is not JSON.';
  }
  if (typeof value !== 'object' || value === null) return 'The body must be a JSON object.';
  const { workspaceId, scope, source, fileName, contentBase64, remove } = value as Record<string, unknown>;
  if (typeof workspaceId !== 'string' || !workspacePattern.test(workspaceId)) {
    return 'workspaceId must be a Slack workspace or enterprise id such as T0123ABCD.';
  }
  if (scope !== 'workspace' && (typeof scope !== 'string' || !channelScopePattern.test(scope))) {
    return 'scope must be "workspace" or "channel:<channel id>" such as channel:C0123ABCD.';
  }
  if (typeof source !== 'string' || source.length === 0 || source.length > 1_024) {
    return 'source must be a non-empty string of at most 1,024 characters.';
  }
  if (typeof fileName !== 'string' || fileName.length === 0 || fileName.length > 255) {
    return 'fileName must be a non-empty string of at most 255 characters.';
  }
  if (remove !== undefined && typeof remove !== 'boolean') return 'remove must be true or false.';
  if (!remove && typeof contentBase64 !== 'string') return 'contentBase64 must be the file, base64-encoded.';
  const bytes = remove ? new Uint8Array() : new Uint8Array(Buffer.from(contentBase64 as string, 'base64'));
  return {
    workspaceId,
    scope: scope as DocumentScope,
    source,
    fileName,
    bytes,
    ...(remove ? { remove } : {}),
    requestId,
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}
