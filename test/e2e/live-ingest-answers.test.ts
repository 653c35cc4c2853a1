/**
 * Live ingestion while the app answers (issue 18 item 5), through the real entry point (`node src/main.ts`, work
 * threads, embedded index) and the real CLI (`scripts/ingest.ts`), without a model key (answers are the quoted
 * passages, so every question gets a deterministic answer and no model has to be scripted):
 * - a base corpus is ingested by the CLI directly, before the app starts (it then holds the index lock itself);
 * - with the app running (ADMIN_API_TOKEN set), signed `/ask` commands are sent in a loop in two channels, first
 *   alone, then while the CLI hands 40 documents over to `POST /admin/ingest`: every question is answered, with
 *   its fact, and the answers' latency before and during ingestion is printed;
 * - one of the 40 documents carries a fact nobody could answer before (asked first: not found); as soon as the
 *   CLI reports that document `indexed`, `/ask` about it is answered citing it, within a few seconds.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { SlackDriver, slackPayloads } from '../fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { fillerDocument, reported, startCli, summarise, writeFillerDocuments } from './live-ingest-support.ts';
import { exited, fakesEnvironment, freePort, startMain, waitUntilReady } from './main-process-support.ts';

const signingSecret = 'live-ingest-secret-123456';
const keyPrefix = `test:${randomUUID()}:`;
const token = 'live-ingest-token-0123456789abcdef0123';
const team = 'T111';
const channels = ['C111', 'C222'];
/**
 * One question per channel every 3 s: together below the chat.update budget the app paces itself to (Slack's Tier
 * 3, 50 a minute per workspace, src/slack/outbound/slack-messenger.ts), so a latency measures the app's work, not
 * its queue for Slack (back to back, three channels' answers waited up to 3.5 s for an update slot, ingesting or not).
 */
const spacingMs = 3_000;
const factChannel = 'C333';

/** The base corpus: what the question loop asks about, and the fact each answer must quote. */
const baseCorpus = [
  {
    file: 'depot-hours.md',
    text: '# Depot hours\n\nThe Bremen depot opens at 6:15 on weekdays and closes at 19:30.\n',
    question: 'When does the Bremen depot open on weekdays?',
    fact: /6:15/,
  },
  {
    file: 'refunds.md',
    text: '# Refund policy\n\nRefunds are paid within 5 business days after the returned parcel is scanned.\n',
    question: 'How many business days until refunds are paid?',
    fact: /5 business days/,
  },
  {
    file: 'parcel-sizes.md',
    text: '# Parcel sizes\n\nThe largest parcel we accept measures 120 centimetres on its longest side.\n',
    question: 'What is the largest parcel size we accept?',
    fact: /120 centimetres/,
  },
  {
    file: 'holidays.md',
    text: '# Holiday closures\n\nEvery depot closes at noon on 24 December and stays closed on 25 December.\n',
    question: 'When do depots close on 24 December?',
    fact: /noon on 24 December/,
  },
];

const factFile = 'doc-12.md';
const factQuestion = 'What is the night code of the harbour kiosk?';
const factDocument = [
  '# Harbour kiosk',
  '',
  '## Night access',
  '',
  'The harbour kiosk night code is QZX-4417; it changes every March.',
  '',
  fillerDocument('Harbour kiosk appendix', 999, 4).split('\n').slice(2).join('\n'),
].join('\n');

let slack: FakeSlackWebApi;
let openai: FakeOpenAIServer;
let dataDir: string;
let baseDirectory: string;
let newDirectory: string;

before(async () => {
  slack = await FakeSlackWebApi.start();
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  dataDir = mkdtempSync(join(tmpdir(), 'deskhand-live-ingest-'));
  baseDirectory = join(dataDir, 'base');
  newDirectory = join(dataDir, 'new');
  mkdirSync(baseDirectory);
  for (const { file, text } of baseCorpus) writeFileSync(join(baseDirectory, file), text);
  writeFillerDocuments(newDirectory, 40, 400);
  writeFileSync(join(newDirectory, factFile), factDocument);
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

interface Answer {
  text: string;
  /** From sending the command to the final answer. */
  latencyMs: number;
  /** From sending the command to the first message in the channel (the "Searching…" status). */
  firstReplyMs: number;
}

/** The final answer's text and blocks, once a call in `channel` after `from` carries one. */
function answerAfter(channel: string, from: number): { text: string; at: number; firstAt: number } | undefined {
  let firstAt: number | undefined;
  for (const call of slack.calls.slice(from)) {
    if (call.params.channel !== channel) continue;
    if (call.method !== 'chat.postMessage' && call.method !== 'chat.update') continue;
    firstAt ??= call.receivedAtMonotonic;
    const text = JSON.stringify([call.params.text, call.params.blocks]);
    if (/Answered without a language model|no passage in the documents|no documents this channel/.test(text)) {
      return { text, at: call.receivedAtMonotonic, firstAt };
    }
  }
  return undefined;
}

/**
 * Sends `/ask` in `channel` and waits for its answer (one question at a time per channel, so the next answer in
 * the channel is this one's); fails after 30 s.
 */
async function ask(driver: SlackDriver, channel: string, question: string, output: () => string): Promise<Answer> {
  const from = slack.calls.length;
  const sentAt = performance.now();
  const response = await driver.send(slackPayloads.slashCommand({ command: '/ask', text: question, channel }));
  assert.equal(response.status, 200, `the /ask in ${channel} was not acknowledged`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = answerAfter(channel, from);
    if (found) return { text: found.text, latencyMs: found.at - sentAt, firstReplyMs: found.firstAt - sentAt };
    if (Date.now() > deadline) assert.fail(`no answer to "${question}" in ${channel} within 30 s\n${output()}`);
    await sleep(5);
  }
}

/**
 * Asks the base corpus's questions in turn in `channel`, one every `spacingMs`, until `stop(turn)` holds; returns
 * each answer's latencies.
 */
async function questionLoop(
  driver: SlackDriver,
  channel: string,
  stop: (turn: number) => boolean,
  output: () => string,
): Promise<{ answer: number[]; firstReply: number[] }> {
  const latencies = { answer: [] as number[], firstReply: [] as number[] };
  for (let turn = 0; !stop(turn); turn += 1) {
    const { question, fact } = baseCorpus[turn % baseCorpus.length] as (typeof baseCorpus)[number];
    const sentAt = performance.now();
    const answer = await ask(driver, channel, question, output);
    assert.match(answer.text, fact, `the answer to "${question}" in ${channel} lacks its fact`);
    latencies.answer.push(answer.latencyMs);
    latencies.firstReply.push(answer.firstReplyMs);
    await sleep(Math.max(0, sentAt + spacingMs - performance.now()));
  }
  return latencies;
}

test('the app answers every question while the CLI ingests 40 documents through it, and a new fact is citable at once', async () => {
  const port = await freePort();
  const environment = {
    ...fakesEnvironment({ port, slack, openai, signingSecret, keyPrefix, dataDir }),
    OPENAI_API_KEY: '',
    WORK_THREADS: '2',
    ADMIN_API_TOKEN: token,
  };
  const cliEnvironment = { DATA_DIR: dataDir, REDIS_KEY_PREFIX: keyPrefix, PORT: String(port) };

  // The base corpus, written by the CLI itself while no app runs.
  const direct = startCli([baseDirectory, '--workspace', team], cliEnvironment);
  assert.equal(await direct.exited, 0, `${direct.lines().join('\n')}\n${direct.stderr()}`);
  assert.equal(reported(direct.lines(), 'indexed').length, baseCorpus.length, direct.lines().join('\n'));

  const main = startMain(environment);
  try {
    await waitUntilReady(port, main, 60_000);
    const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });

    // Not known yet: the fact's question finds nothing to cite.
    const unknown = await ask(driver, factChannel, factQuestion, main.output);
    assert.doesNotMatch(unknown.text, /QZX-4417|Harbour kiosk/);

    // Before: the loop alone, 6 questions per channel.
    const idle = await Promise.all(
      channels.map((channel) => questionLoop(driver, channel, (turn) => turn >= 6, main.output)),
    );

    // During: the CLI hands the 40 documents to the app while every channel keeps asking.
    const started = performance.now();
    const cli = startCli([newDirectory, '--workspace', team, '--app-url', `http://127.0.0.1:${port}`], {
      ...cliEnvironment,
      ADMIN_API_TOKEN: token,
    });
    let ingesting = true;
    const cliDone = cli.exited.then((code) => {
      ingesting = false;
      return code;
    });
    const busy = Promise.all(channels.map((channel) => questionLoop(driver, channel, () => !ingesting, main.output)));

    const factIndexed = await cli.lineMatching(new RegExp(`^indexed +\\S*${factFile}`), 120_000);
    // Asked once, right after the CLI printed the line: the app answered 200 only once the document was durable
    // and searchable, so there is nothing to wait for.
    const citable = await ask(driver, factChannel, factQuestion, main.output);
    const citableAfterMs = performance.now() - factIndexed.at;
    const stillIngesting = ingesting;

    const code = await cliDone;
    const ingestionMs = performance.now() - started;
    const during = await busy;
    assert.equal(code, 0, `${cli.lines().join('\n')}\n${cli.stderr()}`);
    assert.equal(reported(cli.lines(), 'indexed').length, 40, cli.lines().join('\n'));

    // The answer quotes the fact and cites the new document by its title.
    assert.match(citable.text, /night code is QZX-4417/);
    assert.match(citable.text, /\[1\][^"]*Harbour kiosk/);

    const before = summarise(idle.flatMap((loop) => loop.answer));
    const whileIngesting = summarise(during.flatMap((loop) => loop.answer));
    const report = {
      answersBefore: before,
      answersDuringIngestion: whileIngesting,
      firstReplyBefore: summarise(idle.flatMap((loop) => loop.firstReply)),
      firstReplyDuringIngestion: summarise(during.flatMap((loop) => loop.firstReply)),
      ingestion: { documents: 40, ms: Math.round(ingestionMs) },
      timeToCitableMs: Math.round(citableAfterMs),
      citableAnswerLatencyMs: Math.round(citable.latencyMs),
      askedWhileStillIngesting: stillIngesting,
    };
    console.log(`live ingestion figures: ${JSON.stringify(report)}`);
    assert.ok(whileIngesting.count >= channels.length, 'questions were answered during ingestion');
    assert.ok(citableAfterMs < 5_000, `citable ${Math.round(citableAfterMs)} ms after the CLI reported it`);
    assert.equal(openai.calls.length, 0, 'no request reached the model server');
    slack.expectNoViolations();
  } finally {
    main.child.kill('SIGKILL');
    await exited(main.child);
  }
});
