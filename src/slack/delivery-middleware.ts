/**
 * Global Bolt middleware that claims every delivery before any listener runs (see dedupe.ts). A duplicate is
 * acknowledged (for commands and interactions, whose ack is ours to send) and goes no further. A delivery that
 * cannot be claimed (Redis unreachable) goes no further either and is refused (unclaimed-delivery.ts): an event is
 * not acknowledged, so Slack redelivers it; a command or click is answered with "try again". The claim is
 * handed to the durable work item a listener stores (`dispatchDurably`); when no listener takes it, the delivery
 * is marked done as soon as the listeners return; when a listener fails (e.g. the work item could not be
 * stored), the claim is released so that Slack's retry of the unacknowledged delivery is processed.
 */
import type { AllMiddlewareArgs, AnyMiddlewareArgs, Context } from '@slack/bolt';
import type { Logger } from '../observability/logger.ts';
import { counter, type Registry } from '../observability/metrics.ts';
import type { BackgroundJobs } from '../work/background-jobs.ts';
import { type DeliveryClaim, type DeliveryDeduplicator, deliveryIdOf } from '../work/dedupe.ts';
import type { DurableWork, WorkUnit } from '../work/durable-work.ts';
import { refuseUnclaimed } from './unclaimed-delivery.ts';

const claimKey = 'deskhandDeliveryClaim';
const handedOffKey = 'deskhandDeliveryHandedOff';
const deliveryIdKey = 'deskhandDeliveryId';

export interface DeliveryMiddleware {
  (args: AnyMiddlewareArgs & AllMiddlewareArgs): Promise<void>;
  /**
   * Deliveries between claim and the end of their listeners. Shutdown waits for this to reach zero before
   * draining background jobs, so that a work item stored just before shutdown also has its job drained.
   */
  readonly inFlight: () => number;
}

export function deliveryMiddleware(options: {
  dedupe: DeliveryDeduplicator;
  logger: Logger;
  registry: Registry;
}): DeliveryMiddleware {
  let inFlight = 0;
  const deliveries = counter(
    options.registry,
    'deskhand_deliveries_total',
    'Slack deliveries by de-duplication result',
    ['result'],
  );
  const middleware = async (args: AnyMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    inFlight += 1;
    try {
      await handle(args);
    } finally {
      inFlight -= 1;
    }
  };
  const handle = async (args: AnyMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    const { body, context, next } = args;
    const deliveryId = deliveryIdOf(body);
    context[deliveryIdKey] = deliveryId;
    let claim: DeliveryClaim;
    try {
      const outcome = await options.dedupe.claim(deliveryId);
      if (outcome.status === 'duplicate') {
        deliveries.inc({ result: `duplicate_${outcome.reason}` });
        options.logger.info(
          { deliveryId, reason: outcome.reason, retryNum: context.retryNum, retryReason: context.retryReason },
          'duplicate delivery acknowledged without work',
        );
        const ack = (args as { ack?: () => Promise<void> }).ack;
        if (ack) await ack();
        return;
      }
      claim = outcome.claim;
      deliveries.inc({ result: 'claimed' });
    } catch (error) {
      // Work that ran unclaimed would run again once Redis is back (the sweeper, a redelivery): it does not run.
      deliveries.inc({ result: 'unclaimed' });
      await refuseUnclaimed(args, deliveryId, error, options.logger);
      return;
    }
    context[claimKey] = claim;
    let failed = false;
    try {
      await next();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      if (context[handedOffKey] !== true) {
        const settle = failed ? claim.release() : claim.complete();
        await settle.catch((error: unknown) => {
          options.logger.warn({ err: error, deliveryId }, 'could not settle the delivery claim');
        });
      }
    }
  };
  return Object.assign(middleware, { inFlight: () => inFlight });
}

/** The delivery id (event id or payload hash) set by the middleware; used as the request id. */
export function deliveryIdFrom(context: Context): string {
  const id = context[deliveryIdKey];
  return typeof id === 'string' ? id : 'unknown';
}

/**
 * Stores `unit` as a durable work item for this delivery, then runs it in the background with the delivery's
 * claim (renewed while it runs, marked done at the end, then the item is deleted). Resolves once the item is
 * stored — await it before returning from the listener, so that the ack (sent after listeners return) implies
 * the work survives a process death. Rejects with `WorkNotStoredError` when Redis could not store it; the
 * middleware then releases the claim and the app answers Slack with an error instead of an ack.
 */
export async function dispatchDurably(
  context: Context,
  durable: DurableWork,
  name: string,
  unit: WorkUnit,
): Promise<void> {
  const claim = context[claimKey] as DeliveryClaim | undefined;
  await durable.dispatch(deliveryIdFrom(context), name, unit, claim);
  context[handedOffKey] = true;
}

/**
 * Runs `work` after the ack as a tracked background job that owns the delivery's claim (renewed while it runs,
 * marked done at the end). Not durable: only for work that is not plain data (a modal submission's `afterAck`).
 */
export function runInBackground(
  context: Context,
  jobs: BackgroundJobs,
  name: string,
  work: () => Promise<void>,
  options: { leaseMs: number },
): void {
  const claim = context[claimKey] as DeliveryClaim | undefined;
  context[handedOffKey] = true;
  void jobs.run(name, work, {
    ...(claim ? { claim } : {}),
    leaseMs: options.leaseMs,
    logFields: { deliveryId: deliveryIdFrom(context) },
  });
}
