/**
 * `guardBudgetOperation`: the budget store's rule for Redis — any error, or a reply slower than the timeout, becomes
 * `budget_unenforceable` (the gateway then refuses the call: fail closed). A `DeskhandError` passes through unchanged.
 */
import { DeskhandError, isDeskhandError } from '../errors.ts';

export async function guardBudgetOperation<T>(operation: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([operation, timeout]);
  } catch (error) {
    if (isDeskhandError(error)) throw error;
    operation.catch(() => {});
    throw new DeskhandError('budget_unenforceable', `Budget store unavailable: ${(error as Error).message}`, {
      cause: error,
      retryable: true,
    });
  } finally {
    clearTimeout(timer);
  }
}
