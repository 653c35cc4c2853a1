/**
 * `createGatewayMetrics`: the gateway's Prometheus series, registered once per gateway in a fixed order, and the
 * two recordings shared by chat and embedding calls.
 *
 * - Every call, whatever its outcome, is counted once in `deskhand_llm_calls_total` (with its `pricing` label, so
 *   an unpriced model's $0 is never mistaken for a priced one) and timed in `deskhand_llm_call_duration_seconds`.
 * - Token counting drift (provider-reported prompt tokens minus our count) is observed per model; a drift beyond
 *   5 tokens and 5 % is logged as a warning, a smaller one at debug level.
 * - Redactions are counted by kind (`deskhand_llm_redactions_total`): how many values, never which.
 */
import type { Logger } from 'pino';
import type { DeskhandError } from '../errors.ts';
import { counter, gauge, histogram, type Registry } from '../observability/metrics.ts';
import type { PriceTable } from './prices.ts';

/** What a call ended as: the label `outcome` of the call metrics. */
export type Outcome = 'ok' | 'cache_hit' | DeskhandError['code'];

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/** Registers the gateway's series, the circuit breaker's gauge first. */
export function createGatewayMetrics(registry: Registry) {
  const circuitOpen = gauge(registry, 'deskhand_llm_circuit_open', '1 while the provider circuit breaker is open');
  return {
    circuitOpen,
    calls: counter(registry, 'deskhand_llm_calls_total', 'Model calls by outcome and pricing', [
      'operation',
      'model',
      'purpose',
      'outcome',
      'pricing',
    ]),
    duration: histogram(registry, 'deskhand_llm_call_duration_seconds', 'Model call latency', ['operation', 'outcome']),
    tokens: counter(registry, 'deskhand_llm_tokens_total', 'Tokens billed by the provider', ['model', 'kind']),
    cost: counter(registry, 'deskhand_llm_cost_micro_usd_total', 'Spend in micro-dollars', ['model', 'purpose']),
    cache: counter(registry, 'deskhand_llm_cache_requests_total', 'Response cache lookups', ['channel', 'result']),
    savings: counter(registry, 'deskhand_llm_cache_savings_micro_usd_total', 'Spend avoided by cache hits', [
      'channel',
    ]),
    drift: histogram(
      registry,
      'deskhand_llm_token_count_drift_tokens',
      'Provider-reported prompt tokens minus our count',
      ['model'],
      [-100, -20, -5, -1, 0, 1, 5, 20, 100],
    ),
    lastDrift: gauge(registry, 'deskhand_llm_token_count_drift_last', 'Last drift of our prompt token count', [
      'model',
    ]),
    redactions: counter(registry, 'deskhand_llm_redactions_total', 'Values masked before a model call, by kind', [
      'operation',
      'kind',
    ]),
  };
}

/** Counts and times one finished call (`started` from `performance.now()`); `pricing` is read now, never throws. */
export function recordCall(
  metric: GatewayMetrics,
  prices: PriceTable,
  call: { operation: 'chat' | 'embed'; model: string; purpose: string; outcome: Outcome; started: number },
): void {
  const { operation, model, purpose, outcome } = call;
  metric.calls.inc({ operation, model, purpose, outcome, pricing: prices.label(model) });
  metric.duration.observe({ operation, outcome }, (performance.now() - call.started) / 1000);
}

/** Observes how far our prompt token count was from the provider's, and logs a notable drift. */
export function recordDrift(
  metric: GatewayMetrics,
  logger: Logger,
  drift: { model: string; reported: number; counted: number; requestId: string },
): void {
  const { model, reported, counted, requestId } = drift;
  const difference = reported - counted;
  metric.drift.observe({ model }, difference);
  metric.lastDrift.set({ model }, difference);
  if (difference !== 0) {
    const level = Math.abs(difference) > Math.max(5, counted * 0.05) ? 'warn' : 'debug';
    logger[level]({ model, reported, counted, drift: difference, requestId }, 'prompt token count drift');
  }
}
