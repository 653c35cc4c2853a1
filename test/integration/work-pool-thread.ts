/**
 * A work thread that serves a scripted `Work` (through the real serve-work.ts protocol and heartbeat) for the work
 * pool tests: a route request's text says what to do — `heavy:<ms>` blocks the thread's event loop (a CPU-bound
 * call), `sleep:<ms>` waits (an I/O-bound call), `crash` ends the thread as an out-of-memory error would,
 * `whoami` answers with the identity the thread was given; anything else answers at once (a `/budget`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { serveWork } from '../../src/composition/worker/serve-work.ts';
import type { WorkThreadData } from '../../src/composition/worker/work-protocol.ts';
import { counter, createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { IncomingRequest } from '../../src/ports/capability.ts';
import type { RouterOutcome } from '../../src/router/router.ts';
import type { BotIdentity } from '../../src/router/thread-context.ts';
import type { Work } from '../../src/work/work.ts';

const port = parentPort;
if (!port) throw new Error('work-pool-thread.ts must run in a worker thread');
const registry = createMetricsRegistry();
const calls = counter(registry, 'test_pool_calls_total', 'Calls this thread served');
let identity: BotIdentity = {};

async function route(request: IncomingRequest): Promise<RouterOutcome> {
  calls.inc();
  const [verb, argument] = request.text.split(':');
  if (verb === 'heavy') {
    const until = Date.now() + Number(argument);
    while (Date.now() < until) {
      // Busy: nothing else runs on this thread meanwhile.
    }
  }
  if (verb === 'sleep') await sleep(Number(argument));
  if (verb === 'crash') process.exit(7);
  // Structured-clone data: the tests read these extra fields.
  return { status: 'done', route: 'budget', classified: false, threadId, identity } as unknown as RouterOutcome;
}

const work: Work = {
  route,
  reaction: async () => ({ status: 'ignored' }),
  action: async () => {},
  view: async () => ({ settled: Promise.resolve() }),
  fileShared: async () => {},
  assistantThread: async () => {},
  homeOpened: async () => {},
  setIdentity(value) {
    identity = value;
  },
  ready: async () => true,
  close: async () => {},
};

serveWork({ port, work, registry, heartbeatMs: (workerData as WorkThreadData).heartbeatMs });
