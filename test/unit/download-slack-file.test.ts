import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { downloadSlackFile } from '../../src/composition/download-slack-file.ts';
import { DeskhandError } from '../../src/errors.ts';
import { createLogger } from '../../src/observability/logger.ts';

const token = 'xoxb-test-download';

interface Seen {
  host: string | undefined;
  path: string;
  authorization: string | undefined;
}

/**
 * One local server reached under two names: `127.0.0.1` stands for Slack (the host of SLACK_API_URL) and
 * `localhost` for a foreign host, so a request the allow-list should have stopped would really arrive.
 */
describe('downloadSlackFile: the bot token only goes to Slack', () => {
  let server: Server;
  let port: number;
  const seen: Seen[] = [];
  let slack: string;
  let foreign: string;
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ destination: { write: (line: string) => logs.push(JSON.parse(line)) } });

  const handle = (request: IncomingMessage, response: import('node:http').ServerResponse) => {
    const path = request.url ?? '';
    seen.push({ host: request.headers.host, path, authorization: request.headers.authorization });
    if (path === '/file') {
      response.end('# Returns\n');
    } else if (path === '/redirect-foreign') {
      response.writeHead(302, { location: `${foreign}/stolen` }).end();
    } else if (path === '/redirect-within') {
      response.writeHead(302, { location: '/file' }).end();
    } else if (path === '/redirect-loop') {
      response.writeHead(307, { location: '/redirect-loop' }).end();
    } else if (path === '/large') {
      response.write(new Uint8Array(600 * 1024));
      response.end(new Uint8Array(600 * 1024));
    } else {
      response.writeHead(404).end();
    }
  };

  before(async () => {
    server = createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    slack = `http://127.0.0.1:${port}`;
    foreign = `http://localhost:${port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    seen.length = 0;
    logs.length = 0;
  });

  const options = (maxBytes = 1024 * 1024) => ({ botToken: token, apiUrl: `${slack}/api/`, maxBytes, logger });

  async function refused(promise: Promise<unknown>): Promise<DeskhandError> {
    const error = await promise.then(
      () => assert.fail('the download should have been refused'),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof DeskhandError, String(error));
    return error;
  }

  test('downloads from the host of SLACK_API_URL with the token', async () => {
    const bytes = await downloadSlackFile(`${slack}/file`, options());
    assert.equal(new TextDecoder().decode(bytes), '# Returns\n');
    assert.deepEqual(seen, [{ host: `127.0.0.1:${port}`, path: '/file', authorization: `Bearer ${token}` }]);
  });

  test('a foreign host is refused before any request reaches it, and the refusal is logged with the host', async () => {
    const error = await refused(downloadSlackFile(`${foreign}/file`, options()));
    assert.equal(error.code, 'unsupported_input');
    assert.equal(error.userMessage, 'I can only download files from Slack.');
    assert.deepEqual(seen, [], 'nothing reached the foreign host');
    const line = logs.find((entry) => entry.reason === 'download_host_refused');
    assert.equal(line?.host, `localhost:${port}`);
    assert.equal(line?.code, 'unsupported_input');
  });

  test('a redirect to a foreign host is not followed and the token is not sent there', async () => {
    const error = await refused(downloadSlackFile(`${slack}/redirect-foreign`, options()));
    assert.equal(error.userMessage, 'I can only download files from Slack.');
    assert.deepEqual(
      seen.map((request) => request.path),
      ['/redirect-foreign'],
      'only the Slack URL was requested',
    );
    assert.ok(!seen.some((request) => request.host?.startsWith('localhost')));
    assert.equal(logs.find((entry) => entry.reason === 'download_host_refused')?.redirects, 1);
  });

  test('a redirect within Slack’s hosts is followed, with the token', async () => {
    const bytes = await downloadSlackFile(`${slack}/redirect-within`, options());
    assert.equal(new TextDecoder().decode(bytes), '# Returns\n');
    assert.deepEqual(seen, [
      { host: `127.0.0.1:${port}`, path: '/redirect-within', authorization: `Bearer ${token}` },
      { host: `127.0.0.1:${port}`, path: '/file', authorization: `Bearer ${token}` },
    ]);
  });

  test('redirects are followed a bounded number of times', async () => {
    const error = await refused(downloadSlackFile(`${slack}/redirect-loop`, { ...options(), maxRedirects: 3 }));
    assert.equal(error.code, 'upstream_unavailable');
    assert.match(error.userMessage, /more than 3 times/);
    assert.equal(seen.length, 4, 'the first request and three redirects');
  });

  test('plain http to a non-loopback host is refused, even when it is SLACK_API_URL’s host or files.slack.com', async () => {
    for (const [url, apiUrl] of [
      ['http://files.slack.com/files-pri/T1-F1/a.md', 'https://slack.com/api/'],
      ['http://slack.example.test/files/a.md', 'http://slack.example.test/api/'],
    ] as const) {
      const error = await refused(downloadSlackFile(url, { ...options(), apiUrl }));
      assert.equal(error.code, 'unsupported_input', url);
      assert.equal(error.userMessage, 'I can only download files from Slack.');
      assert.match(error.message, /https only/);
    }
    for (const url of ['file:///etc/passwd', 'data:text/plain,hello', 'https://files.slack.com.evil.test/a.md']) {
      const error = await refused(downloadSlackFile(url, options()));
      assert.equal(error.code, 'unsupported_input', url);
    }
  });

  test('the size limit still applies while the file streams', async () => {
    const error = await refused(downloadSlackFile(`${slack}/large`, options(1024 * 1024)));
    assert.equal(error.code, 'input_too_large');
    assert.equal(error.userMessage, 'That file is larger than the 1 MB limit.');
  });
});
