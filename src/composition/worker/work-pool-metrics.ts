/**
 * The work pool's own metrics (queue length and wait, calls in flight and event-loop delay per thread, threads
 * alive and restarted, refusals), on the ingress's registry, and the time limit on each thread's metrics.
 */
import { counter, gauge, histogram, type Registry } from '../../observability/metrics.ts';

export function poolMetrics(registry: Registry) {
  return {
    queueLength: gauge(registry, 'deskhand_work_queue_length', 'Calls waiting in the work pool’s fair queue'),
    wait: histogram(
      registry,
      'deskhand_work_queue_wait_seconds',
      'Time calls waited in the work pool’s fair queue before a thread took them',
    ),
    inFlight: gauge(registry, 'deskhand_work_thread_in_flight', 'Calls in flight per work thread', ['thread']),
    loopDelay: gauge(
      registry,
      'deskhand_work_thread_event_loop_delay_seconds',
      'Worst event-loop delay in the last heartbeat of each work thread',
      ['thread'],
    ),
    alive: gauge(registry, 'deskhand_work_threads_alive', 'Work threads alive'),
    restarted: counter(registry, 'deskhand_work_threads_restarted_total', 'Work threads started to replace dead ones'),
    refused: counter(registry, 'deskhand_work_refused_total', 'Calls the work pool refused, by reason', ['reason']),
  };
}

/** `promise`'s value, or undefined when it rejects or takes longer than `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
