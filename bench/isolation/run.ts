/**
 * Isolation benchmark (issue 14): does one channel's hostile input stall everybody else?
 * `npm run bench:isolation -- [--seconds 60] [--baseline-seconds 10] [--budget-channels 2] [--work-threads N] [--docx-mb 100]
 * [--pdf-pages 2000] [--skip docx,pdf,redos] [--app-dir <checkout>] [--outcome-wait 120] [--hard-limit 300]
 * [--json <file>]`
 *
 * Runs the app as `npm start` does (`node src/main.ts`, from `--app-dir`, default this checkout, so an older
 * worktree can be measured from here) against the fake Slack and OpenAI (scenario in ./scenario.ts): `/budget`
 * every 500 ms in channel B — first a quiet baseline phase, then, 2 s into the hostile phase, the ~100 MB-XML
 * DOCX and the 2,000-page shared-stream PDF shared with a mention in channel A and a ~39k-character `/ticket` in
 * a channel capped at $0. Prints `/budget` reply times (n, p50, p95, max) for both phases and the ratio of the
 * hostile p95 to the baseline p95 measured in the same run, what each hostile sender got and when, `/healthz`
 * failures, the child's peak RSS and whether it exited. `/budget` rotates through --budget-channels channels
 * (default 4, each one request per 2 s): the app sends at most one message per second per channel (Slack's
 * limit), so with 1 channel the replies queue behind that pacing (+0.5 s per sample) and with 2 a backlog left by
 * a stall never drains (arrivals = pacing); 4 leaves 2× headroom. Never hangs: the whole run is bounded by
 * --hard-limit (plus 30 s to clean up), and the app is killed at the end.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type HostileKind, type IsolationResult, runIsolationScenario } from './scenario.ts';
import type { LatencySummary } from './stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    'baseline-seconds': { type: 'string', default: '10' },
    'budget-channels': { type: 'string', default: '4' },
    'work-threads': { type: 'string' },
    'docx-mb': { type: 'string', default: '100' },
    'pdf-pages': { type: 'string', default: '2000' },
    skip: { type: 'string', default: '' },
    'app-dir': { type: 'string', default: fileURLToPath(new URL('../..', import.meta.url)) },
    'outcome-wait': { type: 'string', default: '120' },
    'hard-limit': { type: 'string', default: '300' },
    json: { type: 'string' },
  },
});

const kinds: HostileKind[] = ['docx', 'pdf', 'redos'];
const skip = new Set(
  (values.skip ?? '')
    .split(',')
    .map((word) => word.trim())
    .filter(Boolean),
);
for (const word of skip) {
  if (!kinds.includes(word as HostileKind)) throw new Error(`--skip: unknown input "${word}" (docx, pdf, redos)`);
}
const hardLimitMs = Number(values['hard-limit']) * 1000;
const started = performance.now();
const elapsed = () => ((performance.now() - started) / 1000).toFixed(1).padStart(6);

// Last resort: whatever happens, this process ends (the scenario kills the app in its own `finally`).
setTimeout(() => {
  console.error(`bench:isolation: still running ${hardLimitMs / 1000 + 30} s after the start; exiting`);
  process.exit(2);
}, hardLimitMs + 30_000).unref();

const seconds = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');
function latencyLine(name: string, summary: LatencySummary): string {
  const unanswered = summary.unanswered > 0 ? ` (${summary.unanswered} unanswered, counted as waited so far)` : '';
  return `${name.padEnd(9)} n=${String(summary.sent).padStart(3)}  p50 ${seconds(summary.p50Ms).padStart(9)}  p95 ${seconds(summary.p95Ms).padStart(9)}  max ${seconds(summary.maxMs).padStart(9)}${unanswered}`;
}

function report(result: IsolationResult): string[] {
  const lines = [
    '',
    `/budget reply time (every 500 ms over ${result.budgetChannels} channel(s); hostile inputs at +2 s of the hostile phase)`,
  ];
  lines.push(latencyLine('baseline', result.baseline), latencyLine('hostile', result.hostile));
  const ratio = result.hostile.p95Ms / result.baseline.p95Ms;
  lines.push(`p95 hostile / baseline: ${ratio.toFixed(1)}×   (done when: p95 < 2 s and max < 5 s)`);
  const worst = result.samples
    .filter((entry) => entry.phase === 'hostile')
    .sort((left, right) => (right.replyMs ?? Infinity) - (left.replyMs ?? Infinity))
    .slice(0, 3)
    .map(
      (entry) => `${seconds(entry.replyMs ?? Number.NaN)} sent at +${seconds(entry.sentAtMs - result.hostileStartMs)}`,
    );
  lines.push(`slowest: ${worst.join('; ')}`, '');
  for (const kind of kinds) {
    const outcome = result.outcomes.find((entry) => entry.kind === kind);
    if (!outcome) {
      lines.push(`${kind.padEnd(5)}: not sent`);
      continue;
    }
    const answer = outcome.answer;
    const text = answer ? answer.text.replace(/\s+/g, ' ').slice(0, 160) : '';
    lines.push(
      answer
        ? `${kind.padEnd(5)}: after ${outcome.seconds?.toFixed(1)} s ${answer.method}${answer.card ? ' (card)' : ''}: ${text}`
        : `${kind.padEnd(5)}: no answer by the end`,
    );
  }
  lines.push(
    '',
    `/healthz: ${result.health.polls} polls, ${result.health.failures.length} failed${result.health.failures.length ? ` (first at +${seconds((result.health.failures[0]?.atMs ?? result.startMs) - result.startMs)})` : ''}`,
    `peak RSS of the app: ${result.health.peakRssMb.toFixed(0)} MB`,
    result.exitedEarly
      ? `the app EXITED at +${result.exitedEarly.atSeconds.toFixed(1)} s (code ${result.exitedEarly.code}, signal ${result.exitedEarly.signal})`
      : 'the app stayed up',
  );
  return lines;
}

const result = await runIsolationScenario({
  appDir: resolve(values['app-dir'] ?? '.'),
  seconds: Number(values.seconds),
  baselineSeconds: Number(values['baseline-seconds']),
  budgetChannels: Number(values['budget-channels']),
  hostileAtSeconds: 2,
  outcomeWaitSeconds: Number(values['outcome-wait']),
  hardLimitMs,
  ...(values['work-threads'] === undefined ? {} : { workThreads: Number(values['work-threads']) }),
  docxXmlBytes: Math.round(Number(values['docx-mb']) * 1_000_000),
  pdfPages: Number(values['pdf-pages']),
  skip: skip as Set<HostileKind>,
  log: (line) => console.log(`[${elapsed()} s] ${line}`),
});
if (!result.ready) {
  console.log(result.outputTail.slice(-4_000));
  console.log('the app never became ready');
  process.exitCode = 1;
}
for (const line of report(result)) console.log(line);
if (values.json) {
  writeFileSync(values.json, JSON.stringify({ ...result, outputTail: undefined }, null, 2));
  console.log(`raw figures: ${values.json}`);
}
