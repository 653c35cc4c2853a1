/**
 * How a Qdrant SDK error becomes a `DeskhandError`: timeouts, network failures (no status), 429 and 5xx are
 * `upstream_unavailable` and retryable; any other 4xx is `internal` (a request this adapter got wrong) and not
 * retryable. Every translated error carries the same user message and the operation and HTTP status as details.
 */
import { DeskhandError } from '../errors.ts';

export function translateQdrantError(operation: string, error: unknown): DeskhandError {
  const status = (error as { status?: unknown })?.status;
  const timedOut = (error as { name?: unknown })?.name === 'QdrantClientTimeoutError';
  const retryable =
    timedOut || status === undefined || (typeof status === 'number' && (status === 429 || status >= 500));
  return new DeskhandError(
    typeof status === 'number' && status >= 400 && status < 500 && status !== 429 ? 'internal' : 'upstream_unavailable',
    `Qdrant ${operation} failed${typeof status === 'number' ? ` (HTTP ${status})` : ''}: ${(error as Error)?.message ?? String(error)}`,
    {
      cause: error,
      retryable,
      userMessage: 'The document index is not reachable right now. Please try again in a minute.',
      details: { operation, status },
    },
  );
}
