/**
 * What a test file's process tells the runner (scripts/run-tests.ts) on its side channel: one JSON object per line
 * on the file descriptor named by CHANNEL_FD_ENV (fd 3, a pipe the runner reads). The channel is separate from
 * stdout/stderr so that nothing a test prints can forge or hide a result.
 */

/** Names the child's side-channel file descriptor. Read once and deleted, so grandchildren never inherit it. */
export const CHANNEL_FD_ENV = 'DESKHAND_TEST_RUNNER_FD';
/** How long after its tests end the child waits before reporting the handles that keep it alive. */
export const LEAK_GRACE_ENV = 'DESKHAND_TEST_RUNNER_LEAK_GRACE_MS';

export type ChildMessage =
  /** One test (not a suite) finished; `skip` counts skipped and todo tests, as the old runner did. */
  | { type: 'test'; result: 'pass' | 'fail' | 'skip' }
  /** Every test of the file has finished: the root `after` hooks ran and no top-level test is running. */
  | { type: 'done' }
  /** A top-level test started after `done` (registered after a top-level `await`): not finished after all. */
  | { type: 'resumed' }
  /** The process is still alive the grace period after `done`: what keeps its event loop running. */
  | { type: 'handles'; resources: string[] };

export function parseChildMessage(line: string): ChildMessage | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== 'object' || value === null || !('type' in value)) return undefined;
    return value as ChildMessage;
  } catch {
    return undefined;
  }
}
