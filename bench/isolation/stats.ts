/**
 * Figures for the isolation bench and test: percentiles of `/budget` reply times where an unanswered request
 * counts with the time it had waited when measuring stopped (a lower bound — a stall can only raise the figures),
 * and a free port for the app.
 */
import { createServer } from 'node:net';

export interface LatencySummary {
  sent: number;
  answered: number;
  /** Sent but not answered by the end (counted in the percentiles with the time they had waited). */
  unanswered: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

export function summarise(samples: readonly { sentAtMs: number; replyMs?: number }[], endMs: number): LatencySummary {
  const times = samples.map((entry) => entry.replyMs ?? endMs - entry.sentAtMs).sort((left, right) => left - right);
  const answered = samples.filter((entry) => entry.replyMs !== undefined).length;
  return {
    sent: samples.length,
    answered,
    unanswered: samples.length - answered,
    p50Ms: percentile(times, 0.5),
    p95Ms: percentile(times, 0.95),
    maxMs: times.at(-1) ?? Number.NaN,
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
