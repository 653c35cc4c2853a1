/**
 * Redaction before models through the production composition (`node src/main.ts`, work in its worker thread) with
 * `REDACT=emails,phones,cards` (issue 16, item 5). A shared document with a support address is ingested, then a
 * customer's question and a `/ticket` carry an email, a phone number, a card number and an API key:
 * - no recorded model request (embeddings of the document and of the question, the answer, the ticket extraction)
 *   holds any of those values, in the raw bytes, grouped or not;
 * - the answer Slack shows has the email and phone restored and the card as its last four digits, never the key;
 * - the ticket card shows the customer's email as written (the model saw a placeholder; grounding checked the
 *   restored value against the original text);
 * - `GET /metrics` counts the redactions by kind.
 * The fake model answers from the request: it repeats the placeholders it was sent, so a restored value in Slack
 * proves the round trip rather than a scripted string.
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
import { type FakeChatScript, FakeOpenAIServer } from '../fakes/openai-server.ts';
import { SlackDriver, type SlackRequest, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const signingSecret = 'redaction-process-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;
const channel = 'C111';
const team = 'T111';
const supportEmail = 'refunds@example.com';
const supportPhone = '+44 20 7946 0000';
// Shares enough words with the question to pass the answers' relevance gate (term coverage 0.53 ≥ 0.4).
const document =
  '# Refunds\n\nRefunds are paid within 5 business days to the card or bank account used for the order. Card ' +
  `refunds can take 10 more business days. Questions: write to ${supportEmail} or phone ${supportPhone}.`;
const email = 'dana.lee@example.com';
const phone = '+44 20 7946 0958';
const card = '4111 1111 1111 1111';
const apiKey = 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z';
const customerText = `I am ${email}, phone ${phone}, card ${card}, key ${apiKey}.`;

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let files: Server;
let filesUrl: string;
let dataDir: string;

/** Every placeholder in a text, in order, once each. */
function placeholders(text: string): string[] {
  return [...new Set(text.match(/<[A-Z]{2,6}_\d{1,3}>/g) ?? [])];
}

/** The fake model: echoes the placeholders of the last user message (answers), or fills a ticket from them. */
function respond(body: Record<string, unknown>): FakeChatScript {
  const messages = body.messages as { role: string; content: string }[];
  const lastUser = [...messages].reverse().find((message) => message.role === 'user')?.content ?? '';
  const found = placeholders(lastUser);
  const format = body.response_format as
    | { json_schema?: { name?: string; schema?: { properties?: { category?: { enum?: string[] } } } } }
    | undefined;
  if (format?.json_schema?.name === 'support_ticket') {
    const categories = format.json_schema.schema?.properties?.category?.enum ?? ['other'];
    return {
      content: JSON.stringify({
        summary: `Customer charged twice on card ${found.find((p) => p.startsWith('<CARD_')) ?? '?'}.`,
        category: categories.includes('billing') ? 'billing' : categories[0],
        urgency: 'high',
        urgencyReason: 'charged twice',
        orderIds: [],
        customerName: null,
        customerEmail: found.find((p) => p.startsWith('<EMAIL_')) ?? null,
        product: null,
        deadline: null,
        frequency: null,
        language: 'en',
        questionsToAsk: [],
        confidence: 0.9,
      }),
    };
  }
  return { content: `Refunds are paid within 5 business days [1]. Noted: ${found.join(' ')}.` };
}

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error', respond });
  files = createServer((request, response) => {
    if (request.headers.authorization !== `Bearer ${slack.token}`) {
      response.writeHead(403).end('no token');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain' }).end(document);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-redaction-process-'));
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

async function eventually(check: () => boolean, what: string, output: () => string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms\n${output()}`);
    await sleep(100);
  }
}

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

/** Every form a value could take on the wire: as written, ungrouped, JSON-escaped, dashed. */
function forms(value: string): string[] {
  return [value, value.replace(/[\s()-]/g, ''), JSON.stringify(value).slice(1, -1), value.replace(/\s/g, '-')];
}

/** Everything Deskhand sent to Slack (texts, blocks, stream chunks), as one string. */
function slackOutput(): string {
  return JSON.stringify(slack.calls.filter((call) => /^chat\.|^views\./.test(call.method)).map((call) => call.params));
}

describe('redaction before models in the running app (node src/main.ts)', () => {
  test('no email, phone, card or key reaches any model request; Slack shows the restored values', async () => {
    const port = await freePort();
    const { child, output } = startMain({
      ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
      WORK_THREAD: 'true',
      REDACT: 'emails,phones,cards',
    });
    try {
      await waitUntilReady(port, { child, output }, 60_000);
      const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });

      // The team's document, shared with a mention: ingested (its embedding request is recorded too).
      const download = `${filesUrl}/files-pri/${team}-F0REF/download/refunds.md`;
      const file = {
        id: 'F0REF',
        name: 'refunds.md',
        title: 'refunds.md',
        mimetype: 'text/plain',
        size: document.length,
        mode: 'hosted',
        is_external: false,
        user: 'W222',
        url_private: download,
        url_private_download: download,
        permalink: 'https://acme.slack.com/files/W222/F0REF/refunds.md',
      };
      const shared = slack.addMessage({ channel, user: 'W222', text: '<@U0BOT> our refund policy', files: [file] });
      slack.addFile({ ...file, shares: { public: { [channel]: [{ ts: shared.ts, reply_count: 0 }] } } });
      await driver.send(slackPayloads.appMention({ text: '<@U0BOT> our refund policy', ts: shared.ts, channel }));
      await driver.send(
        slackPayloads.fileShare({ channel, ts: shared.ts, fileId: 'F0REF', text: '<@U0BOT> our refund policy' }),
      );
      await driver.send(fileSharedEvent('F0REF', channel));
      await eventually(
        () => slack.thread(channel, shared.ts).some((reply) => /Added \*refunds\.md\*/.test(reply.text)),
        'ingestion',
        output,
      );

      // The customer's question, answered from the document (streamed).
      const question = `<@U0BOT> ask: When is my card refund paid to my bank account? ${customerText}`;
      const asked = slack.addMessage({ channel, user: 'W222', text: question });
      await driver.send(slackPayloads.appMention({ text: question, ts: asked.ts, channel }));
      await eventually(() => slack.callsTo('chat.stopStream').length === 1, 'the streamed answer', output);
      const answer = slack.thread(channel, asked.ts).at(-1);
      const shown = `${answer?.text ?? ''}${JSON.stringify(answer?.blocks ?? [])}`;
      assert.match(shown, /Refunds are paid within 5 business days/);
      assert.ok(shown.includes(email), `the answer shows the restored email: ${shown}`);
      assert.ok(shown.includes(phone), 'and the restored phone number');
      assert.ok(shown.includes('•••• 1111'), 'and the card as its last four digits');
      assert.ok(!/<(EMAIL|PHONE|CARD|SECRET)_\d+>/.test(shown), 'no placeholder is left');

      // The same text as a ticket.
      const chatCallsBefore = openai.chatCalls().length;
      await driver.send(slackPayloads.slashCommand({ command: '/ticket', text: customerText, channel }));
      await eventually(() => openai.chatCalls().length > chatCallsBefore, 'the ticket extraction', output);
      await eventually(() => slackOutput().includes('Customer charged twice'), 'the ticket card', output);
      const cardShown = slack.calls
        .filter((call) => JSON.stringify(call.params).includes('Customer charged twice'))
        .map((call) => JSON.stringify(call.params))
        .join('\n');
      assert.ok(cardShown.includes(email), `the card shows the customer's email: ${cardShown}`);
      assert.ok(cardShown.includes('•••• 1111'), 'the summary shows the card as its last four digits');
      assert.ok(!cardShown.includes('<EMAIL_'), 'no placeholder on the card');

      // What reached the model: embeddings, the answer, the ticket — none holds a value.
      const kinds = new Set(openai.calls.map((call) => call.path.replace(/^\/v1/, '')));
      assert.deepEqual([...kinds].sort(), ['/chat/completions', '/embeddings']);
      for (const call of openai.calls) {
        for (const value of [email, phone, card, apiKey, supportEmail, supportPhone]) {
          for (const form of forms(value)) {
            assert.ok(!call.rawBody.includes(form), `"${form}" reached ${call.path}: ${call.rawBody.slice(0, 400)}`);
          }
        }
      }
      const ticketCall = openai.chatCalls().at(-1);
      assert.match(
        JSON.stringify(ticketCall?.messages),
        /I am <EMAIL_\d>, phone <PHONE_\d>, card <CARD_\d>, key <SECRET_\d>/,
      );

      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const kind of ['email', 'phone', 'card', 'secret']) {
        assert.match(metrics, new RegExp(`deskhand_llm_redactions_total\\{[^}]*kind="${kind}"[^}]*\\} [1-9]`), kind);
      }
      assert.ok(!output().includes(email), 'the logs hold no redacted value');
      slack.expectNoViolations();

      child.kill('SIGTERM');
      assert.equal(await exited(child), 0, output());
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
