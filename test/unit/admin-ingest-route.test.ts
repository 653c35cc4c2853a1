/**
 * `POST /admin/ingest` (src/slack/admin-ingest-route.ts) on a real HTTP server with a scripted `ingest`: the token
 * check, the body bound, the concurrency bound, bad input naming the field, and each failure's status — with the
 * log line each refusal leaves.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeskhandError } from '../../src/errors.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { adminIngestRoute } from '../../src/slack/admin-ingest-route.ts';
import type { AdminIngestRequest, AdminIngestResult } from '../../src/work/admin-ingest.ts';
import { WorkInterruptedError } from '../../src/work/work-errors.ts';

const token = 'route-token-0123456789abcdef0123456789';
const done: AdminIngestResult = { kind: 'indexed', chunkCount: 2, embeddedChunks: 0, cachedChunks: 0 };
const servers: Server[] = [];

after(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A server with the route; `ingest` defaults to answering `done`. */
async function start(options: {
  ingest?: (request: AdminIngestRequest) => Promise<AdminIngestResult>;
  maxUploadBytes?: number;
  maxConcurrent?: number;
}) {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      callback();
    },
  });
  const received: AdminIngestRequest[] = [];
  const route = adminIngestRoute({
    token,
    ingest: async (request) => {
      received.push(request);
      return options.ingest ? options.ingest(request) : done;
    },
    maxUploadBytes: options.maxUploadBytes ?? 3_000,
    ...(options.maxConcurrent ? { maxConcurrent: options.maxConcurrent } : {}),
    logger: createLogger({ level: 'info', destination }),
  });
  const server = createServer(route);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/ingest`;
  return { url, logs, received };
}

const valid = {
  workspaceId: 'T0ROUTE',
  scope: 'workspace',
  source: '/docs/note.md',
  fileName: 'note.md',
  contentBase64: Buffer.from('# Note\n\nThe depot opens at 6:00.\n').toString('base64'),
};

async function post(url: string, body: unknown, authorization: string | null = `Bearer ${token}`) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  return { status: response.status, answer, retryAfter: response.headers.get('retry-after') };
}

describe('POST /admin/ingest', () => {
  test('hands a valid request to ingest and answers its result', async () => {
    const app = await start({});
    const { status, answer } = await post(app.url, valid);
    assert.equal(status, 200);
    assert.deepEqual(answer, done);
    assert.equal(app.received.length, 1);
    const [request] = app.received;
    assert.equal(new TextDecoder().decode(request?.bytes), '# Note\n\nThe depot opens at 6:00.\n');
    assert.deepEqual(
      { ...request, bytes: undefined, requestId: undefined },
      {
        workspaceId: 'T0ROUTE',
        scope: 'workspace',
        source: '/docs/note.md',
        fileName: 'note.md',
        bytes: undefined,
        requestId: undefined,
      },
    );
    assert.match(request?.requestId ?? '', /^admin-ingest-/);
  });

  test('a missing, wrong or differently sized token is 401, logged, and never reaches ingest', async () => {
    const app = await start({});
    for (const authorization of [null, `Bearer ${token.replace(/.$/, 'x')}`, 'Bearer x', `Basic ${token}`]) {
      const { status, answer } = await post(app.url, valid, authorization);
      assert.equal(status, 401, String(authorization));
      assert.deepEqual(answer, { error: 'not_authorised', message: 'A valid ADMIN_API_TOKEN bearer token is needed.' });
    }
    assert.equal(app.received.length, 0);
    assert.equal(app.logs.filter((line) => line.code === 'not_authorised').length, 4);
  });

  test('a body over the limit is 413 naming the limit, whether declared or streamed, and is not ingested', async () => {
    // maxUploadBytes 3,000 → base64 4,000 + 64 KiB of JSON.
    const app = await start({ maxUploadBytes: 3_000 });
    const limit = 4_000 + 64 * 1024;
    const declared = await post(app.url, { ...valid, contentBase64: 'A'.repeat(limit) });
    assert.equal(declared.status, 413);
    assert.deepEqual(declared.answer, { error: 'too_large', message: `The body is over ${limit} bytes.` });

    // Chunked (no content-length): cut off while streaming.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(app.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'transfer-encoding': 'chunked' },
      });
      request.on('response', (response) => {
        let body = '';
        response.on('data', (chunk) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      for (let sent = 0; sent <= limit; sent += 8_192) request.write('A'.repeat(8_192));
      request.end();
    });
    assert.equal(streamed.status, 413);
    assert.match(streamed.body, new RegExp(`over ${limit} bytes`));
    assert.equal(app.received.length, 0);
  });

  test('past the concurrency bound a request is 429 with retry-after; the slot frees when the first is done', async () => {
    let release: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const app = await start({
      maxConcurrent: 1,
      ingest: async () => {
        await blocked;
        return done;
      },
    });
    const first = post(app.url, valid);
    await sleep(50);
    const second = await post(app.url, valid);
    assert.equal(second.status, 429);
    assert.equal(second.retryAfter, '1');
    assert.deepEqual(second.answer, { error: 'busy', message: 'At most 1 documents at a time; retry shortly.' });
    release();
    assert.equal((await first).status, 200);
    assert.equal((await post(app.url, valid)).status, 200);
  });

  test('a client that disconnects mid-body frees its slot', async () => {
    const app = await start({ maxConcurrent: 1 });
    await new Promise<void>((resolve) => {
      const request = httpRequest(app.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-length': '1000' },
      });
      request.on('error', () => resolve());
      request.write('{"workspaceId":');
      setTimeout(() => request.destroy(), 50);
    });
    await sleep(100);
    const next = await post(app.url, valid);
    assert.equal(next.status, 200, JSON.stringify(next.answer));
  });

  test('bad JSON or a bad field is 400 naming the field, and logged', async () => {
    const app = await start({});
    const cases: [unknown, RegExp][] = [
      ['{not json', /not JSON/],
      ['[1]', /workspaceId/],
      ['"text"', /JSON object/],
      [{ ...valid, workspaceId: 'acme' }, /workspaceId must be/],
      [{ ...valid, scope: 'channel:general' }, /scope must be/],
      [{ ...valid, source: '' }, /source must be/],
      [{ ...valid, fileName: 'x'.repeat(256) }, /fileName must be/],
      [{ ...valid, contentBase64: 42 }, /contentBase64 must be/],
      [{ ...valid, remove: 'yes' }, /remove must be/],
    ];
    for (const [body, message] of cases) {
      const { status, answer } = await post(app.url, body);
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(answer.error, 'invalid_input');
      assert.match(String(answer.message), message);
    }
    assert.equal(app.received.length, 0);
    assert.equal(app.logs.filter((line) => line.code === 'invalid_input').length, cases.length);
  });

  test('a GET is 405', async () => {
    const app = await start({});
    const response = await fetch(app.url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST');
  });

  test('each failure of ingest gets its status: refused 422, busy 429 and interrupted 503 with retry-after, quota 502', async () => {
    const failures: [Error, number, string | null][] = [
      [new DeskhandError('unsupported_input', 'pdf encrypted', { userMessage: 'The PDF is encrypted.' }), 422, null],
      [new DeskhandError('input_too_large', 'big'), 413, null],
      [new DeskhandError('not_available_yet', 'slots', { retryable: true }), 429, '2'],
      [new DeskhandError('upstream_unavailable', 'embedder down', { retryable: true }), 503, '2'],
      // A work thread that died under the request: retrying helps, so the CLI must be told to retry.
      [new WorkInterruptedError('thread exited'), 503, '2'],
      // Retrying cannot help: the CLI must not spend its window on it.
      [new DeskhandError('upstream_quota_exhausted', 'quota'), 502, null],
      [new DeskhandError('deadline_exceeded', 'slow'), 504, null],
      [new Error('boom'), 500, null],
    ];
    let next = 0;
    const app = await start({
      ingest: async () => {
        throw (failures[next++] as (typeof failures)[number])[0];
      },
    });
    for (const [error, status, retryAfter] of failures) {
      const answer = await post(app.url, valid);
      assert.equal(answer.status, status, error.message);
      assert.equal(answer.retryAfter, retryAfter, error.message);
      assert.equal(typeof answer.answer.message, 'string');
    }
    const refused = await (async () => {
      next = 0;
      return post(app.url, valid);
    })();
    assert.deepEqual(refused.answer, { error: 'unsupported_input', message: 'The PDF is encrypted.' });
    assert.ok(app.logs.some((line) => line.code === 'internal' && line.level === 'error'));
  });
});
