/**
 * Index-thread entry: opens the embedded vector index (`DATA_DIR/index`, as build-vector-index.ts does) once, and
 * serves it to every work thread that connects (shared-index.ts explains why it is not opened per thread).
 * Messages from the main thread: `connect` (a MessagePort to serve), `close`.
 */
import { join } from 'node:path';
import { type MessagePort, parentPort } from 'node:worker_threads';
import { EmbeddedVectorIndex } from '../../adapters/embedded-vector-index.ts';
import { toDeskhandError } from '../../errors.ts';
import { createLogger } from '../../observability/logger.ts';
import { loadConfiguration } from '../config.ts';
import { serveVectorIndex } from './shared-index.ts';

export type ToIndexThread = { type: 'connect'; port: MessagePort } | { type: 'close' };
export type FromIndexThread = { type: 'started' } | { type: 'failed'; message: string } | { type: 'closed' };

const port = parentPort;
if (!port) throw new Error('index-thread.ts must run in a worker thread');
const send = (message: FromIndexThread) => port.postMessage(message);

const loaded = loadConfiguration();
if (!loaded.ok) {
  send({ type: 'failed', message: loaded.problems.join('\n') });
} else {
  const configuration = loaded.configuration;
  const logger = createLogger({ level: configuration.logLevel }).child({ thread: 'index' });
  const index = new EmbeddedVectorIndex({ directory: join(configuration.dataDir, 'index'), logger });
  try {
    await index.ensureReady();
  } catch (error) {
    send({ type: 'failed', message: toDeskhandError(error).userMessage });
    throw error;
  }
  port.on('message', (message: ToIndexThread) => {
    if (message.type === 'connect') serveVectorIndex(message.port, index);
    if (message.type === 'close') {
      index.close().then(
        () => send({ type: 'closed' }),
        (error: unknown) => {
          logger.warn({ err: error }, 'the index did not close cleanly');
          send({ type: 'closed' });
        },
      );
    }
  });
  send({ type: 'started' });
}
