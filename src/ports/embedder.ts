/**
 * Embeddings for the index. The production implementation goes through the gateway (budgets and token
 * counting apply); tests use a deterministic one.
 */
import type { CallScope } from './language-model.ts';

export interface Embedder {
  readonly model: string;
  readonly dimensions: number;
  /** One vector per text, in order. Throws `DeskhandError` (e.g. `over_budget`) like any model call. */
  embed(texts: string[], scope: CallScope): Promise<Float32Array[]>;
}
