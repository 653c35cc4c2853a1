/**
 * Worker-thread entry: builds the work side (src/composition/build-work-side.ts) from the same configuration and
 * serves calls from the ingress. Its model, index, tokenizer and Slack work then never delays an ack on the main
 * thread.
 */
import { parentPort } from 'node:worker_threads';
import { toDeskhandError } from '../../errors.ts';
import { createLogger } from '../../observability/logger.ts';
import { createMetricsRegistry } from '../../observability/metrics.ts';
import type { Work } from '../../work/work.ts';
import { buildWorkSide } from '../build-work-side.ts';
import { loadConfiguration } from '../config.ts';
import type { FromWorker, ToWorker } from './work-protocol.ts';

const port = parentPort;
if (!port) throw new Error('work-thread.ts must run in a worker thread');
const send = (message: FromWorker) => port.postMessage(message);

const loaded = loadConfiguration();
if (!loaded.ok) {
  send({ type: 'failed', message: loaded.problems.join('\n') });
} else {
  const configuration = loaded.configuration;
  const logger = createLogger({ level: configuration.logLevel }).child({ thread: 'work' });
  const registry = createMetricsRegistry();
  let work: Work;
  try {
    work = await buildWorkSide(configuration, logger, registry);
  } catch (error) {
    send({ type: 'failed', message: toDeskhandError(error).userMessage });
    throw error;
  }
  process.on('unhandledRejection', (reason) => logger.error({ err: reason, code: 'internal' }, 'unhandled rejection'));

  const reply = (id: number, promise: Promise<unknown>) =>
    promise.then(
      (value) => send({ type: 'result', id, ok: true, value }),
      (error: unknown) => {
        const coded = toDeskhandError(error);
        send({
          type: 'result',
          id,
          ok: false,
          code: coded.code,
          message: coded.message,
          userMessage: coded.userMessage,
        });
      },
    );

  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'identity':
        work.setIdentity(message.identity);
        return;
      case 'ready':
        void reply(message.id, work.ready());
        return;
      case 'metrics':
        void reply(message.id, registry.getMetricsAsJSON());
        return;
      case 'close':
        void reply(message.id, work.close(message.timeoutMs));
        return;
      case 'call': {
        const { id, method, request } = message;
        if (method === 'view') {
          void reply(
            id,
            work.view(request as Parameters<Work['view']>[0]).then(({ response, settled }) => {
              void settled.finally(() => send({ type: 'settled', id }));
              return { response };
            }),
          );
          return;
        }
        const call = work[method] as (request: unknown) => Promise<unknown>;
        void reply(id, call(request));
        return;
      }
    }
  });
  send({ type: 'started' });
}
