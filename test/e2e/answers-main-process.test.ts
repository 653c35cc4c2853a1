/**
 * Document Q&A through the production composition (`node src/main.ts`, work in its worker thread, wired by
 * src/composition/build-work-side.ts) against the fakes: a file shared with a mention of Deskhand in one channel is downloaded
 * with the bot token, ingested into that channel's scope, answered from there with a streamed reply, and
 * invisible from another channel. The file is served by a local HTTP server standing in for files.slack.com.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { SlackDriver, type SlackRequest, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const signingSecret = 'answers-process-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;
const channel = 'C111';
const otherChannel = 'C999';
const team = 'T111';
const document = '# Loading dock\n\nThe loading dock in Bremen opens at 6:15 on weekdays for parcel returns.';

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let files: Server;
let filesUrl: string;
const downloads: { path: string; authorization: string | undefined }[] = [];
let dataDir: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  files = createServer((request, response) => {
    downloads.push({ path: request.url ?? '', authorization: request.headers.authorization });
    if (request.headers.authorization !== `Bearer ${slack.token}`) {
      response.writeHead(403).end('no token');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain' }).end(document);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-answers-process-'));
});

after(async () => {
  await slack.close();
  await openai.close();
  await new Promise<void>((resolve) => files.close(() => resolve()));
  rmSync(dataDir, { recursive: true, force: true });
  const redis = new Redis();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** Polls until `check` holds (the work runs in another process), up to `timeoutMs`. */
async function eventually(check: () => boolean, what: string, output: () => string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms\n${output()}`);
    await sleep(100);
  }
}

/** A signed `file_shared` event (the envelope of the file_share fixture, the event Slack documents). */
function fileSharedEvent(fileId: string, channelId: string): SlackRequest {
  const carrier = slackPayloads.fileShare({ channel: channelId, fileId });
  assert.equal(carrier.kind, 'event');
  const event = carrier.payload.event as { event_ts: string };
  return {
    kind: 'event',
    payload: {
      ...carrier.payload,
      event: {
        type: 'file_shared',
        file_id: fileId,
        user_id: 'W222',
        file: { id: fileId },
        channel_id: channelId,
        event_ts: event.event_ts,
      },
    },
  };
}

describe('document Q&A in the running app (node src/main.ts)', () => {
  test('a file shared with a mention in one channel is answered from there, streamed, and invisible elsewhere', async () => {
    const port = await freePort();
    const { child, output } = startMain({
      ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
      WORK_THREAD: 'true',
    });
    try {
      await waitUntilReady(port, { child, output }, 60_000);
      const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });

      // The share: Slack sends the mention, the file_share message and file_shared.
      const download = `${filesUrl}/files-pri/${team}-F0DOCK/download/loading-dock.md`;
      const file = {
        id: 'F0DOCK',
        name: 'loading-dock.md',
        title: 'loading-dock.md',
        mimetype: 'text/plain',
        size: document.length,
        mode: 'hosted',
        is_external: false,
        user: 'W222',
        url_private: download,
        url_private_download: download,
        permalink: `https://acme.slack.com/files/W222/F0DOCK/loading-dock.md`,
      };
      const shared = slack.addMessage({ channel, user: 'W222', text: '<@U0BOT> the dock schedule', files: [file] });
      slack.addFile({ ...file, shares: { public: { [channel]: [{ ts: shared.ts, reply_count: 0 }] } } });
      await driver.send(slackPayloads.appMention({ text: '<@U0BOT> the dock schedule', ts: shared.ts, channel }));
      await driver.send(
        slackPayloads.fileShare({ channel, ts: shared.ts, fileId: 'F0DOCK', text: '<@U0BOT> the dock schedule' }),
      );
      await driver.send(fileSharedEvent('F0DOCK', channel));
      const added = () => slack.thread(channel, shared.ts).slice(1);
      await eventually(
        () => added().some((reply) => /Added \*loading-dock\.md\*/.test(reply.text)),
        'ingestion',
        output,
      );
      assert.equal(added().length, 1, 'one reply: the progress message, updated to the result');
      assert.deepEqual(downloads, [
        { path: `/files-pri/${team}-F0DOCK/download/loading-dock.md`, authorization: `Bearer ${slack.token}` },
      ]);
      assert.equal(openai.chatCalls().length, 0, 'the mention was not classified or answered as well');

      // Asked in the channel: answered from the file, streamed into the thread.
      const question = '<@U0BOT> ask: When does the loading dock in Bremen open?';
      const asked = slack.addMessage({ channel, user: 'W222', text: question });
      openai.enqueueChat({ content: 'The loading dock opens at 6:15 on weekdays [1].' });
      await driver.send(slackPayloads.appMention({ text: question, ts: asked.ts, channel }));
      await eventually(() => slack.callsTo('chat.stopStream').length === 1, 'the streamed answer', output);
      const answer = slack.thread(channel, asked.ts).at(-1);
      assert.match(answer?.text ?? '', /The loading dock opens at 6:15 on weekdays \[1\]/);
      assert.match(JSON.stringify(answer?.blocks), /\[1\] <https:\/\/acme\.slack\.com\/files\/W222\/F0DOCK/);
      assert.equal(openai.chatCalls().length, 1);

      // Asked in another channel: nothing from the file, no model call.
      const elsewhere = slack.addMessage({ channel: otherChannel, user: 'W222', text: question });
      await driver.send(slackPayloads.appMention({ text: question, ts: elsewhere.ts, channel: otherChannel }));
      await eventually(() => slack.thread(otherChannel, elsewhere.ts).length > 1, 'the other channel’s reply', output);
      const other = slack.thread(otherChannel, elsewhere.ts).at(-1);
      assert.doesNotMatch(`${other?.text}${JSON.stringify(other?.blocks)}`, /6:15|loading-dock/);
      assert.match(JSON.stringify(other?.blocks), /no documents this channel can see/);
      assert.equal(openai.chatCalls().length, 1, 'no chat call for the other channel');
      slack.expectNoViolations();

      child.kill('SIGTERM');
      assert.equal(await exited(child), 0, output());
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
