/**
 * `GET /healthz`: the process is alive *and* can serve — when the work runs in threads, at least one is alive and
 * answering (503 otherwise, so the Docker health check restarts a process whose work side is gone, instead of one
 * that only acks). `GET /readyz`: each dependency answers (Redis, the work side's own stores, the work threads),
 * each reported by name, with the reason of each failing one. `GET /metrics`: this thread's metrics merged with
 * the work threads'.
 *
 * Redis is probed with a write (`redisWriteProbe`), not a PING: a demoted master (after a Sentinel failover) or a
 * replica still answers PING but refuses every write with `READONLY`, and a replica that reported ready while
 * answering every mention with a 500 is what issue 17 found. The probe is true again as soon as a write succeeds,
 * so readiness comes back without a restart (ioredis reconnects by itself).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';

/** A check's answer: ready or not, and why not (shown in `/readyz` and logged). */
export interface ReadinessResult {
  ready: boolean;
  reason?: string;
}

export interface ReadinessCheck {
  name: string;
  /** Resolves true (or `{ ready: true }`) when the dependency answers; a rejection or a timeout is not ready. */
  check: () => Promise<boolean | ReadinessResult>;
}

/** This process's id among the replicas: its probe key is its own, so replicas never race on one key. */
const replicaId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

/**
 * Readiness of Redis by a write: `SET <prefix>readyz:{<replica>} <time> PX <ttl>` on a key of this replica's own
 * (hash-tagged, so in a Cluster it is a single-slot command like every other), which expires by itself. Not ready
 * when the write fails (`READONLY` from a replica or a demoted master, `LOADING`, a connection error) or does not
 * answer within the route's time limit (a failover in progress: ioredis holds the command until it reconnects).
 */
export function redisWriteProbe(options: {
  /** One server, Sentinel or Cluster: only `SET` is used. */
  redis: Pick<Redis, 'set'>;
  keyPrefix: string;
  ttlMs?: number;
}): ReadinessCheck {
  const key = `${options.keyPrefix}readyz:{${replicaId}}`;
  const ttlMs = options.ttlMs ?? 10_000;
  return {
    name: 'redis',
    check: async () => {
      try {
        const reply = await options.redis.set(key, String(Date.now()), 'PX', ttlMs);
        return reply === 'OK' ? { ready: true } : { ready: false, reason: `unexpected reply to SET: ${reply}` };
      } catch (error) {
        return { ready: false, reason: (error as Error).message };
      }
    },
  };
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
        const checks = Object.fromEntries(results.map(([name, result]) => [name, result.ready]));
        const reasons = Object.fromEntries(
          results.flatMap(([name, result]) => (result.ready ? [] : [[name, result.reason ?? 'not ready']])),
        );
        const accepting = options.accepting();
        if (!accepting) reasons.shutdown = 'shutting down';
        const ready = accepting && results.every(([, result]) => result.ready);
        if (!ready) options.logger.warn({ checks, reasons, code: 'upstream_unavailable' }, 'not ready');
        sendJson(response, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not_ready',
          checks,
          ...(ready ? {} : { reasons }),
        });
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

async function withTimeout(check: Promise<boolean | ReadinessResult>, timeoutMs: number): Promise<ReadinessResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ReadinessResult>((resolve) => {
    timer = setTimeout(() => resolve({ ready: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const answered = check.then(
    (result): ReadinessResult => (typeof result === 'boolean' ? { ready: result } : result),
    (error: unknown): ReadinessResult => ({ ready: false, reason: (error as Error)?.message ?? String(error) }),
  );
  try {
    return await Promise.race([answered, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function renderMetrics(options: HealthRouteOptions): Promise<string> {
  if (!options.externalMetrics) return options.registry.metrics();
  const [own, external] = await Promise.all([options.registry.getMetricsAsJSON(), options.externalMetrics()]);
  return AggregatorRegistry.aggregate([own, external]).metrics();
}
