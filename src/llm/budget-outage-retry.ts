/**
 * `retryBudgetOutage`: a budget check that failed because the budget store could not be reached
 * (`budget_unenforceable` — Redis down, restarting, failing over, or slower than its timeout) is tried again after
 * a backoff, a bounded number of times, before the call is refused. Issue 17 found a 3 s Redis outage turning
 * about a third of in-flight answers into final "I cannot check the budget" refusals; with this, an outage shorter
 * than the backoff (about 7.75 s by default) only delays them, and the person is told only if it lasts longer.
 *
 * Why here and not by re-running the durable work item from the sweeper: by the time an answer reserves its
 * budget it has already started its reply (a stream, or a "searching…" message, before the model call), so a
 * re-run would post a second reply next to a half-written one — the duplicates this issue is about. Waiting
 * inside the call keeps the one reply; the job still holds its delivery claim (renewed every third of a 30 s
 * lease, longer than the backoff), so no other replica takes the item meanwhile.
 *
 * Still fail closed: only `budget_unenforceable` is retried (a refusal by a cap, `over_budget`, is final at once),
 * never past the call's deadline or its cancellation, and the last failure is what the caller gets.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeskhandError } from '../errors.ts';

/** Waits between attempts; one attempt more than there are delays. */
export const defaultBudgetOutageDelaysMs: readonly number[] = [250, 500, 1_000, 2_000, 4_000];

export interface BudgetOutageRetryOptions {
  delaysMs?: readonly number[];
  /** Epoch ms after which no further attempt is made (the call's deadline). */
  deadline?: number;
  signal?: AbortSignal;
  /** Told before each wait (for a log line). */
  onRetry?: (retry: { attempt: number; delayMs: number; error: Error }) => void;
}

export async function retryBudgetOutage<T>(
  operation: () => Promise<T>,
  options: BudgetOutageRetryOptions = {},
): Promise<T> {
  const delays = options.delaysMs ?? defaultBudgetOutageDelaysMs;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await operation();
    } catch (error) {
      const delayMs = delays[attempt];
      const outage = isDeskhandError(error) && error.code === 'budget_unenforceable';
      const timeLeft = options.deadline === undefined || Date.now() + (delayMs ?? 0) < options.deadline;
      if (!outage || delayMs === undefined || !timeLeft || options.signal?.aborted) throw error;
      options.onRetry?.({ attempt: attempt + 1, delayMs, error });
      try {
        await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {});
      } catch {
        // Cancelled while waiting: the outage is what the caller is told about.
        throw error;
      }
    }
  }
}
