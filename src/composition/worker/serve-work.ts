/**
 * Serves a `Work` to the ingress over a worker thread's `parentPort` (the protocol in work-protocol.ts): calls,
 * identity, readiness, metrics and close, and a heartbeat from a timer on this thread's event loop with the worst
 * event-loop delay since the previous one (`monitorEventLoopDelay`). The heartbeat is what lets the pool see a
 * thread whose loop is blocked by a CPU-heavy call and send new work elsewhere (work-pool.ts).
 *
 * Separate from the production entry (work-thread.ts) so that a test can serve a scripted `Work` on a real thread.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { toDeskhandError } from '../../errors.ts';
import type { Registry } from '../../observability/metrics.ts';
import type { Work } from '../../work/work.ts';
import type { FromWorker, ToWorker } from './work-protocol.ts';

export function serveWork(options: { port: MessagePort; work: Work; registry: Registry; heartbeatMs: number }): void {
  const { port, work, registry } = options;
  const send = (message: FromWorker) => port.postMessage(message);
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
        clearInterval(heartbeat);
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
        const call = work[method] as ((request: unknown) => Promise<unknown>) | undefined;
        void reply(id, call ? call(request) : Promise.reject(new Error(`this work side has no ${method}`)));
        return;
      }
    }
  });

  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let last = performance.now();
  const heartbeat = setInterval(() => {
    const now = performance.now();
    // The timer itself fires late by however long the loop was blocked; the histogram sees shorter blocks too.
    const lateMs = Math.max(0, now - last - options.heartbeatMs);
    last = now;
    send({ type: 'heartbeat', delayMs: Math.max(lateMs, delay.max / 1e6) });
    delay.reset();
  }, options.heartbeatMs);
  heartbeat.unref();
  send({ type: 'started' });
}
