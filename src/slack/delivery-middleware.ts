/**
 * Global Bolt middleware that claims every delivery before any listener runs (see dedupe.ts). A duplicate is
 * acknowledged (for commands and interactions, whose ack is ours to send) and goes no further. The claim is
 * handed to the background job a listener starts (`runInBackground`); when no job takes it, the delivery is
 * marked done as soon as the listeners return.
 */
import type { AllMiddlewareArgs, AnyMiddlewareArgs, Context } from '@slack/bolt';
import type { Logger } from '../observability/logger.ts';
import { counter, type Registry } from '../observability/metrics.ts';
import type { BackgroundJobs } from './background-jobs.ts';
import { type DeliveryClaim, type DeliveryDeduplicator, deliveryIdOf } from './dedupe.ts';

const claimKey = 'deskhandDeliveryClaim';
const handedOffKey = 'deskhandDeliveryHandedOff';
const deliveryIdKey = 'deskhandDeliveryId';

export interface DeliveryMiddleware {
  (args: AnyMiddlewareArgs & AllMiddlewareArgs): Promise<void>;
  /**
   * Deliveries between claim and the end of their listeners. Events are acknowledged before listeners run, so
   * shutdown waits for this to reach zero before draining background jobs — otherwise an acknowledged event
   * could be dropped between its ack and its job.
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
    let claim: DeliveryClaim | undefined;
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
      // Without Redis we cannot de-duplicate; answering twice beats never answering, so the work goes ahead.
      deliveries.inc({ result: 'unchecked' });
      options.logger.warn({ err: error, deliveryId, code: 'upstream_unavailable' }, 'de-duplication unavailable');
    }
    context[claimKey] = claim;
    try {
      await next();
    } finally {
      if (claim && context[handedOffKey] !== true) {
        await claim.complete().catch((error: unknown) => {
          options.logger.warn({ err: error, deliveryId }, 'could not mark delivery done');
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
 * Runs `work` after the ack as a tracked background job that owns the delivery's claim (renewed while it runs,
 * marked done at the end). Returns immediately.
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
