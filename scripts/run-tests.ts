/**
 * Test entry point (`npm test`). Runs every `*.test.ts` under `test/` (or the files and directories given; a file
 * named explicitly runs whatever its suffix) and cannot hang.
 * Usage: `npm test [-- [--file-timeout 180s] [--deadline 15m] [--leak-grace 5s] [--kill-grace 2s]
 * [--concurrency N] <file-or-directory>…]`; each flag also reads an environment variable: TEST_FILE_TIMEOUT_MS,
 * TEST_DEADLINE_MS, TEST_LEAK_GRACE_MS, TEST_KILL_GRACE_MS, TEST_CONCURRENCY (durations in ms; flags also take
 * `500ms`, `90s`, `3m`).
 *
 * Guarantees:
 * - Every file runs in its own Node process (the runner's `process.execPath`, so Node 24), in its own process group,
 *   at most `--concurrency` (default: available cores) at a time, each test with Node's 120 s test timeout.
 * - A file still running after `--file-timeout` (default 180 s) is killed (its group: SIGTERM, SIGKILL after
 *   `--kill-grace`), named, counted as one failure, and the last 40 lines of its stdout+stderr are printed.
 * - A file whose tests have all finished but whose process is still alive `--leak-grace` (default 5 s) later is
 *   killed and reported with the handles keeping it alive (`process.getActiveResourcesInfo()`: `TCPServerWrap`,
 *   `Timeout`, …). A leak counts as one failure: it is a hang waiting to happen (the old runner waited forever on
 *   it) and a resource the test forgot to close, and it is deterministic, so it is cheap to fix now.
 * - When `--deadline` (default 15 min, about 5× a full run) passes, every running file is killed and named, the
 *   files not started are listed as not run, and the run fails.
 * - The process therefore ends by itself within deadline + kill grace + a few seconds. Output appears at least
 *   once per file time limit (a file finishes or is killed), so a CI watching for silence never sees a long one.
 * - The last line is `N passed, N failed, N skipped` (CI reads it); the exit code is 1 when a test failed, a file
 *   was killed, leaked or crashed, a file was not run, or no test ran at all (a green run that executed nothing
 *   proves nothing).
 *
 * Design (measured on Node 24.21): `node:test`'s `run()` waits for each file's process to exit with no limit, and
 * its `timeout` is per test, so a leaked handle, a blocked event loop or a hang outside a test hangs the run
 * silently; it cannot kill a file's descendants nor say which file is stuck. So the runner spawns each file itself
 * as `node --import child-preload.ts --test-reporter child-reporter.ts file` (scripts/test-runner/): run
 * directly, not under `--test`, which would add a second process per file. There the root test ends only when
 * the event loop drains, so a leaky file never reports its end — but a root `after` hook registered by the preload
 * does run once the tests finish, which is what tells a leak from a slow test. `--test-force-exit` is not used: it
 * would hide the leak instead of naming it. Results travel on a separate pipe (fd 3) as JSON lines, not parsed
 * from the text. Each file's output is printed as one block when it ends (two files run at once; interleaved
 * lines would be unreadable), indented under its name in spec style.
 */
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type FileLimits, type FileResult, killAllGroups, runFile } from './test-runner/run-file.ts';

const LAST_LINES = 40;

interface Settings extends FileLimits {
  deadlineMs: number;
  concurrency: number;
}

function parseDuration(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`${name}: expected a duration such as 500ms, 90s, 3m or a number of ms, got "${text}"`);
  const unit = match[2] === 'm' ? 60_000 : match[2] === 's' ? 1_000 : 1;
  return Math.round(Number(match[1]) * unit);
}

function readSettings(): { settings: Settings; paths: string[] } {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'file-timeout': { type: 'string' },
      deadline: { type: 'string' },
      'leak-grace': { type: 'string' },
      'kill-grace': { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  const duration = (flag: keyof typeof values, env: string, fallback: number): number => {
    const text = values[flag] ?? process.env[env];
    return text === undefined || text === '' ? fallback : parseDuration(`--${flag} / ${env}`, text);
  };
  const fileTimeoutMs = duration('file-timeout', 'TEST_FILE_TIMEOUT_MS', 180_000);
  const concurrencyText = values.concurrency ?? process.env.TEST_CONCURRENCY;
  const concurrency = concurrencyText ? Number(concurrencyText) : availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency: "${concurrencyText}"`);
  return {
    settings: {
      fileTimeoutMs,
      deadlineMs: duration('deadline', 'TEST_DEADLINE_MS', 15 * 60_000),
      leakGraceMs: duration('leak-grace', 'TEST_LEAK_GRACE_MS', 5_000),
      killGraceMs: duration('kill-grace', 'TEST_KILL_GRACE_MS', 2_000),
      testTimeoutMs: Math.min(120_000, fileTimeoutMs),
      concurrency,
    },
    paths: positionals,
  };
}

/** Directories contribute their `*.test.ts` files; a file named explicitly is taken as it is. */
function collect(path: string, into: string[], explicit: boolean): void {
  const stats = statSync(path);
  if (stats.isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue;
      collect(join(path, entry), into, false);
    }
  } else if (explicit || path.endsWith('.test.ts')) {
    into.push(resolve(path));
  }
}

function formatMs(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1_000);
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function display(file: string): string {
  const path = relative(process.cwd(), file);
  return path === '' || path.startsWith('..') ? file : path;
}

function formatHandles(handles: string[] | undefined): string {
  if (handles === undefined) return 'unknown (its event loop did not answer)';
  if (handles.length === 0) return 'none reported';
  const counts = new Map<string, number>();
  for (const handle of handles) counts.set(handle, (counts.get(handle) ?? 0) + 1);
  return [...counts].map(([handle, count]) => (count > 1 ? `${handle} ×${count}` : handle)).join(', ');
}

/** Why the file failed, in a few words; undefined when it passed. */
function problem(result: FileResult, settings: Settings): string | undefined {
  switch (result.outcome) {
    case 'passed':
      return undefined;
    case 'failed':
      return `${result.failed} failed test${result.failed === 1 ? '' : 's'}`;
    case 'crashed':
      return result.signal
        ? `killed by ${result.signal} with no failing test reported`
        : `exited with code ${result.exitCode} with no failing test reported`;
    case 'timed-out':
      return `killed: still running after the per-file limit of ${formatMs(settings.fileTimeoutMs)}`;
    case 'deadline':
      return `killed: still running when the overall deadline of ${formatMs(settings.deadlineMs)} passed`;
    case 'leaked':
      return `leaked: its tests finished but the process was still alive ${formatMs(settings.leakGraceMs)} later, kept alive by ${formatHandles(result.handles)}; killed`;
  }
}

function printFile(result: FileResult, settings: Settings): void {
  const killed = result.outcome === 'timed-out' || result.outcome === 'deadline';
  let lines = result.output.replace(/\n+$/, '').split('\n');
  if (lines.length === 1 && lines[0] === '') lines = [];
  const out: string[] = [`▶ ${display(result.file)}`];
  if (killed) {
    const omitted = Math.max(0, lines.length - LAST_LINES);
    out.push(lines.length === 0 ? '  (no output)' : `  last ${lines.length - omitted} lines of its output:`);
    if (omitted > 0) out.push(`  … ${omitted} earlier lines omitted`);
    lines = lines.slice(-LAST_LINES);
  }
  for (const line of lines) out.push(`  ${line}`);
  const counts = `pass ${result.passed}, fail ${result.failed}, skip ${result.skipped}; ${formatMs(result.durationMs)}`;
  const why = problem(result, settings);
  out.push(`${why ? '✖' : '✔'} ${display(result.file)} (${counts})${why ? `: ${why}` : ''}`);
  if (result.strays) out.push(`⚠ ${display(result.file)} left processes running in its group (killed)`);
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<number> {
  const { settings, paths } = readSettings();
  const files: string[] = [];
  for (const path of paths.length > 0 ? paths : ['test']) collect(path, files, paths.length > 0);

  const started = performance.now();
  const queue = [...files];
  const results: FileResult[] = [];
  const running = new Set<string>();
  const deadline = new AbortController();
  const deadlineTimer = setTimeout(() => {
    const names = [...running].map(display).join(', ');
    process.stdout.write(
      `\n⏱ overall deadline of ${formatMs(settings.deadlineMs)} passed: killing ${running.size} running file(s): ${names}; ${queue.length} not started\n\n`,
    );
    deadline.abort();
  }, settings.deadlineMs);

  const worker = async (): Promise<void> => {
    while (!deadline.signal.aborted && queue.length > 0) {
      const file = queue.shift() as string;
      running.add(file);
      const result = await runFile(file, settings, deadline.signal);
      running.delete(file);
      results.push(result);
      printFile(result, settings);
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.concurrency, files.length) }, worker));
  clearTimeout(deadlineTimer);

  const notRun = queue.map(display);
  const problems = results.flatMap((result) => {
    const why = problem(result, settings);
    return why ? [`  ${display(result.file)}: ${why}`] : [];
  });
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const result of results) {
    passed += result.passed;
    skipped += result.skipped;
    // A killed, leaking or crashed file is one failure on top of any test it reported as failed.
    failed += result.failed + (result.outcome === 'passed' || result.outcome === 'failed' ? 0 : 1);
  }
  const slowest = [...results].sort((a, b) => b.durationMs - a.durationMs).slice(0, 3);
  const summary = [
    '',
    `ℹ files ${files.length}: ${results.length - problems.length} passed, ${problems.length} failed, ${notRun.length} not run`,
    `ℹ duration ${formatMs(performance.now() - started)} (concurrency ${settings.concurrency}; limits ${formatMs(settings.fileTimeoutMs)} per file, ${formatMs(settings.deadlineMs)} overall)`,
    `ℹ slowest: ${slowest.map((result) => `${display(result.file)} (${formatMs(result.durationMs)})`).join(', ')}`,
    ...(problems.length > 0 ? ['✖ failed files:', ...problems] : []),
    ...(notRun.length > 0 ? ['✖ not run (overall deadline):', ...notRun.map((file) => `  ${file}`)] : []),
    '',
    `${passed} passed, ${failed} failed, ${skipped} skipped`,
  ];
  process.stdout.write(`${summary.join('\n')}\n`);
  if (passed === 0) {
    process.stderr.write(`No test ran (${files.length} test files found): failing on purpose.\n`);
    return 1;
  }
  return failed > 0 || notRun.length > 0 ? 1 : 0;
}

process.on('exit', killAllGroups);
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    killAllGroups();
    process.stderr.write(`\nInterrupted by ${signal}: killed every running test file.\n`);
    process.exit(code);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
