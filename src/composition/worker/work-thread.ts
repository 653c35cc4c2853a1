/**
 * Worker-thread entry: builds the work side (src/composition/build-work-side.ts) from the same configuration and
 * serves calls from the ingress (serve-work.ts). Its model, index, tokenizer and Slack work then never delays an
 * ack on the main thread. The pool (work-pool.ts) runs several of these.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { toDeskhandError } from '../../errors.ts';
import { createLogger } from '../../observability/logger.ts';
import { createMetricsRegistry } from '../../observability/metrics.ts';
import type { Work } from '../../work/work.ts';
import { buildWorkSide } from '../build-work-side.ts';
import { loadConfiguration } from '../config.ts';
import { serveWork } from './serve-work.ts';
import { RemoteVectorIndex } from './shared-index.ts';
import type { FromWorker, WorkThreadData } from './work-protocol.ts';

const port = parentPort;
if (!port) throw new Error('work-thread.ts must run in a worker thread');
const send = (message: FromWorker) => port.postMessage(message);
const data = workerData as WorkThreadData;

const loaded = loadConfiguration();
if (!loaded.ok) {
  send({ type: 'failed', message: loaded.problems.join('\n') });
} else {
  const configuration = loaded.configuration;
  const logger = createLogger({ level: configuration.logLevel }).child({ thread: 'work', threadId });
  const registry = createMetricsRegistry();
  let work: Work;
  try {
    const { vectorIndexPort } = data;
    work = await buildWorkSide(
      configuration,
      logger,
      registry,
      vectorIndexPort ? { vectorIndex: new RemoteVectorIndex(vectorIndexPort) } : {},
    );
  } catch (error) {
    send({ type: 'failed', message: toDeskhandError(error).userMessage });
    throw error;
  }
  process.on('unhandledRejection', (reason) => logger.error({ err: reason, code: 'internal' }, 'unhandled rejection'));
  serveWork({ port, work, registry, heartbeatMs: data.heartbeatMs });
}
