/**
 * Work that must not sit on the ack path (model, index, tokenizer, Slack posts) runs here, after the ack.
 * Jobs are tracked so shutdown can wait for them, errors are caught and logged with their code (a job never
 * crashes the process), and a job bound to a delivery claim renews the lease while it runs and marks the
 * delivery done when it ends.
 */
import { toDeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { counter, gauge, histogram, type Registry } from '../observability/metrics.ts';
import type { DeliveryClaim, RenewOutcome } from './dedupe.ts';

export interface BackgroundJobOptions {
  /** The delivery this job works on: renewed while running, completed at the end. */
  claim?: DeliveryClaim;
  /** Lease renewal interval; defaults to a third of `leaseMs`. */
  leaseMs?: number;
  /** Bound into every log line of the job. */
  logFields?: Record<string, unknown>;
  /** Runs after the work and the claim's completion, whatever the outcome (e.g. deleting a stored work item). */
  afterEnd?: () => Promise<void>;
  /**
   * Asked once the work has ended: true releases the claim instead of marking the delivery done, so that the
   * durable sweeper runs it again (the work was interrupted before it could answer: durable-work.ts).
   */
  releaseClaim?: () => boolean;
}

export class BackgroundJobs {
  readonly #logger: Logger;
  readonly #running = new Set<Promise<void>>();
  readonly #started;
  readonly #failed;
  readonly #inFlightGauge;
  readonly #duration;

  constructor(options: { logger: Logger; registry: Registry }) {
    this.#logger = options.logger;
    this.#started = counter(options.registry, 'deskhand_jobs_started_total', 'Background jobs started', ['job']);
    this.#failed = counter(options.registry, 'deskhand_jobs_failed_total', 'Background jobs that threw', [
      'job',
      'code',
    ]);
    this.#inFlightGauge = gauge(options.registry, 'deskhand_jobs_in_flight', 'Background jobs running now');
    this.#duration = histogram(options.registry, 'deskhand_job_duration_seconds', 'Background job duration', ['job']);
  }

  get inFlight(): number {
    return this.#running.size;
  }

  /**
   * Starts `work` without awaiting it. The returned promise settles when the job has ended and never rejects.
   * Jobs are accepted during shutdown too: they come from requests already acknowledged, which Slack will not
   * redeliver, so refusing them would lose them.
   */
  run(name: string, work: () => Promise<void>, options: BackgroundJobOptions = {}): Promise<void> {
    const logger = this.#logger.child({ job: name, ...options.logFields });
    this.#started.inc({ job: name });
    const endTimer = this.#duration.startTimer({ job: name });
    const { claim } = options;
    const leaseMs = options.leaseMs ?? 30_000;
    const renewal = claim && renewalReporter(logger, claim.key);
    const heartbeat = claim
      ? setInterval(
          () => {
            claim.renew().then(renewal?.outcome, renewal?.failure);
          },
          Math.max(50, Math.floor(leaseMs / 3)),
        )
      : undefined;
    heartbeat?.unref();

    const job = (async () => {
      try {
        await work();
      } catch (error) {
        const coded = toDeskhandError(error);
        this.#failed.inc({ job: name, code: coded.code });
        logger.error({ err: error, code: coded.code }, 'background job failed');
      } finally {
        if (heartbeat) clearInterval(heartbeat);
        endTimer();
        if (claim) {
          // The user has been answered (or told why not) by now, so a redelivery must not run it again — unless the
          // work was interrupted, and is released to be run again.
          const settle = options.releaseClaim?.() ? claim.release() : claim.complete();
          await settle.catch((error: unknown) => {
            logger.warn({ err: error, key: claim.key }, 'could not settle the delivery claim');
          });
        }
        await options.afterEnd?.().catch((error: unknown) => {
          logger.warn({ err: error }, 'job clean-up failed');
        });
      }
    })();
    this.#running.add(job);
    this.#inFlightGauge.set(this.#running.size);
    void job.finally(() => {
      this.#running.delete(job);
      this.#inFlightGauge.set(this.#running.size);
    });
    return job;
  }

  /** Waits until every running job has ended, or `timeoutMs` passed; resolves whether all ended. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#running.size > 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, remaining);
      });
      await Promise.race([Promise.allSettled([...this.#running]), timeout]);
      clearTimeout(timer);
    }
    return true;
  }
}

const renewalMessages: Record<Exclude<RenewOutcome, 'held'>, { code: string; message: string }> = {
  restored: {
    code: 'upstream_unavailable',
    message: 'delivery lease had vanished from Redis (data lost, or expired unclaimed): re-created for this job',
  },
  taken: { code: 'conflict', message: 'delivery lease is held by another replica while this job still runs' },
  done: { code: 'conflict', message: 'delivery was marked done elsewhere while this job still runs' },
};

/**
 * Logs what a job's renewals find once per kind (issue 17: a lease lost for good was logged at every renewal,
 * ~1,500 lines per replica), and a renewal failure once per outage (again after a renewal succeeded).
 */
function renewalReporter(logger: Logger, key: string) {
  const reported = new Set<RenewOutcome>();
  let failing = false;
  return {
    outcome: (outcome: RenewOutcome) => {
      failing = false;
      if (outcome === 'held' || reported.has(outcome)) return;
      reported.add(outcome);
      const { code, message } = renewalMessages[outcome];
      logger.warn({ code, key, outcome }, message);
    },
    failure: (error: unknown) => {
      if (failing) return;
      failing = true;
      logger.warn({ err: error, code: 'upstream_unavailable', key }, 'delivery lease renewal failed');
    },
  };
}
