/**
 * The 👎 reason picker and the feedback regression check end to end (issue 16 item 2): the real app over signed
 * Slack requests with the answers capability answering without a model (quoted, cited passages) from an embedded
 * index on disk, the feedback handlers wired as src/composition/build-answers.ts wires them, the real Redis and
 * the fake Slack Web API (views validated against the spec and Block Kit limits, trigger ids expiring after 3 s).
 *
 * Shown: 👎 opens the picker with `views.open`; submitting "outdated" and a note stores them for that voter only;
 * a picker that cannot open still counts the vote and offers "Tell us why", which opens it; someone who did not vote
 * 👎 can neither open it nor submit it; `npm run feedback:export` writes the reason with the question, answer and
 * cited chunks; `npm run eval:answers -- --feedback` reports the chunks kept, and lost (exit code 1) once the
 * document is re-ingested without the passage.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { createQuestionHandler } from '../../src/capabilities/answers/answer-handlers.ts';
import { createFeedbackHandlers } from '../../src/capabilities/answers/feedback-handlers.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { createRetriever } from '../../src/capabilities/answers/retrieval-adapter.ts';
import { ingestText } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { createNoModelGateway } from '../../src/llm/no-model-gateway.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import {
  answerActionIds,
  answerReasonBlockIds,
  answerReasonInputActionId,
  answerReasonModalCallbackId,
} from '../../src/slack-kit/answer-ids.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const run = promisify(execFile);
const team = 'T111';
const channel = 'C111';
const voter = 'W0VOTER1';
const fan = 'W0FAN001';
const stranger = 'W0STRANG1';
const refundSource = 'https://wiki.example.com/refunds';
const refundsV1 =
  '# Refund policy\n\n## Timing\n\nRefunds are paid within 5 business days of the return arriving at our warehouse.';
const refundsV2 = '# Refund policy\n\n## Sales\n\nAll sales are final since November; contact sales for exceptions.';

let app: AppHarness;
let dataDir: string;
let feedback: FeedbackStore;
let index: EmbeddedVectorIndex | undefined;
/** The answer the first test asks for, voted on again by the second. */
let askedAnswerId = '';
const logger = createSilentLogger();

async function openIndex(): Promise<EmbeddedVectorIndex> {
  const opened = new EmbeddedVectorIndex({ directory: join(dataDir, 'index'), logger });
  await opened.ensureReady();
  return opened;
}

async function ingestRefunds(text: string): Promise<void> {
  const target = index ?? (await openIndex());
  await ingestText(
    {
      workspaceId: team,
      scope: `channel:${channel}`,
      source: refundSource,
      title: 'Refund policy',
      text,
      format: 'markdown',
    },
    { index: target, callScope: { workspaceId: team, channelId: 'C0INGEST' } },
  );
  if (!index) await target.close();
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'deskhand-feedback-e2e-'));
  let handlers: ReturnType<typeof createFeedbackHandlers> | undefined;
  let question: ReturnType<typeof createQuestionHandler> | undefined;
  app = await startAppHarness({
    capabilities: { question: (request, reply) => (question as NonNullable<typeof question>)(request, reply) },
    interactions: {
      actions: {
        [answerActionIds.helpful]: (click) => (handlers as NonNullable<typeof handlers>).vote(click),
        [answerActionIds.notHelpful]: (click) => (handlers as NonNullable<typeof handlers>).vote(click),
        [answerActionIds.reason]: (click) => (handlers as NonNullable<typeof handlers>).reopen(click),
      },
      views: {
        [answerReasonModalCallbackId]: (submission) => (handlers as NonNullable<typeof handlers>).submit(submission),
      },
    },
  });
  feedback = new FeedbackStore(app.redis, { keyPrefix: app.keyPrefix });
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: app.slack.token, apiUrl: app.slack.url, timeoutMs: 5_000 }),
    logger,
  });
  handlers = createFeedbackHandlers({ feedback, messenger, logger });
  index = await openIndex();
  await ingestRefunds(refundsV1);
  const retrieve = createRetriever({ index, logger }, { mode: 'sparse', contextTokens: 1500 });
  const gateway = createNoModelGateway({ logger, registry: createMetricsRegistry() });
  question = createQuestionHandler({ answer: { gateway, retrieve, withoutModel: true }, feedback, logger });
});

after(async () => {
  await index?.close();
  await app.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const openedViews = () => app.slack.callsTo('views.open').map((call) => call.params.view as Record<string, unknown>);
const ephemeralsFor = (user: string) => app.slack.ephemeralMessages.filter((message) => message.user === user);

function buttonValue(blocks: unknown, actionId: string): string | undefined {
  for (const block of (blocks as { elements?: { action_id?: string; value?: string }[] }[] | undefined) ?? []) {
    for (const element of block.elements ?? []) if (element.action_id === actionId) return element.value;
  }
  return undefined;
}

const click = (actionId: string, value: string, user: string) =>
  app.driver.send(slackPayloads.blockActions({ actionId, value, user, channel }));

function submitReason(user: string, view: Record<string, unknown>, reason: string, text: string) {
  return app.driver.send(
    slackPayloads.viewSubmission({
      callbackId: answerReasonModalCallbackId,
      user,
      privateMetadata: String(view.private_metadata),
      values: {
        [answerReasonBlockIds.reason]: {
          [answerReasonInputActionId]: { type: 'radio_buttons', selected_option: { value: reason } },
        },
        [answerReasonBlockIds.text]: { [answerReasonInputActionId]: { type: 'plain_text_input', value: text } },
      } as never,
    }),
  );
}

const toolEnvironment = () => ({
  ...process.env,
  REDIS_URL: app.configuration.redis.url,
  REDIS_KEY_PREFIX: app.keyPrefix,
  DATA_DIR: dataDir,
  QDRANT_URL: '',
});

async function npmScript(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npm', ['run', '-s', script, '--', ...args], {
      env: toolEnvironment(),
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

test('👎 opens the reason picker, "outdated" is stored for the voter, exported, and replayed as kept then lost', async () => {
  await app.driver.send(
    slackPayloads.slashCommand({
      command: '/ask',
      text: 'How many business days until refunds are paid?',
      user: voter,
      channel,
    }),
  );
  const answer = await until('the answer', () =>
    app.slack.messages(channel).find((message) => buttonValue(message.blocks, answerActionIds.notHelpful)),
  );
  const answerId = buttonValue(answer.blocks, answerActionIds.notHelpful) ?? '';
  askedAnswerId = answerId;
  assert.match(JSON.stringify(answer.blocks), /Refund policy/, 'the answer cites the refund policy');

  await click(answerActionIds.notHelpful, answerId, voter);
  const picker = await until('views.open', () => openedViews()[0]);
  assert.equal(picker.callback_id, answerReasonModalCallbackId);
  const options = JSON.stringify(picker.blocks);
  for (const reason of ['wrong', 'outdated', 'missing_source', 'other'])
    assert.match(options, new RegExp(`"${reason}"`));
  await until('the vote acknowledgement', () => ephemeralsFor(voter)[0]);
  assert.equal(await feedback.voteOf(answerId, team, voter), 'not_helpful', 'the vote counts before any reason');

  // A reason the form refuses comes back as a field error; nothing is stored.
  const empty = await submitReason(voter, picker, 'other', '   ');
  assert.equal((empty.json as { response_action?: string }).response_action, 'errors');
  assert.equal(await feedback.reasonOf(answerId, team, voter), undefined);

  const saved = await submitReason(voter, picker, 'outdated', 'The 5 days changed to 10 in October.');
  assert.equal(saved.status, 200);
  assert.equal(saved.body, '', 'a valid reason closes the modal');
  const stored = await feedback.reasonOf(answerId, team, voter);
  assert.equal(stored?.reason, 'outdated');
  assert.equal(stored?.text, 'The 5 days changed to 10 in October.');
  const again = await submitReason(voter, picker, 'outdated', 'The 5 days changed to 10 in October.');
  assert.equal(again.body, '');
  assert.equal((await feedback.reasonOf(answerId, team, voter))?.at, stored?.at, 'a resubmit changes nothing');

  // Someone without a 👎 on the answer can neither open the picker nor have a reason stored.
  await click(answerActionIds.reason, answerId, stranger);
  const refusal = await until('the stranger’s refusal', () => ephemeralsFor(stranger)[0]);
  assert.match(refusal.text, /Only people whose vote on this answer is 👎/);
  const forged = await submitReason(stranger, picker, 'wrong', 'forged');
  assert.equal((forged.json as { response_action?: string }).response_action, 'update');
  assert.equal(await feedback.reasonOf(answerId, team, stranger), undefined);
  assert.equal(openedViews().length, 1, 'no picker opened for the stranger');

  // A 👍 from someone else: the helpful side of the regression check.
  await click(answerActionIds.helpful, answerId, fan);
  await until('the fan’s acknowledgement', () => ephemeralsFor(fan)[0]);

  const out = join(dataDir, 'feedback.jsonl');
  const exported = await npmScript('feedback:export', ['--workspace', team, '--out', out]);
  assert.equal(exported.code, 0, exported.stderr);
  const rows = (await readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(rows.length, 2);
  const down = rows.find((row) => row.vote === 'not_helpful');
  assert.equal(down?.reason, 'outdated');
  assert.equal(down?.text, 'The 5 days changed to 10 in October.');
  assert.equal(down?.question, 'How many business days until refunds are paid?');
  assert.equal(down?.channel, channel);
  const cited = (down?.cited as { title: string; chunkIds: string[]; sectionPath: string[] }[] | undefined)?.[0];
  assert.equal(cited?.title, 'Refund policy');
  assert.ok((cited?.chunkIds.length ?? 0) > 0);
  assert.deepEqual(cited?.sectionPath.slice(-1), ['Timing']);
  assert.equal(rows.find((row) => row.vote === 'helpful')?.reason, undefined);

  await index?.close();
  index = undefined;
  const before = await npmScript('eval:answers', ['--feedback', out]);
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /helpful: 1 kept, 0 moved, 0 lost/);
  assert.match(before.stdout, /^KEPT\s+not helpful \(outdated\)/m);

  await ingestRefunds(refundsV2);
  const afterReingest = await npmScript('eval:answers', ['--feedback', out]);
  assert.equal(afterReingest.code, 1, 'a helpful answer lost its chunks');
  assert.match(afterReingest.stdout, /^LOST\s+helpful\s+How many business days/m);
  assert.match(afterReingest.stdout, /lost: “Refund policy”/);
  assert.match(afterReingest.stdout, /not helpful: 0 kept, 0 moved, 1 lost/);
  assert.match(afterReingest.stderr, /1 helpful answer\(s\) lost their cited chunks/);
  assert.equal((await npmScript('eval:answers', ['--feedback', out, '--allow-lost'])).code, 0);
  app.slack.expectNoViolations();
});

test('when the picker cannot open the vote still counts and “Tell us why” opens it', async () => {
  const answerId = askedAnswerId;
  assert.ok(answerId, 'the first test asked a question');
  const person = 'W0LATE01';
  const opened = openedViews().length;
  app.slack.inject('views.open', { kind: 'platform_error', error: 'expired_trigger_id' });
  await click(answerActionIds.notHelpful, answerId, person);
  const offer = await until('the offer', () => ephemeralsFor(person)[0]);
  assert.match(offer.text, /Thanks, noted as not helpful/);
  const value = buttonValue(offer.blocks, answerActionIds.reason);
  assert.equal(value, answerId, 'the offer carries a Tell us why button');
  assert.equal(await feedback.voteOf(answerId, team, person), 'not_helpful');

  await click(answerActionIds.reason, value ?? '', person);
  const picker = await until('the reopened picker', () => openedViews()[opened + 1]);
  assert.equal(picker.callback_id, answerReasonModalCallbackId);
  await submitReason(person, picker, 'missing_source', '');
  assert.equal((await feedback.reasonOf(answerId, team, person))?.reason, 'missing_source');
});
