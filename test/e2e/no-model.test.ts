/**
 * Deskhand with no model key, through the production composition (`node src/main.ts`, work in its worker
 * thread) against the fakes. `OPENAI_BASE_URL` points at a running fake OpenAI server so that "no request
 * reaches a model server" is checked, not assumed: it must receive zero requests while `/ask` answers from an
 * ingested Markdown document with a citation (marked as made without a model), `/ticket` makes a rule-based
 * card, a greeting gets help, `/budget` answers and `/agent` says it needs a model.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { ingestDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { SlackDriver, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const signingSecret = 'no-model-process-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;
const channel = 'C111';
const team = 'T111';
const document = [
  '# Loading dock',
  '',
  'Parcels for the warehouse arrive through the north gate.',
  '',
  '## Opening hours',
  '',
  'The loading dock in Bremen opens at 6:15 on weekdays for parcel returns. On Saturdays it stays closed.',
].join('\n');

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let dataDir: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-no-model-'));
  // Ingested before start, as `npm run ingest` would (the embedded index takes one writer): sparse-only, no key.
  const index = new EmbeddedVectorIndex({ directory: join(dataDir, 'index'), logger: createSilentLogger() });
  await index.ensureReady();
  const ingested = await ingestDocument(
    {
      workspaceId: team,
      scope: `channel:${channel}`,
      source: 'https://docs.example.com/loading-dock.md',
      fileName: 'loading-dock.md',
      bytes: new TextEncoder().encode(document),
    },
    { index, callScope: { workspaceId: team, channelId: 'ingestion' } },
  );
  assert.equal(ingested.kind, 'indexed');
  await index.close();
});

after(async () => {
  await slack.close();
  await openai.close();
  rmSync(dataDir, { recursive: true, force: true });
  const redis = new Redis();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

async function eventually<T>(find: () => T | undefined, what: string, output: () => string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms\n${output()}`);
    await sleep(50);
  }
}

/** Text and blocks of every call to `method`, as one searchable string each. */
function sent(method: string): string[] {
  return slack.callsTo(method).map((call) => JSON.stringify([call.params.text, call.params.blocks]));
}

describe('without a model key (node src/main.ts)', () => {
  test('answers, tickets, help, /budget and /agent work, and no request reaches the model server', async () => {
    const port = await freePort();
    const { OPENAI_API_KEY: _key, ...environment } = fakesEnvironment({
      port,
      slack,
      openai,
      signingSecret,
      keyPrefix,
      dataDir,
    });
    const { child, output } = startMain({ ...environment, OPENAI_BASE_URL: openai.baseURL });
    try {
      await waitUntilReady(port, { child, output }, 60_000);
      const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });
      assert.match(output(), /OPENAI_API_KEY is not set/);

      // /ask: the quoted passage with its citation, marked as made without a model.
      await driver.send(
        slackPayloads.slashCommand({ command: '/ask', text: 'When does the loading dock in Bremen open?', channel }),
      );
      const answer = await eventually(
        () => sent('chat.update').find((text) => text.includes('Answered without a language model')),
        'the /ask answer',
        output,
      );
      assert.match(answer, /opens at 6:15 on weekdays for parcel returns\..*\[1\]/);
      assert.match(answer, /\[1\] <https:\/\/docs\.example\.com\/loading-dock\.md\|Loading dock/);

      // /ticket: a rule-based card with the order id, saying it was made without the model.
      await driver.send(
        slackPayloads.slashCommand({
          command: '/ticket',
          text: 'Order #48213 never arrived, the customer needs it by Friday. dana.w@example.org',
          channel,
        }),
      );
      const card = await eventually(
        () => sent('chat.postMessage').find((text) => text.includes('48213')),
        'the ticket card',
        output,
      );
      assert.match(card, /Extracted without the model/);
      assert.match(card, /No language model is configured/);

      // A greeting that asks what Deskhand can do: help, with what works without a model.
      const hello = slack.addMessage({ channel, user: 'W222', text: '<@U0BOT> hello, what can you do?' });
      await driver.send(slackPayloads.appMention({ text: '<@U0BOT> hello, what can you do?', ts: hello.ts, channel }));
      const help = await eventually(
        () => slack.thread(channel, hello.ts).find((message) => message.ts !== hello.ts),
        'the help reply',
        output,
      );
      const helpShown = JSON.stringify(slack.callsTo('chat.postMessage').at(-1)?.params);
      assert.match(help.text, /\/ask <question>/);
      assert.match(helpShown, /No language model is configured/);
      assert.match(helpShown, /Example: `\/ticket/);

      // /budget answers from Redis; /agent says it needs a model and how to set one.
      await driver.send(slackPayloads.slashCommand({ command: '/budget', text: '', channel }));
      await driver.send(slackPayloads.slashCommand({ command: '/agent', text: 'summarise open tickets', channel }));
      await eventually(
        () => (slack.callsTo('chat.postEphemeral').length >= 2 ? true : undefined),
        '/budget and /agent replies',
        output,
      );
      const ephemerals = sent('chat.postEphemeral');
      assert.ok(
        ephemerals.some((text) => /Channel, today/.test(text)),
        ephemerals.join('\n'),
      );
      assert.ok(
        ephemerals.some((text) => /needs a language model/.test(text) && /OPENAI_BASE_URL/.test(text)),
        ephemerals.join('\n'),
      );

      assert.deepEqual(openai.calls, [], 'no request reached the model server');
      assert.doesNotMatch(output(), /model call refused/, 'no capability even tried the no-model gateway');
      slack.expectNoViolations();

      child.kill('SIGTERM');
      assert.equal(await exited(child), 0, output());
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
