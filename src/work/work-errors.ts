/**
 * The two ways a `Work` call can fail before the work side has done (or finished) its job, as distinct errors,
 * because what the ingress must do differs:
 * - `WorkRefusedError`: the work never started (the pool's fair queue for that channel is full). Nothing was
 *   said to the user, so the ingress says it (durable-work.ts posts its `userMessage`; the view listener shows it).
 *   Retrying would only add to the load, so the durable item is finished, not retried.
 * - `WorkInterruptedError`: the work started on a thread that then died (crash, out of memory). Part of it may
 *   have run. A durable item is left to the sweeper, which re-runs it (and tells the user only once it gives up
 *   after `maxAttempts`), so the user is not told "interrupted" and then answered as well; a call that is not
 *   durable (a modal submission) shows the `userMessage`.
 */
import { DeskhandError, type DeskhandErrorOptions } from '../errors.ts';

export class WorkRefusedError extends DeskhandError {
  readonly workRefused = true;

  constructor(message: string, options: DeskhandErrorOptions & { userMessage: string }) {
    super('upstream_rate_limited', message, { retryable: true, ...options });
  }
}

export class WorkInterruptedError extends DeskhandError {
  readonly workInterrupted = true;

  constructor(message: string, options: DeskhandErrorOptions = {}) {
    super('internal', message, {
      retryable: true,
      userMessage: 'Your request was interrupted because a Deskhand worker stopped. Please try again.',
      ...options,
    });
  }
}

/** Thrown when work could not be stored: the delivery must not be acknowledged as received. */
export class WorkNotStoredError extends DeskhandError {
  readonly workNotStored = true;
}

export function isWorkNotStoredError(error: unknown): error is WorkNotStoredError {
  return error instanceof WorkNotStoredError;
}

/**
 * A delivery that could not be claimed (the de-duplication store is unreachable): nothing ran, nothing was
 * acknowledged. Running it unclaimed would let the sweeper or a redelivery run it a second time.
 */
export class DeliveryUnclaimedError extends WorkNotStoredError {
  readonly deliveryUnclaimed = true;

  constructor(deliveryId: string, cause: unknown) {
    super('upstream_unavailable', 'the delivery could not be claimed; not acknowledged so that Slack redelivers it', {
      cause,
      retryable: true,
      details: { deliveryId },
    });
  }
}

export function isDeliveryUnclaimed(error: unknown): error is DeliveryUnclaimedError {
  return error instanceof DeliveryUnclaimedError;
}

export function isWorkRefused(error: unknown): error is WorkRefusedError {
  return error instanceof WorkRefusedError;
}

export function isWorkInterrupted(error: unknown): error is WorkInterruptedError {
  return error instanceof WorkInterruptedError;
}

/** The fair-queue key of a request: who asked, so that one channel's load cannot delay another channel's. */
export function fairnessKey(request: { workspaceId: string; channelId?: string | undefined }): string {
  return `${request.workspaceId}:${request.channelId ?? ''}`;
}
