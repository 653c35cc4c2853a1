/**
 * Runs one test file in its own Node process (the runner's own `process.execPath`, so Node 24) and always comes
 * back: whatever the file does, the promise settles within its time limit plus the kill grace plus a second or two.
 *
 * - The child is the leader of a new process group (`detached`), so anything it spawns and does not detach is
 *   killed with it: SIGTERM to the group, then SIGKILL after `killGraceMs` (a SIGTERM handler or a busy loop cannot
 *   keep it alive). After the child exits, the group is SIGKILLed again to remove processes it left behind.
 * - stdout and stderr are kept together in arrival order; results come on the side channel (fd 3, see
 *   protocol.ts), never parsed from the text.
 * - A file is `leaked` when its tests finished but the process did not exit within `leakGraceMs`: the child names
 *   the handles keeping it alive (child-preload.ts) and is killed. If the child cannot even do that (blocked event
 *   loop), it is killed 2 s later with its handles unknown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CHANNEL_FD_ENV, LEAK_GRACE_ENV, parseChildMessage } from './protocol.ts';

export interface FileLimits {
  /** Wall time from spawn until the file is killed. */
  fileTimeoutMs: number;
  /** Time a file may stay alive after its tests have finished. */
  leakGraceMs: number;
  /** Time between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** Node's own per-test timeout (`--test-timeout`), which fails one test without killing the file. */
  testTimeoutMs: number;
}

export type FileOutcome = 'passed' | 'failed' | 'crashed' | 'timed-out' | 'leaked' | 'deadline';

export interface FileResult {
  file: string;
  outcome: FileOutcome;
  passed: number;
  failed: number;
  skipped: number;
  durationMs: number;
  /** stdout and stderr, interleaved as they arrived. */
  output: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** For `leaked`: what kept the process alive (undefined when the child could not say). */
  handles?: string[];
  /** Processes of the file's group were still running after the file's process exited (they were killed). */
  strays: boolean;
}

const PRELOAD = fileURLToPath(new URL('./child-preload.ts', import.meta.url));
const REPORTER = new URL('./child-reporter.ts', import.meta.url).href;
const BLOCKED_LOOP_MARGIN_MS = 2_000;
const CLOSE_WAIT_MS = 2_000;

/** Process groups still running, so the runner can kill them all if it is itself interrupted. */
const liveGroups = new Set<number>();

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: nothing left in the group.
  }
}

export function killAllGroups(): void {
  for (const pid of liveGroups) signalGroup(pid, 'SIGKILL');
  liveGroups.clear();
}

export function runFile(file: string, limits: FileLimits, deadline: AbortSignal): Promise<FileResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [CHANNEL_FD_ENV]: '3',
    [LEAK_GRACE_ENV]: String(limits.leakGraceMs),
  };
  // Set when the runner itself runs under `node --test`; a child that sees it would speak the internal protocol.
  delete env.NODE_TEST_CONTEXT;
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      `--import=${PRELOAD}`,
      `--test-reporter=${REPORTER}`,
      '--test-reporter-destination=stdout',
      `--test-timeout=${limits.testTimeoutMs}`,
      file,
    ],
    { detached: true, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] },
  );
  return new Promise((resolve) => supervise(child, file, limits, deadline, started, resolve));
}

function supervise(
  child: ChildProcess,
  file: string,
  limits: FileLimits,
  deadline: AbortSignal,
  started: number,
  resolve: (result: FileResult) => void,
): void {
  const pid = child.pid;
  const chunks: string[] = [];
  const counts = { passed: 0, failed: 0, skipped: 0 };
  let stopReason: 'timed-out' | 'leaked' | 'deadline' | undefined;
  let handles: string[] | undefined;
  let spawnError: Error | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, action: () => void): void => {
    timers.add(setTimeout(action, ms));
  };

  const stop = (reason: NonNullable<typeof stopReason>): void => {
    if (stopReason !== undefined || pid === undefined) return;
    stopReason = reason;
    signalGroup(pid, 'SIGTERM');
    later(limits.killGraceMs, () => signalGroup(pid, 'SIGKILL'));
  };
  const onDeadline = (): void => stop('deadline');

  if (pid !== undefined) liveGroups.add(pid);
  child.stdout?.setEncoding('utf8').on('data', (text: string) => chunks.push(text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => chunks.push(text));
  let pending = '';
  let backstop: NodeJS.Timeout | undefined;
  const channel = child.stdio[3] as Readable | null;
  channel?.setEncoding('utf8').on('data', (text: string) => {
    const lines = (pending + text).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const message = parseChildMessage(line);
      if (message?.type === 'test') {
        if (message.result === 'pass') counts.passed += 1;
        else if (message.result === 'fail') counts.failed += 1;
        else counts.skipped += 1;
      } else if (message?.type === 'done') {
        clearTimeout(backstop);
        backstop = setTimeout(() => stop('leaked'), limits.leakGraceMs + BLOCKED_LOOP_MARGIN_MS);
      } else if (message?.type === 'resumed') {
        clearTimeout(backstop);
      } else if (message?.type === 'handles') {
        handles = message.resources;
        stop('leaked');
      }
    }
  });
  later(limits.fileTimeoutMs, () => stop('timed-out'));
  if (deadline.aborted) onDeadline();
  else deadline.addEventListener('abort', onDeadline, { once: true });

  let settled = false;
  const finish = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
    if (settled) return;
    settled = true;
    for (const timer of timers) clearTimeout(timer);
    clearTimeout(backstop);
    deadline.removeEventListener('abort', onDeadline);
    let strays = false;
    if (pid !== undefined) {
      strays = stopReason === undefined && signalGroup(pid, 0);
      signalGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
    }
    // Output still in flight arrives before 'close'; a pipe held open by an escaped grandchild must not hold us.
    let resolved = false;
    const done = (): void => {
      if (resolved) return;
      resolved = true;
      clearTimeout(closeTimer);
      for (const stream of child.stdio) stream?.destroy();
      if (spawnError) chunks.push(`\n${spawnError.stack ?? spawnError.message}\n`);
      resolve({
        file,
        outcome: outcomeOf(stopReason, exitCode, signal, counts.failed, spawnError),
        ...counts,
        durationMs: performance.now() - started,
        output: chunks.join(''),
        exitCode,
        signal,
        ...(handles ? { handles } : {}),
        strays,
      });
    };
    const closeTimer = setTimeout(done, CLOSE_WAIT_MS);
    child.once('close', done);
  };
  child.once('exit', finish);
  child.once('error', (error) => {
    spawnError = error;
    if (pid === undefined) finish(null, null);
  });
}

function outcomeOf(
  stopReason: 'timed-out' | 'leaked' | 'deadline' | undefined,
  exitCode: number | null,
  signal: NodeJS.Signals | null,
  failed: number,
  spawnError: Error | undefined,
): FileOutcome {
  if (stopReason) return stopReason;
  if (failed > 0) return 'failed';
  if (exitCode === 0 && signal === null && !spawnError) return 'passed';
  return 'crashed';
}
