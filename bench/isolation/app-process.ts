/**
 * The app under measurement for the isolation bench and test: `node src/main.ts` started the way `npm start`
 * starts it, from any checkout (`appDir`, so the bench in /work/main can measure an older worktree), plus the two
 * probes a stalled process cannot fake — `/healthz` polled every second and the child's resident memory read from
 * /proc (`ps` where /proc is missing) every second.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface AppProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr (the last 4 MB). */
  output: () => string;
  /** `{ code, signal, atMs }` once it exited (atMs: performance.now()), else undefined. */
  exit: () => { code: number | null; signal: NodeJS.Signals | null; atMs: number } | undefined;
}

const outputLimit = 4 * 1024 * 1024;

/** Starts `node src/main.ts` in `appDir` with only `environment` (plus PATH), as the Dockerfile/npm start do. */
export function startApp(appDir: string, environment: Record<string, string>): AppProcess {
  let output = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null; atMs: number } | undefined;
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: appDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...environment },
  });
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > outputLimit) output = output.slice(-outputLimit / 2);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  child.once('exit', (code, signal) => {
    exit = { code, signal, atMs: performance.now() };
  });
  return { child, output: () => output, exit: () => exit };
}

/** Polls `GET /readyz` until 200; false when `timeoutMs` passes or the process exits first. */
export async function waitUntilReady(port: number, app: AppProcess, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && app.exit() === undefined) {
    const status = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return true;
    await sleep(100);
  }
  return false;
}

/** Stops the app: SIGTERM, SIGKILL after `graceMs`. Resolves once it has exited. */
export async function stopApp(app: AppProcess, graceMs = 5_000): Promise<void> {
  if (app.exit() !== undefined) return;
  const exited = new Promise<void>((resolve) => app.child.once('exit', () => resolve()));
  app.child.kill('SIGTERM');
  const killer = setTimeout(() => app.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}

/** Resident set size of a process in MB, or undefined once it is gone. */
export function residentMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kilobytes = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kilobytes === undefined ? undefined : Number(kilobytes) / 1024;
  } catch {
    try {
      const text = execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim();
      return text === '' ? undefined : Number(text) / 1024;
    } catch {
      return undefined;
    }
  }
}

export interface HealthProbe {
  polls: number;
  /** Polls that did not answer 200 within 2 s: `{ atMs, status }` (status 0: no answer). */
  failures: { atMs: number; status: number }[];
  /** `{ atMs, mb }` every second. */
  rss: { atMs: number; mb: number }[];
  peakRssMb: number;
  stop: () => Promise<void>;
}

/** Polls `/healthz` and samples RSS every second until `stop()`; each poll gives up after 2 s. */
export function probeHealth(port: number, app: AppProcess): HealthProbe {
  const probe: HealthProbe = { polls: 0, failures: [], rss: [], peakRssMb: 0, stop: async () => {} };
  let running = true;
  const pending = new Set<Promise<void>>();
  const pollOnce = async (atMs: number) => {
    const status = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.status,
      () => 0,
    );
    probe.polls += 1;
    if (status !== 200) probe.failures.push({ atMs, status });
  };
  const timer = setInterval(() => {
    if (!running) return;
    const atMs = performance.now();
    const pid = app.child.pid;
    const mb = pid === undefined || app.exit() !== undefined ? undefined : residentMb(pid);
    if (mb !== undefined) {
      probe.rss.push({ atMs, mb });
      probe.peakRssMb = Math.max(probe.peakRssMb, mb);
    }
    const poll = pollOnce(atMs);
    pending.add(poll);
    void poll.finally(() => pending.delete(poll));
  }, 1_000);
  probe.stop = async () => {
    running = false;
    clearInterval(timer);
    await Promise.all(pending);
  };
  return probe;
}
