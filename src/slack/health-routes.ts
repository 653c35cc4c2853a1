/**
 * `GET /healthz`: the process is alive *and* can serve — when the work runs in threads, at least one is alive and
 * answering (503 otherwise, so the Docker health check restarts a process whose work side is gone, instead of one
 * that only acks). `GET /readyz`: each dependency answers (Redis, the work side's own stores, the work threads),
 * each reported by name. `GET /metrics`: this thread's metrics merged with the work threads'.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';

export interface ReadinessCheck {
  name: string;
  /** Resolves true when the dependency answers; a rejection or a timeout counts as not ready. */
  check: () => Promise<boolean>;
}

/** The work threads' state (src/composition/worker/work-pool.ts `health()`). */
export interface WorkThreadsHealth {
  /** False when no thread is alive, or none has answered for longer than the pool allows. */
  healthy: boolean;
  alive: number;
  /** Alive and answering heartbeats (not blocked by a CPU-heavy call). */
  responsive: number;
  total: number;
  restarts: number;
}

export interface HealthRouteOptions {
  registry: Registry;
  readiness: ReadinessCheck[];
  logger: Logger;
  /** Per-check time limit, so a hung dependency makes /readyz answer "not ready" rather than hang. */
  checkTimeoutMs?: number;
  /** False while shutting down: /readyz answers 503 so load balancers stop sending traffic. */
  accepting: () => boolean;
  /** Metrics recorded elsewhere (a worker thread), merged into the response. */
  externalMetrics?: () => Promise<MetricObjectWithValues<MetricValue<string>>[]>;
  /** The work threads' state; absent when the work runs on this event loop (then only the process is checked). */
  workThreads?: () => WorkThreadsHealth;
}

export type RouteHandler = (request: IncomingMessage, response: ServerResponse) => void;

export function healthRoutes(options: HealthRouteOptions): Record<'/healthz' | '/readyz' | '/metrics', RouteHandler> {
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  return {
    '/healthz': (_request, response) => {
      if (!options.workThreads) return sendJson(response, 200, { status: 'ok' });
      const { healthy, ...workThreads } = options.workThreads();
      if (!healthy) options.logger.error({ workThreads, code: 'internal' }, 'unhealthy: no work thread is serving');
      sendJson(response, healthy ? 200 : 503, { status: healthy ? 'ok' : 'unhealthy', workThreads });
    },
    '/readyz': (_request, response) => {
      void (async () => {
        const readiness = [...options.readiness];
        const threads = options.workThreads;
        if (threads) readiness.push({ name: 'workThreads', check: async () => threads().healthy });
        const results = await Promise.all(
          readiness.map(async ({ name, check }) => [name, await withTimeout(check(), timeoutMs)] as const),
        );
        const checks = Object.fromEntries(results);
        const ready = options.accepting() && results.every(([, ok]) => ok);
        if (!ready) options.logger.warn({ checks, code: 'upstream_unavailable' }, 'not ready');
        sendJson(response, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks });
      })();
    },
    '/metrics': (_request, response) => {
      renderMetrics(options).then(
        (body) => {
          response.writeHead(200, { 'content-type': options.registry.contentType });
          response.end(body);
        },
        (error: unknown) => {
          options.logger.error({ err: error, code: 'internal' }, 'metrics rendering failed');
          sendJson(response, 500, { status: 'error' });
        },
      );
    },
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function withTimeout(check: Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([check.catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function renderMetrics(options: HealthRouteOptions): Promise<string> {
  if (!options.externalMetrics) return options.registry.metrics();
  const [own, external] = await Promise.all([options.registry.getMetricsAsJSON(), options.externalMetrics()]);
  return AggregatorRegistry.aggregate([own, external]).metrics();
}
