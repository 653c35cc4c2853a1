/**
 * Loaded with `--import` into every test file's process by the runner (scripts/run-tests.ts); does nothing
 * anywhere else (no channel: a worker thread, a forked grandchild, a file run by hand).
 *
 * Guarantees: the runner is told `done` once the root test's `after` hooks run and no top-level test is running,
 * which is when a well-behaved process exits. If it is still alive LEAK_GRACE_ENV ms later, it reports
 * `process.getActiveResourcesInfo()` (e.g. `TCPServerWrap`, `Timeout`, `TCPSocketWrap`) minus its own stdout and
 * stderr, so the runner can name the leak; then the runner kills it. The report timer is unref'd: it never keeps
 * the process alive nor shows up in the list.
 *
 * Measured on Node 24.21: root hooks run once the root's queue is empty, even when a handle keeps the process alive
 * (the root test itself only ends when the event loop drains, so a leaky file never reports its end). The queue can
 * also empty early: a file that registers more tests after a top-level `await` gets its root `after` hooks first.
 * So top-level tests starting later (seen by the reporter, child-reporter.ts) cancel the report (`resumed`) and it
 * is rearmed when they end. This hook is registered first, so a file's own root `after` hooks run after it and
 * have the grace period to finish closing things.
 */
import { writeSync } from 'node:fs';
import { after } from 'node:test';
import { isMainThread } from 'node:worker_threads';
import { CHANNEL_FD_ENV, type ChildMessage, LEAK_GRACE_ENV } from './protocol.ts';

const channelFd = isMainThread ? Number(process.env[CHANNEL_FD_ENV]) : Number.NaN;
const leakGraceMs = Number(process.env[LEAK_GRACE_ENV] ?? 5_000);
if (isMainThread) {
  delete process.env[CHANNEL_FD_ENV];
  delete process.env[LEAK_GRACE_ENV];
}
const channelOpen = Number.isInteger(channelFd) && channelFd > 2;
/** What is open before any test runs (stdout and stderr, pipes to the runner): not a leak, left out of reports. */
const baseline = channelOpen ? startingResources() : [];

function startingResources(): string[] {
  // Creating the streams now (they are lazy) puts them in the list, whoever writes to them later.
  if (!process.stdout.writable || !process.stderr.writable) return [];
  return process.getActiveResourcesInfo();
}

function leakedResources(): string[] {
  const leaked = process.getActiveResourcesInfo();
  for (const resource of baseline) {
    const index = leaked.indexOf(resource);
    if (index >= 0) leaked.splice(index, 1);
  }
  return leaked;
}

/** Writes one message to the runner, synchronously (no stream, so no handle of its own). */
export function send(message: ChildMessage): void {
  if (!channelOpen) return;
  try {
    writeSync(channelFd, `${JSON.stringify(message)}\n`);
  } catch {
    // The runner is gone or closed the channel: nothing left to tell.
  }
}

let rootHooksRan = false;
let running = 0;
let leakReport: NodeJS.Timeout | undefined;

function settle(): void {
  if (!rootHooksRan || running > 0 || leakReport !== undefined) return;
  send({ type: 'done' });
  leakReport = setTimeout(() => send({ type: 'handles', resources: leakedResources() }), leakGraceMs).unref();
}

/** Called by the reporter when a top-level test starts (`test:dequeue`) and ends (`test:complete`). */
export function topLevelTest(phase: 'start' | 'end'): void {
  if (phase === 'end') {
    running = Math.max(0, running - 1);
    settle();
  } else {
    running += 1;
    if (leakReport === undefined) return;
    clearTimeout(leakReport);
    leakReport = undefined;
    send({ type: 'resumed' });
  }
}

if (channelOpen) {
  after(() => {
    rootHooksRan = true;
    settle();
  });
}
