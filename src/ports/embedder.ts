/**
 * Embeddings for the index. The production implementation goes through the gateway (budgets and token
 * counting apply); tests use a deterministic one. The usage comes back with the vectors, so callers that
 * report what a request spent (an answer's query embedding) never count the texts again.
 */
import type { CallScope } from './language-model.ts';

/** Vectors of one `embed` call and what the call used. */
export interface Embeddings {
  /** One vector per text, in order. */
  vectors: Float32Array[];
  /** Input tokens of the call: as the provider reported them, else as the gateway counted them before the call. */
  inputTokens: number;
  /** What the call cost, in integer micro-dollars (0 for an embedder that does not spend). */
  costMicroUsd: number;
}

export interface Embedder {
  readonly model: string;
  readonly dimensions: number;
  /** Vectors and usage for `texts`. Throws `DeskhandError` (e.g. `over_budget`) like any model call. */
  embed(texts: string[], scope: CallScope): Promise<Embeddings>;
}
