/** The price of one model, in integer micro-dollars per million tokens (its own file so the price table and
 * the unknown-model policy can both use it without importing each other). */
export interface ModelPrice {
  /** µ$ per 1M input tokens. */
  inputPerMillion: number;
  /** µ$ per 1M cached input tokens (prompt caching discount). */
  cachedInputPerMillion: number;
  /** µ$ per 1M output tokens (0 for embedding models). */
  outputPerMillion: number;
}
