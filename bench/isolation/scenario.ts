/**
 * The isolation scenario of issue 14 ("Done when"), shared by `npm run bench:isolation` and
 * test/e2e/isolation-stall.test.ts: the real app (`node src/main.ts`) against the fakes; other channels ("B")
 * run `/budget` every 500 ms between them (a baseline phase with nothing else going on, then a hostile phase;
 * rotating through `budgetChannels` channels, because the app sends at most about one message per second per
 * channel, as Slack requires, so one channel at 2/s would measure that pacing, not a stall); early in the hostile phase
 * channel A gets the ~100 MB-XML DOCX and the shared-stream PDF shared with a mention, and a third channel whose
 * cap is $0 gets a `/ticket` with the ReDoS text. Meanwhile `/healthz` and the child's RSS are sampled every
 * second. It measures; it asserts nothing — the test does.
 *
 * A `/budget` reply time runs from sending the command until the fake Slack receives its `chat.postEphemeral`
 * (each sample has its own user id, so replies are matched exactly). A sample still unanswered at the end counts
 * with the time it had waited by then (a lower bound), so a stall can only make the figures worse.
 * Never hangs: every wait stops at `hardLimitMs` after the start, and the app is killed at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { SlackDriver } from '../../test/fakes/slack-driver.ts';
import { bigDocx, redosTicketText, sharedStreamPdf } from '../../test/support/hostile-inputs.ts';
import { type AppProcess, type HealthProbe, probeHealth, startApp, stopApp, waitUntilReady } from './app-process.ts';
import {
  type Answer,
  EphemeralIndex,
  ephemeralReply,
  fileShareAnswer,
  type Stage,
  shareFile,
  slashCommand,
  startStage,
  ticketAnswer,
} from './slack-stage.ts';
import { freePort, type LatencySummary, summarise } from './stats.ts';

export type HostileKind = 'docx' | 'pdf' | 'redos';

export interface IsolationOptions {
  /** The checkout whose `src/main.ts` runs (default: this one). */
  appDir: string;
  /** Length of the hostile phase of `/budget` sampling. */
  seconds: number;
  /**
   * How many channels the `/budget` requests rotate through (together one every 500 ms). The app paces its
   * messages to about one per second per channel (Slack's limit, src/slack/outbound/slack-messenger.ts), so one
   * channel at 2/s queues its own replies without bound whatever the isolation, and with 2 (1/s each) a backlog a
   * stall leaves never drains (measured: a 5 s stall kept every later reply at 4.8 s); 4 leaves 2× headroom.
   */
  budgetChannels: number;
  /** Length of the quiet phase before it. */
  baselineSeconds: number;
  /** Seconds into the hostile phase at which the hostile inputs are sent. */
  hostileAtSeconds: number;
  /** After sampling stops, how long to wait for late `/budget` replies and the hostile inputs' answers. */
  outcomeWaitSeconds: number;
  /** Bound on the whole scenario; nothing waits past it. */
  hardLimitMs: number;
  /** `WORK_THREADS` for the child (unset when undefined). */
  workThreads?: number;
  /** Size of the DOCX's `word/document.xml` in bytes. */
  docxXmlBytes: number;
  pdfPages: number;
  skip: ReadonlySet<HostileKind>;
  /** Extra environment for the app. */
  environment?: Record<string, string>;
  log?: (line: string) => void;
}

export interface HostileOutcome {
  kind: HostileKind;
  sentAtMs: number;
  /** Seconds from sending until the answer, when there was one. */
  seconds?: number;
  answer?: Answer;
}

export interface BudgetSample {
  phase: 'baseline' | 'hostile';
  user: string;
  sentAtMs: number;
  ackStatus?: number;
  /** Milliseconds until the reply; undefined when none came. */
  replyMs?: number;
}

export interface IsolationResult {
  ready: boolean;
  budgetChannels: number;
  samples: BudgetSample[];
  baseline: LatencySummary;
  hostile: LatencySummary;
  outcomes: HostileOutcome[];
  health: Pick<HealthProbe, 'polls' | 'failures' | 'peakRssMb' | 'rss'>;
  /** How the app ended before we stopped it, if it did. */
  exitedEarly?: { code: number | null; signal: string | null; atSeconds: number };
  /** performance.now() at the start of the baseline phase. */
  startMs: number;
  hostileStartMs: number;
  /** Tail of the app's output (for diagnosing a failure). */
  outputTail: string;
}

const channels = { share: 'C0SHARE', ticket: 'C0TICKET' };
/** The channels `/budget` rotates through (`C0BUDGET1`…). */
export const budgetChannels = (count: number) => Array.from({ length: count }, (_, index) => `C0BUDGET${index + 1}`);
const users = { admin: 'W0ADMIN', docx: 'W0DOCX', pdf: 'W0PDF', ticket: 'W0TICKET' };
const signingSecret = 'isolation-signing-secret-123456';

interface Inputs {
  docx?: Buffer;
  pdf?: Buffer;
  ticketText?: string;
}

function buildInputs(options: IsolationOptions): Inputs {
  return {
    ...(options.skip.has('docx') ? {} : { docx: bigDocx({ documentXmlBytes: options.docxXmlBytes }).bytes }),
    ...(options.skip.has('pdf') ? {} : { pdf: sharedStreamPdf(options.pdfPages) }),
    ...(options.skip.has('redos') ? {} : { ticketText: redosTicketText() }),
  };
}

function appEnvironment(options: IsolationOptions, stage: Stage, port: number, keyPrefix: string, dataDir: string) {
  return {
    PORT: String(port),
    SLACK_BOT_TOKEN: stage.slack.token,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: stage.slack.url,
    OPENAI_API_KEY: 'test-key',
    OPENAI_BASE_URL: stage.openai.baseURL,
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ADMIN_USER_IDS: users.admin,
    ...(options.workThreads === undefined ? {} : { WORK_THREADS: String(options.workThreads) }),
    ...options.environment,
  };
}

interface Run {
  options: IsolationOptions;
  stage: Stage;
  app: AppProcess;
  driver: SlackDriver;
  deadline: number;
  log: (line: string) => void;
}

interface Pending {
  outcome: HostileOutcome;
  find: () => Answer | undefined;
}

/** Sends the hostile inputs one after another (each send is only the HTTP requests; answers are read later). */
async function sendHostile(run: Run, inputs: Inputs): Promise<Pending[]> {
  const { stage, driver } = run;
  const sent: Pending[] = [];
  const track = async (kind: HostileKind, send: () => Promise<() => Answer | undefined>) => {
    const outcome: HostileOutcome = { kind, sentAtMs: performance.now() };
    sent.push({ outcome, find: await send() });
    run.log(`sent ${kind}`);
  };
  if (inputs.docx) {
    const bytes = inputs.docx;
    await track('docx', async () => {
      const mimetype = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
      const file = { fileId: 'F0BIGDOCX', name: 'big-manual.docx', mimetype, bytes };
      const ts = await shareFile(stage, driver, { ...file, channel: channels.share, user: users.docx });
      return () => fileShareAnswer(stage.slack, channels.share, users.docx, ts);
    });
  }
  if (inputs.pdf) {
    const bytes = inputs.pdf;
    await track('pdf', async () => {
      const file = { fileId: 'F0SHAREDPDF', name: 'many-pages.pdf', mimetype: 'application/pdf', bytes };
      const ts = await shareFile(stage, driver, { ...file, channel: channels.share, user: users.pdf });
      return () => fileShareAnswer(stage.slack, channels.share, users.pdf, ts);
    });
  }
  if (inputs.ticketText) {
    const text = inputs.ticketText;
    await track('redos', async () => {
      const from = stage.slack.calls.length;
      void slashCommand(driver, '/ticket', text, channels.ticket, users.ticket);
      return () => ticketAnswer(stage.slack, channels.ticket, from);
    });
  }
  return sent;
}

/** Fills in each outcome's answer; true when all have one. */
function readOutcomes(pending: Pending[]): boolean {
  let all = true;
  for (const { outcome, find } of pending) {
    if (outcome.answer) continue;
    const answer = find();
    if (answer) {
      outcome.answer = answer;
      outcome.seconds = (answer.atMs - outcome.sentAtMs) / 1000;
    } else all = false;
  }
  return all;
}

/** `/budget` every 500 ms in channel B for both phases; the hostile inputs go out `hostileAtSeconds` in. */
async function sample(run: Run, inputs: Inputs, samples: BudgetSample[], startMs: number) {
  const { options } = run;
  const hostileStartMs = startMs + options.baselineSeconds * 1000;
  const endMs = hostileStartMs + options.seconds * 1000;
  let hostile: Promise<Pending[]> | undefined;
  for (let index = 0; ; index += 1) {
    const dueMs = startMs + index * 500;
    if (dueMs >= endMs || performance.now() > run.deadline || run.app.exit()) break;
    await sleep(Math.max(0, dueMs - performance.now()));
    if (!hostile && performance.now() >= hostileStartMs + options.hostileAtSeconds * 1000) {
      hostile = sendHostile(run, inputs);
    }
    const entry: BudgetSample = {
      phase: dueMs < hostileStartMs ? 'baseline' : 'hostile',
      user: `W0B${String(index).padStart(4, '0')}`,
      sentAtMs: performance.now(),
    };
    samples.push(entry);
    const channel = budgetChannels(options.budgetChannels)[index % options.budgetChannels] ?? 'C0BUDGET1';
    void slashCommand(run.driver, '/budget', '', channel, entry.user).then((ack) => {
      entry.ackStatus = ack.status;
    });
  }
  return { hostileStartMs, pending: (await hostile) ?? [] };
}

/** Waits for late replies and the hostile answers, at most `outcomeWaitSeconds` (and never past the deadline). */
async function waitForAnswers(run: Run, samples: BudgetSample[], pending: Pending[], index: EphemeralIndex) {
  const until = Math.min(run.deadline, performance.now() + run.options.outcomeWaitSeconds * 1000);
  for (;;) {
    index.refresh();
    for (const entry of samples) {
      const at = index.byUser.get(entry.user);
      if (entry.replyMs === undefined && at !== undefined) entry.replyMs = at - entry.sentAtMs;
    }
    const answered = readOutcomes(pending) && samples.every((entry) => entry.replyMs !== undefined);
    if (answered || performance.now() > until || run.app.exit()) return;
    await sleep(200);
  }
}

/** Admin `/budget set 0` in the ticket channel, so its `/ticket` takes the rules path on the untruncated text. */
async function zeroTicketChannelCap(run: Run): Promise<void> {
  const from = run.stage.slack.calls.length;
  await slashCommand(run.driver, '/budget', 'set 0', channels.ticket, users.admin);
  const until = performance.now() + 15_000;
  while (!ephemeralReply(run.stage.slack, channels.ticket, users.admin, from) && performance.now() < until) {
    await sleep(50);
  }
  const reply = ephemeralReply(run.stage.slack, channels.ticket, users.admin, from);
  run.log(`ticket channel cap: ${reply?.text.split('\n')[0] ?? 'no answer to /budget set 0'}`);
}

export async function runIsolationScenario(options: IsolationOptions): Promise<IsolationResult> {
  const log = options.log ?? (() => {});
  const inputs = buildInputs(options);
  log(
    `inputs: docx ${inputs.docx?.length ?? 0} B, pdf ${inputs.pdf?.length ?? 0} B, ticket ${inputs.ticketText?.length ?? 0} chars`,
  );
  const deadline = performance.now() + options.hardLimitMs;
  const stage = await startStage();
  const keyPrefix = `bench:isolation:${randomUUID()}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'deskhand-isolation-'));
  const port = await freePort();
  const app = startApp(options.appDir, appEnvironment(options, stage, port, keyPrefix, dataDir));
  const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });
  const run: Run = { options, stage, app, driver, deadline, log };
  let probe: HealthProbe | undefined;
  try {
    const ready = await waitUntilReady(port, app, 90_000);
    log(ready ? `app ready on port ${port} (${options.appDir})` : 'app never became ready');
    const samples: BudgetSample[] = [];
    let pending: Pending[] = [];
    let startMs = performance.now();
    let hostileStartMs = startMs;
    if (ready) {
      await zeroTicketChannelCap(run);
      probe = probeHealth(port, app);
      startMs = performance.now();
      ({ hostileStartMs, pending } = await sample(run, inputs, samples, startMs));
      log('sampling done; waiting for late answers');
      await waitForAnswers(
        run,
        samples,
        pending,
        new EphemeralIndex(stage.slack, budgetChannels(options.budgetChannels)),
      );
      await probe.stop();
    }
    const endMs = performance.now();
    const exit = app.exit();
    return {
      ready,
      budgetChannels: options.budgetChannels,
      samples,
      baseline: summarise(
        samples.filter((entry) => entry.phase === 'baseline'),
        endMs,
      ),
      hostile: summarise(
        samples.filter((entry) => entry.phase === 'hostile'),
        endMs,
      ),
      outcomes: pending.map((entry) => entry.outcome),
      health: {
        polls: probe?.polls ?? 0,
        failures: probe?.failures ?? [],
        peakRssMb: probe?.peakRssMb ?? 0,
        rss: probe?.rss ?? [],
      },
      ...(exit
        ? { exitedEarly: { code: exit.code, signal: exit.signal, atSeconds: (exit.atMs - startMs) / 1000 } }
        : {}),
      startMs,
      hostileStartMs,
      outputTail: app.output().slice(-20_000),
    };
  } finally {
    await probe?.stop();
    await stopApp(app, 3_000);
    await stage.close();
    rmSync(dataDir, { recursive: true, force: true });
    await removeKeys(keyPrefix);
  }
}

async function removeKeys(keyPrefix: string): Promise<void> {
  const redis = new Redis({ lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } catch {
    // Redis gone: nothing to clean.
  } finally {
    redis.disconnect();
  }
}
