/**
 * The test runner (scripts/run-tests.ts) cannot hang: it is run for real, as `npm test` runs it, on the fixtures
 * in test/fixtures/test-runner (named `*.fixture.ts`, so only these tests run them), with limits of seconds. The
 * three runs go at the same time and take about 5 s together.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const repository = join(import.meta.dirname, '..', '..');
const fixtures = 'test/fixtures/test-runner';
const hangs = `${fixtures}/hangs.fixture.ts`;
const leaks = `${fixtures}/leaks-handle.fixture.ts`;
const passes = `${fixtures}/passes.fixture.ts`;
const late = `${fixtures}/late-tests.fixture.ts`;
const FILE_TIMEOUT_MS = 4_000;
const DEADLINE_MS = 2_000;
const KILL_GRACE_MS = 500;
const LEAK_GRACE_MS = 1_000;
/** Allowance for a loaded machine (five sessions on two cores): the bounds prove "ends", not "ends fast". */
const SLACK_MS = 15_000;

interface RunnerRun {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
}

function runRunner(args: string[]): Promise<RunnerRun> {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('TEST_') || name === 'NODE_TEST_CONTEXT') delete env[name];
  const started = performance.now();
  const child = spawn(process.execPath, ['scripts/run-tests.ts', ...args], { cwd: repository, env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr, wallMs: performance.now() - started }));
  });
}

/** The line the runner prints when a file ends: `✖ <file> (pass …; 3.4 s): <why>`. */
function fileLine(output: string, file: string): { line: string; seconds: number } {
  const line = output
    .split('\n')
    .find((candidate) => candidate.startsWith(`✖ ${file} (`) || candidate.startsWith(`✔ ${file} (`));
  assert.ok(line, `no result line for ${file} in:\n${output}`);
  const duration = /; ([\d.]+) (ms|s)\)/.exec(line);
  assert.ok(duration, line);
  return { line, seconds: Number(duration[1]) / (duration[2] === 'ms' ? 1_000 : 1) };
}

/** The fixture prints the pid of a grandchild it started; the runner must have killed it with the group. */
function assertGrandchildGone(output: string): void {
  const pid = Number(/hangs\.fixture grandchild pid (\d+)/.exec(output)?.[1]);
  assert.ok(pid > 0, `no grandchild pid in:\n${output}`);
  let alive = true;
  try {
    process.kill(pid, 0);
    // Killed but not yet reaped by whichever process adopted it counts as gone.
    alive = !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    alive = false;
  }
  assert.equal(alive, false, `grandchild ${pid} survived the runner`);
}

// Started at load so that the three runs overlap; each test awaits its own. Only the hanging file gets a tight
// limit: the others must pass even on a loaded machine, where starting Node alone can take seconds.
const limited = runRunner([
  `--file-timeout=${FILE_TIMEOUT_MS}`,
  `--kill-grace=${KILL_GRACE_MS}`,
  '--concurrency=2',
  hangs,
  passes,
]);
const leaking = runRunner([`--leak-grace=${LEAK_GRACE_MS}`, '--concurrency=3', passes, leaks, late]);
const deadline = runRunner([
  `--deadline=${DEADLINE_MS}`,
  `--kill-grace=${KILL_GRACE_MS}`,
  '--concurrency=1',
  hangs,
  passes,
]);

test('a file that never ends is killed at its time limit with its process group, named, its last output shown; a passing file alongside counts', async () => {
  const run = await limited;
  assert.equal(run.code, 1, run.stdout);
  const hang = fileLine(run.stdout, hangs);
  assert.match(hang.line, /killed: still running after the per-file limit of 4\.0 s$/);
  // Killed at the limit: SIGTERM is ignored there, so SIGKILL follows after the kill grace.
  assert.ok(hang.seconds >= FILE_TIMEOUT_MS / 1_000, hang.line);
  assert.ok(hang.seconds < (FILE_TIMEOUT_MS + KILL_GRACE_MS + SLACK_MS) / 1_000, hang.line);
  assert.ok(run.wallMs < FILE_TIMEOUT_MS + KILL_GRACE_MS + SLACK_MS, `the runner took ${run.wallMs} ms`);
  // The last 40 lines of its output, the earlier ones left out.
  assert.match(run.stdout, /last 40 lines of its output:\n {2}… 12 earlier lines omitted\n/);
  assert.match(run.stdout, /\n {2}hangs\.fixture line 13\n/);
  assert.match(
    run.stdout,
    /\n {2}hangs\.fixture line 50\n {2}hangs\.fixture grandchild pid \d+\n {2}hangs\.fixture blocks its event loop now\n/,
  );
  assert.doesNotMatch(run.stdout, /hangs\.fixture line 12\n/);
  assertGrandchildGone(run.stdout);
  assert.match(run.stdout, new RegExp(`✖ failed files:\\n  ${hangs}: killed`));
  assert.match(fileLine(run.stdout, passes).line, /^✔ .*\(pass 2, fail 0, skip 1; /);
  // The killed file is one failure.
  assert.equal(run.stdout.trimEnd().split('\n').at(-1), '2 passed, 1 failed, 1 skipped');
});

test('a file that leaks a handle is killed after the grace period and reported with the handle types', async () => {
  const run = await leaking;
  assert.equal(run.code, 1, run.stdout);
  assert.match(
    fileLine(run.stdout, leaks).line,
    /^✖ .*\(pass 1, fail 0, skip 0; .*: leaked: its tests finished but the process was still alive 1\.0 s later, kept alive by TCPServerWrap, Timeout; killed$/,
  );
  assert.ok(run.wallMs < LEAK_GRACE_MS + SLACK_MS, `the runner took ${run.wallMs} ms`);
  assert.match(fileLine(run.stdout, passes).line, /^✔ .*\(pass 2, fail 0, skip 1; /);
  // Idle between its tests (root hooks already ran), then busy longer than the leak grace: not a leak.
  assert.match(fileLine(run.stdout, late).line, /^✔ .*\(pass 2, fail 0, skip 0; /);
  // 2 + 1 + 2 passed; the leak is one failure.
  assert.equal(run.stdout.trimEnd().split('\n').at(-1), '5 passed, 1 failed, 1 skipped');
});

test('the overall deadline kills and names the running file and lists the ones not started', async () => {
  const run = await deadline;
  assert.equal(run.code, 1, run.stdout);
  assert.match(
    run.stdout,
    new RegExp(`⏱ overall deadline of 2\\.0 s passed: killing 1 running file\\(s\\): ${hangs}; 1 not started`),
  );
  assert.match(fileLine(run.stdout, hangs).line, /killed: still running when the overall deadline of 2\.0 s passed$/);
  assert.match(run.stdout, new RegExp(`✖ not run \\(overall deadline\\):\\n  ${passes}\\n`));
  assert.ok(run.wallMs < DEADLINE_MS + KILL_GRACE_MS + SLACK_MS, `the runner took ${run.wallMs} ms`);
  assert.equal(run.stdout.trimEnd().split('\n').at(-1), '0 passed, 1 failed, 0 skipped');
  assertGrandchildGone(run.stdout);
});
