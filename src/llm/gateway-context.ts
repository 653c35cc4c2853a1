/**
 * `GatewayContext`: what the gateway's parts (chat calls, embeddings, structured output, settlement) share, built
 * once by `OpenAIGateway`'s constructor from `OpenAIGatewayOptions`.
 *
 * - `client` is the guarded copy of the configured `openai` client (`createGuardedFetch`), never the caller's own:
 *   every provider call goes through it.
 * - One `breaker`, one `settlement` queue and one set of metrics per gateway, whichever part makes the call.
 * - `limits` are OpenAI's documented embedding limits, overridable per gateway (tests).
 */
import type OpenAI from 'openai';
import type { Logger } from 'pino';
import type { Registry } from '../observability/metrics.ts';
import type { BudgetStore, BudgetWarning } from './budget-store.ts';
import type { CircuitBreaker } from './circuit-breaker.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import type { Ledger } from './ledger.ts';
import type { PriceTable } from './prices.ts';
import type { RedactionKind } from './redaction-policy.ts';
import type { ResponseCache } from './response-cache.ts';
import type { Settlement } from './settlement.ts';
import type { EncodingName } from './tokenizer.ts';
import type { WorkspacePricesSource, WorkspacePriceTables } from './workspace-prices.ts';

export interface EmbeddingLimits {
  maxInputs: number;
  maxTokensPerRequest: number;
  maxTokensPerInput: number;
}

/** OpenAI's documented per-request limits for embeddings. */
export const embeddingLimits: Readonly<EmbeddingLimits> = {
  maxInputs: 2048,
  maxTokensPerRequest: 300_000,
  maxTokensPerInput: 8191,
};

export interface OpenAIGatewayOptions {
  /** Built in `src/main.ts` with `baseURL` and `apiKey`; the gateway derives a guarded copy of it. */
  client: OpenAI;
  budgets: BudgetStore;
  cache: ResponseCache;
  prices: PriceTable;
  metrics: Registry;
  logger: Logger;
  chatModel: string;
  /**
   * The chat model of a call's workspace (its settings), for a request that names none; default `chatModel`. A
   * failure fails the call (the settings' store is unavailable, so its caps could not be read either).
   */
  chatModelOf?: (workspaceId: string) => Promise<string>;
  /**
   * A workspace's own model prices (its settings), charged over `prices` for that workspace's calls; a failure
   * fails the call.
   */
  workspacePrices?: WorkspacePricesSource;
  embeddingModel: string;
  embeddingDimensions: number;
  /** Deadline of a call that does not bring its own. */
  timeoutMs: number;
  ledger?: Ledger;
  fallbackEncoding?: EncodingName | undefined;
  breaker?: CircuitBreaker;
  /** Called once per window when a channel or workspace passes 80 % of a cap (errors are logged, not thrown). */
  onBudgetWarning?: (warning: BudgetWarning) => void | Promise<void>;
  /** The `fetch` the guarded fetch wraps (default: global fetch). */
  fetch?: typeof fetch;
  embeddingLimits?: Partial<EmbeddingLimits>;
  /** Kinds masked before any model call (`REDACT`); cards and secrets are masked whether listed or not. */
  redact?: readonly RedactionKind[];
}

export interface GatewayContext {
  readonly options: OpenAIGatewayOptions;
  /** The guarded copy of `options.client`. */
  readonly client: OpenAI;
  readonly breaker: CircuitBreaker;
  readonly limits: EmbeddingLimits;
  readonly metric: GatewayMetrics;
  readonly settlement: Settlement;
  /** Each workspace's price table: `options.prices` with the workspace's own prices over it. */
  readonly priceTables: WorkspacePriceTables;
}
