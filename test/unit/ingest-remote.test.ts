/**
 * `npm run ingest -- … --app-url` (scripts/ingest-remote.ts) against small HTTP servers standing in for the app:
 * an app that died makes the batch fail fast, file by file with the reason, instead of waiting the whole retry
 * window for every file; a dropped connection is retried; 401, 422 and 200 become their outcome lines.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ingestFilesRemotely, type RemoteIngestOptions } from '../../scripts/ingest-remote.ts';
import { freePort } from '../e2e/main-process-support.ts';

let directory: string;
let files: { file: string; shown: string }[];

before(() => {
  directory = mkdtempSync(join(tmpdir(), 'deskhand-ingest-remote-'));
  files = [0, 1, 2, 3].map((index) => {
    const file = join(directory, `note-${index}.md`);
    writeFileSync(file, `# Note ${index}\n\nThe depot ${index} opens at ${index + 6}:00.\n`);
    return { file, shown: `note-${index}.md` };
  });
});

after(() => rmSync(directory, { recursive: true, force: true }));

function options(appUrl: string, maxWaitMs: number): RemoteIngestOptions {
  return { appUrl, token: 'token', workspaceId: 'T0REMOTE', scope: 'workspace', remove: false, maxWaitMs };
}

async function serve(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('handing files to the app (ingest-remote)', () => {
  test('an app that stopped answering fails the first file after its window and each further one at once', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const lines: string[] = [];
    const started = performance.now();
    const result = await ingestFilesRemotely(files, options(url, 1_500), (line) => lines.push(line));
    const elapsed = performance.now() - started;
    assert.equal(lines.length, 4);
    for (const line of lines) {
      assert.match(
        line,
        new RegExp(`^failed +note-\\d\\.md: the app at ${url} did not answer \\(connection refused\\)$`),
      );
    }
    assert.deepEqual(result, { counts: { failed: 4 }, problems: 4 });
    // One window (1.5 s) for the first file, one attempt for each of the others; waiting every file's window: 6 s.
    assert.ok(elapsed >= 1_400 && elapsed < 3_000, `took ${Math.round(elapsed)} ms`);
  });

  test('a connection dropped before the answer (the app restarting) is retried and the file reported once done', async () => {
    let requests = 0;
    const server = await serve((request, response) => {
      requests += 1;
      request.resume();
      if (requests === 1) {
        request.socket.destroy();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ kind: 'indexed', chunkCount: 1, embeddedChunks: 0, cachedChunks: 0 }));
    });
    try {
      const lines: string[] = [];
      const result = await ingestFilesRemotely(files.slice(0, 2), options(urlOf(server), 5_000), (line) =>
        lines.push(line),
      );
      assert.deepEqual(result, { counts: { indexed: 2 }, problems: 0 });
      assert.match(lines[0] ?? '', /^indexed +note-0\.md \(1 chunk, 0 embedded, 0 from cache, by the app\)$/);
      assert.equal(requests, 3);
    } finally {
      await close(server);
    }
  });

  test('a refused token and a refused document are failed and rejected with the reason, not retried', async () => {
    let requests = 0;
    const server = await serve((request, response) => {
      requests += 1;
      request.resume();
      const refusedToken = request.headers.authorization !== 'Bearer token' || requests === 1;
      response.writeHead(refusedToken ? 401 : 422, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'x', message: refusedToken ? 'no' : 'The file is encrypted.' }));
    });
    try {
      const lines: string[] = [];
      const result = await ingestFilesRemotely(files.slice(0, 2), options(urlOf(server), 5_000), (line) =>
        lines.push(line),
      );
      assert.deepEqual(lines, [
        "failed    note-0.md: the app refused the token (check ADMIN_API_TOKEN matches the app's)",
        'rejected  note-1.md: The file is encrypted.',
      ]);
      assert.deepEqual(result, { counts: { failed: 1, rejected: 1 }, problems: 2 });
      assert.equal(requests, 2);
    } finally {
      await close(server);
    }
  });
});
