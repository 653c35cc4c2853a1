/**
 * A consecutive-failure circuit breaker for the model provider (per process). Hand-written because it is ~50 lines
 * and the gateway needs exactly these semantics with an injectable clock: after `failureThreshold` consecutive
 * upstream failures it opens and calls fail fast for `openMs`; then one probe call is let through (half-open): its
 * success closes the breaker, its failure opens it again.
 */
export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  failureThreshold?: number;
  openMs?: number;
  now?: () => number;
  onStateChange?: (state: CircuitState) => void;
}

export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private readonly failureThreshold: number;
  private readonly openMs: number;
  private readonly now: () => number;
  private readonly onStateChange: ((state: CircuitState) => void) | undefined;

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.openMs = options.openMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.onStateChange = options.onStateChange;
  }

  get current(): CircuitState {
    return this.state;
  }

  /** When the breaker lets a probe through again (only meaningful while open). */
  get retryAt(): number {
    return this.openedAt + this.openMs;
  }

  /**
   * Whether a call may go ahead now. While open, false until `openMs` passed; then exactly one caller gets true
   * (the probe) until it reports back.
   */
  tryAcquire(): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (this.now() < this.openedAt + this.openMs) return false;
      this.transition('half_open');
    }
    if (this.probeInFlight) return false;
    this.probeInFlight = true;
    return true;
  }

  recordSuccess(): void {
    this.failures = 0;
    this.probeInFlight = false;
    if (this.state !== 'closed') this.transition('closed');
  }

  recordFailure(): void {
    this.failures += 1;
    this.probeInFlight = false;
    if (this.state === 'half_open' || (this.state === 'closed' && this.failures >= this.failureThreshold)) {
      this.openedAt = this.now();
      this.transition('open');
    }
  }

  /** A call that ended without saying anything about the provider (e.g. refused by the budget) frees the probe. */
  recordNeutral(): void {
    this.probeInFlight = false;
  }

  private transition(state: CircuitState): void {
    this.state = state;
    this.onStateChange?.(state);
  }
}
