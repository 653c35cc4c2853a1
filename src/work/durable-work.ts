/**
 * Durable hand-off of acknowledged work. Slack never redelivers after a 200, so a unit of work that exists only
 * in memory after the ack is lost if the process dies. Every unit of post-ack work is plain data (`Work.route`,
 * `reaction`, `action`, `fileShared` take serialisable requests), so a listener stores it in Redis before it
 * returns (the receiver sends the ack only after listeners return: `processBeforeResponse`, see receiver.ts),
 * then it runs in the background as before.
 *
 * Redis layout (under the configured key prefix):
 * - `{work}:item:<deliveryId>`: a hash `{ kind, name, request, attempts, replyTs? }`, expiring after `itemTtlMs`;
 *   `replyTs` is the first message the run posted (reply-anchors.ts), which a re-run of a routed request continues;
 * - `{work}:pending`: a ZSET of delivery ids scored by the time the item should be looked at again.
 * Both carry the `{work}` hash tag: an item and its pending entry are written and deleted in one MULTI, which a
 * Redis Cluster accepts only for keys of one slot (test/integration/redis-cluster-slots.test.ts).
 *
 * The delivery claim (dedupe.ts) stays the single source of truth for who works on an item: the job renews the
 * claim while it runs; a sweeper (every `sweepIntervalMs`, default 1 s, in every replica) takes due items and
 * re-claims each through the same `DeliveryDeduplicator`, so only one replica re-runs an item whose worker died.
 * A worker is judged dead by its replica's heartbeat (replica-heartbeat.ts: 5 s without a renewal), not by its
 * 30 s lease: an item is looked at every `lookAgainMs` (2 s) while it runs, and the sweeper takes over the lease of
 * a replica whose heartbeat expired (`claimOrTakeOver`), so a killed replica's work is re-run within about 8 s.
 * An item that has already been tried `maxAttempts` times is given up: logged with code `deadline_exceeded` and
 * message `durable work abandoned`, and the user is told in the channel/thread — never silently dropped.
 *
 * When the work side itself fails a call (src/work/work-errors.ts): an interrupted call (its work thread died)
 * releases the claim and leaves the item due at once, so the sweeper re-runs it like the work of a dead process —
 * the user is not told, so a successful retry is the only answer they see; a refused call (the work pool is busy
 * for that channel) never started, so the user is told why and the item is finished.
 */

import type { RedisClient } from '../adapters/redis-client.ts';
import { type DeskhandError, toDeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { counter, type Registry } from '../observability/metrics.ts';
import type { IncomingRequest } from '../ports/capability.ts';
import type { BackgroundJobs } from './background-jobs.ts';
import type { DeliveryClaim, DeliveryDeduplicator } from './dedupe.ts';
import type { ActionRequest, AssistantThreadRequest, FileSharedRequest, HomeOpenedRequest } from './requests.ts';
import type { ReactionRequest, Work } from './work.ts';
import { isWorkInterrupted, isWorkRefused, WorkNotStoredError } from './work-errors.ts';

/** One unit of post-ack work, as plain data. */
export type WorkUnit =
  | { kind: 'route'; request: IncomingRequest }
  | { kind: 'reaction'; request: ReactionRequest }
  | { kind: 'action'; request: ActionRequest }
  | { kind: 'fileShared'; request: FileSharedRequest }
  | { kind: 'assistantThread'; request: AssistantThreadRequest }
  | { kind: 'homeOpened'; request: HomeOpenedRequest };

/** A stored unit of work: what to run, for which delivery, and how many times it has been started. */
export type StoredWork = WorkUnit & { deliveryId: string; name: string; attempts: number; replyTs?: string };

/** The Redis key of a delivery's stored item. */
export function workItemKey(keyPrefix: string, deliveryId: string): string {
  return `${keyPrefix}{work}:item:${deliveryId}`;
}

/** Where and to whom to say that a request could not be completed. */
export interface UndeliverableNotice {
  /** The request's tenant: with OAuth distribution, whose token tells the user. */
  workspaceId?: string;
  channelId: string;
  /** Set when the request came from a message: the reply goes in its thread. */
  threadTs?: string;
  /** Set when only this user should see it (commands, clicks, files). */
  userId?: string;
  text: string;
}

export interface DurableWorkOptions {
  redis: RedisClient;
  /** The configured key prefix, e.g. `dh:`. */
  keyPrefix: string;
  dedupe: DeliveryDeduplicator;
  jobs: BackgroundJobs;
  work: Work;
  logger: Logger;
  registry: Registry;
  /** Delivery lease (as the deduplicator's); a job renews its claim every third of it. */
  leaseMs: number;
  /** How many times an item is started before it is given up (default 3). */
  maxAttempts?: number;
  /** Sweep period (default 1 s). */
  sweepIntervalMs?: number;
  /** How long an item is kept at most, whatever happens (default 24 h). */
  itemTtlMs?: number;
  /** Tells the user that their request was given up. */
  notify: (notice: UndeliverableNotice) => Promise<void>;
}

// Thrown by `dispatch` when the item could not be stored (defined beside the other work errors).
export { isWorkNotStoredError, WorkNotStoredError } from './work-errors.ts';

const givenUpText =
  'Sorry, I could not complete this request: the work was interrupted several times. Please try again.';

export class DurableWork {
  readonly maxAttempts: number;
  readonly #options: DurableWorkOptions;
  readonly #pendingKey: string;
  readonly #itemTtlMs: number;
  /** How soon a running item is looked at again: two heartbeat intervals, or the lease when that is shorter. */
  readonly #lookAgainMs: number;
  readonly #outcomes;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;

  constructor(options: DurableWorkOptions) {
    this.#options = options;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.#itemTtlMs = options.itemTtlMs ?? 24 * 60 * 60 * 1000;
    this.#pendingKey = `${options.keyPrefix}{work}:pending`;
    this.#lookAgainMs = Math.min(options.leaseMs, 2 * options.dedupe.heartbeat.intervalMs);
    this.#outcomes = counter(
      options.registry,
      'deskhand_durable_work_total',
      'Durable work items by event (stored, completed, recovered, abandoned, store_failed, interrupted, refused)',
      ['event'],
    );
  }

  /** The Redis key of a delivery's stored item. */
  itemKey(deliveryId: string): string {
    return workItemKey(this.#options.keyPrefix, deliveryId);
  }

  /**
   * Stores the unit of work for `deliveryId`, then starts it in the background (resolves once stored, not when
   * the work ends; `finished` settles then, and never rejects). Guarantees: when this resolves, a process death cannot lose the work (the sweeper of any
   * replica re-runs it); when it rejects (`WorkNotStoredError`), nothing was started and the caller must not
   * acknowledge the delivery as handled. The `claim`, when given, is renewed while the work runs and marked done
   * at the end, after which the item is deleted.
   */
  async dispatch(
    deliveryId: string,
    name: string,
    unit: WorkUnit,
    claim: DeliveryClaim | undefined,
  ): Promise<{ finished: Promise<void> }> {
    let attempts: number;
    try {
      attempts = await this.#store(deliveryId, name, unit);
    } catch (error) {
      this.#outcomes.inc({ event: 'store_failed' });
      throw new WorkNotStoredError('upstream_unavailable', 'could not store the work item before the ack', {
        cause: error,
        retryable: true,
        details: { deliveryId, kind: unit.kind },
      });
    }
    this.#outcomes.inc({ event: 'stored' });
    return { finished: this.#start({ ...unit, deliveryId, name, attempts } as StoredWork, claim) };
  }

  /** Reads a stored item (undefined when there is none). */
  async stored(deliveryId: string): Promise<StoredWork | undefined> {
    const fields = await this.#options.redis.hgetall(this.itemKey(deliveryId));
    if (!fields.kind || !fields.request) return undefined;
    return {
      kind: fields.kind,
      name: fields.name ?? fields.kind,
      request: JSON.parse(fields.request),
      deliveryId,
      attempts: Number(fields.attempts ?? 0),
      ...(fields.replyTs ? { replyTs: fields.replyTs } : {}),
    } as StoredWork;
  }

  /**
   * Looks at every item whose lease is due: an item still held by a live worker is looked at again later; an item
   * whose delivery is done is deleted; an item whose worker died is re-claimed and re-run, or given up (and the
   * user told) when it has had `maxAttempts` starts. Resolves with the number of items re-run or given up.
   * Concurrent calls share one sweep.
   */
  sweep(): Promise<number> {
    this.#sweeping ??= this.#sweepOnce().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** Sweeps now and every `sweepIntervalMs` until `stop`. */
  start(): void {
    if (this.#timer) return;
    // This replica judges others only once its own heartbeat has held for a while: start it now, not at the first claim.
    void this.#options.dedupe.heartbeat.start();
    const run = () => {
      this.sweep().catch((error: unknown) => {
        this.#options.logger.warn({ err: error, code: 'upstream_unavailable' }, 'durable work sweep failed');
      });
    };
    run();
    this.#timer = setInterval(run, this.#options.sweepIntervalMs ?? 1_000);
    this.#timer.unref();
  }

  /** Stops sweeping and waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping?.catch(() => {});
  }

  async #store(deliveryId: string, name: string, unit: WorkUnit): Promise<number> {
    const key = this.itemKey(deliveryId);
    const results = await this.#options.redis
      .multi()
      .hset(key, { kind: unit.kind, name, request: JSON.stringify(unit.request) })
      .hincrby(key, 'attempts', 1)
      .pexpire(key, this.#itemTtlMs)
      .zadd(this.#pendingKey, Date.now() + this.#lookAgainMs, deliveryId)
      .exec();
    if (!results) throw new Error('work item transaction was discarded');
    for (const [error] of results) if (error) throw error;
    return Number(results[1]?.[1]);
  }

  async #delete(deliveryId: string): Promise<void> {
    await this.#options.redis.multi().del(this.itemKey(deliveryId)).zrem(this.#pendingKey, deliveryId).exec();
  }

  #start(item: StoredWork, claim: DeliveryClaim | undefined): Promise<void> {
    const { jobs, leaseMs, logger } = this.#options;
    let interrupted = false;
    // False when the claim could not be marked done because another replica took it over (this one was judged dead
    // while it froze): the item is that replica's now, and is not deleted here.
    let completed: boolean | undefined;
    const ownClaim = claim && {
      ...claim,
      complete: async () => {
        completed = await claim.complete();
        return completed;
      },
    };
    const run = async () => {
      try {
        await this.#run(item);
      } catch (error) {
        if (isWorkInterrupted(error)) {
          interrupted = true;
          this.#outcomes.inc({ event: 'interrupted' });
          logger.warn(
            { err: error, code: error.code, deliveryId: item.deliveryId },
            'durable work interrupted; retrying',
          );
        } else if (isWorkRefused(error)) await this.#tellRefused(item, error);
        else throw error;
      }
    };
    return jobs.run(item.name, run, {
      ...(ownClaim ? { claim: ownClaim } : {}),
      leaseMs,
      logFields: { deliveryId: item.deliveryId, attempt: item.attempts },
      releaseClaim: () => interrupted,
      // After the claim is marked done, so that a death in between leaves a done delivery, which the sweeper
      // recognises and deletes, rather than a deleted item with a live lease.
      afterEnd: async () => {
        if (interrupted) {
          await this.#options.redis.zadd(this.#pendingKey, 'XX', Date.now(), item.deliveryId).catch(() => {});
          return;
        }
        if (completed === false) {
          logger.warn(
            { code: 'conflict', deliveryId: item.deliveryId },
            'durable work finished after another replica took it over; its item is left to that replica',
          );
          return;
        }
        await this.#delete(item.deliveryId).catch((error: unknown) => {
          logger.warn({ err: error, deliveryId: item.deliveryId }, 'could not delete a finished work item');
        });
        this.#outcomes.inc({ event: 'completed' });
      },
    });
  }

  async #run(item: StoredWork): Promise<void> {
    const { work } = this.#options;
    switch (item.kind) {
      case 'route': {
        // The reply keeps its first message with this item, and a re-run continues the one an earlier run started.
        const replyAnchor = { deliveryId: item.deliveryId, ...(item.replyTs ? { replyTs: item.replyTs } : {}) };
        await work.route({ ...item.request, replyAnchor });
        return;
      }
      case 'reaction':
        await work.reaction(item.request);
        return;
      case 'action':
        await work.action(item.request);
        return;
      case 'fileShared':
        await work.fileShared(item.request);
        return;
      case 'assistantThread':
        await work.assistantThread(item.request);
        return;
      case 'homeOpened':
        await work.homeOpened(item.request);
        return;
    }
  }

  async #sweepOnce(): Promise<number> {
    const { redis, dedupe, logger } = this.#options;
    const due = await redis.zrangebyscore(this.#pendingKey, '-inf', Date.now(), 'LIMIT', 0, 100);
    let handled = 0;
    for (const deliveryId of due) {
      const outcome = await dedupe.claimOrTakeOver(deliveryId);
      if (outcome.status === 'duplicate') {
        if (outcome.reason === 'done') await this.#delete(deliveryId);
        // A live replica holds it: look again soon, in case that replica stops beating.
        else await redis.zadd(this.#pendingKey, 'XX', Date.now() + this.#lookAgainMs, deliveryId);
        continue;
      }
      const { claim, takenOverFrom } = outcome;
      let item: StoredWork | undefined;
      try {
        item = await this.stored(deliveryId);
      } catch (error) {
        logger.warn({ err: error, deliveryId, code: 'invalid_input' }, 'unreadable durable work item dropped');
      }
      if (!item) {
        await this.#delete(deliveryId);
        await claim.release();
        continue;
      }
      handled += 1;
      if (item.attempts >= this.maxAttempts) {
        await this.#abandon(item, claim);
        continue;
      }
      const attempts = await redis.hincrby(this.itemKey(deliveryId), 'attempts', 1);
      await redis.zadd(this.#pendingKey, Date.now() + this.#lookAgainMs, deliveryId);
      this.#outcomes.inc({ event: 'recovered' });
      logger.warn(
        { code: 'ok', deliveryId, kind: item.kind, attempt: attempts, ...(takenOverFrom ? { takenOverFrom } : {}) },
        'durable work re-dispatched after its worker stopped',
      );
      void this.#start({ ...item, attempts }, claim);
    }
    return handled;
  }

  /** The work side refused the item before starting it (busy): the user hears why, instead of nothing. */
  async #tellRefused(item: StoredWork, error: DeskhandError): Promise<void> {
    const { logger } = this.#options;
    logger.warn({ err: error, code: error.code, deliveryId: item.deliveryId, kind: item.kind }, 'durable work refused');
    this.#outcomes.inc({ event: 'refused' });
    const { userId, workspaceId } = item.request;
    // An App Home open names no channel: there is nowhere to tell, and the next open publishes again.
    const channelId = 'channelId' in item.request ? item.request.channelId : undefined;
    if (!channelId) return;
    // Only the requester sees it: it is about their request, not an answer for the channel.
    await this.#options
      .notify({ workspaceId, channelId, userId, text: error.userMessage })
      .catch((notifyError: unknown) => {
        logger.error({ err: notifyError, code: 'internal', deliveryId: item.deliveryId }, 'could not tell the user');
      });
  }

  async #abandon(item: StoredWork, claim: DeliveryClaim): Promise<void> {
    const { logger } = this.#options;
    this.#outcomes.inc({ event: 'abandoned' });
    logger.error(
      { code: 'deadline_exceeded', deliveryId: item.deliveryId, kind: item.kind, attempts: item.attempts },
      'durable work abandoned',
    );
    const notice = noticeFor(item);
    if (notice) {
      try {
        await this.#options.notify(notice);
      } catch (error) {
        const coded = toDeskhandError(error);
        logger.error({ err: error, code: coded.code, deliveryId: item.deliveryId }, 'could not tell the user');
      }
    }
    await claim.complete();
    await this.#delete(item.deliveryId);
  }
}

/** Where to tell the user about a given-up item; undefined when the request names no channel. */
export function noticeFor(item: StoredWork): UndeliverableNotice | undefined {
  const notice = placeOfNotice(item);
  return notice && { workspaceId: item.request.workspaceId, ...notice };
}

function placeOfNotice(item: StoredWork): UndeliverableNotice | undefined {
  switch (item.kind) {
    case 'route': {
      const { channelId, userId, threadTs, messageTs } = item.request;
      const thread = threadTs ?? messageTs;
      // Commands have no message to thread on: only the user who ran it sees the notice.
      return thread ? { channelId, threadTs: thread, text: givenUpText } : { channelId, userId, text: givenUpText };
    }
    case 'reaction':
      return { channelId: item.request.channelId, threadTs: item.request.messageTs, text: givenUpText };
    case 'action':
    case 'fileShared':
      return item.request.channelId
        ? { channelId: item.request.channelId, userId: item.request.userId, text: givenUpText }
        : undefined;
    case 'assistantThread':
      // Nothing the user asked for was lost (prompts and context only): no notice in their assistant thread.
      return undefined;
    case 'homeOpened':
      // The Home is published again the next time it is opened: nothing to tell.
      return undefined;
  }
}
