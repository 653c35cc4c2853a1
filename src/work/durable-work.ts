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
 *
 * When Redis loses its data (restarted without persistence: issue 17), items, pending entries and claims vanish
 * together. With a `journal` (work-journal.ts, in the replica's DATA_DIR) each item stored or taken over here is also
 * recorded on disk before `dispatch` resolves, i.e. before the ack, and its end after it; each sweep first reads the
 * work epoch, and after a loss (and on start) puts back from the journal what Redis lost (work-reassertion.ts, which
 * also states the window left). A running job whose lease vanished re-creates it at its next renewal and its item
 * with it, logging that once (background-jobs.ts).
 */

import type { RedisClient } from '../adapters/redis-client.ts';
import { type DeskhandError, toDeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { counter, type Registry } from '../observability/metrics.ts';
import type { BackgroundJobs } from './background-jobs.ts';
import type { DeliveryClaim, DeliveryDeduplicator } from './dedupe.ts';
import type { Work } from './work.ts';
import { isWorkInterrupted, isWorkRefused, WorkNotStoredError } from './work-errors.ts';
import {
  noticeFor,
  runWorkUnit,
  type StoredWork,
  type UndeliverableNotice,
  type WorkUnit,
  workItemKey,
  workPendingKey,
} from './work-item.ts';
import type { WorkJournal } from './work-journal.ts';
import { type RunningWork, WorkReassertion } from './work-reassertion.ts';

export type { StoredWork, UndeliverableNotice, WorkUnit } from './work-item.ts';
export { noticeFor, workItemKey } from './work-item.ts';

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
  /** This replica's work journal (see the header); without it, only work running here is put back after a loss. */
  journal?: WorkJournal;
  /** How often journal items not running here are compared with Redis without a loss (default 30 s). */
  reconcileEveryMs?: number;
}

// Thrown by `dispatch` when the item could not be stored (defined beside the other work errors).
export { isWorkNotStoredError, WorkNotStoredError } from './work-errors.ts';

export class DurableWork {
  readonly maxAttempts: number;
  readonly #options: DurableWorkOptions;
  readonly #pendingKey: string;
  readonly #itemTtlMs: number;
  /** How soon a running item is looked at again: two heartbeat intervals, or the lease when that is shorter. */
  readonly #lookAgainMs: number;
  readonly #outcomes;
  /** Items running here, by delivery id: what a loss of Redis data puts back first. */
  readonly #running = new Map<string, RunningWork>();
  readonly #reassertion: WorkReassertion;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;

  constructor(options: DurableWorkOptions) {
    this.#options = options;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.#itemTtlMs = options.itemTtlMs ?? 24 * 60 * 60 * 1000;
    this.#pendingKey = workPendingKey(options.keyPrefix);
    this.#lookAgainMs = Math.min(options.leaseMs, 2 * options.dedupe.heartbeat.intervalMs);
    const { redis, keyPrefix, dedupe, journal, logger } = options;
    this.#reassertion = new WorkReassertion({
      redis,
      keyPrefix,
      dedupe,
      ...(journal ? { journal } : {}),
      logger,
      itemTtlMs: this.#itemTtlMs,
      lookAgainMs: this.#lookAgainMs,
      running: this.#running,
      ...(options.reconcileEveryMs ? { reconcileEveryMs: options.reconcileEveryMs } : {}),
    });
    this.#outcomes = counter(
      options.registry,
      'deskhand_durable_work_total',
      'Durable work items by event (stored, completed, recovered, abandoned, store_failed, interrupted, refused, reasserted)',
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
    const item = { ...unit, deliveryId, name, attempts } as StoredWork;
    await this.#journalRecord(item);
    return { finished: this.#start(item, claim) };
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

  /**
   * Sweeps now and every `sweepIntervalMs` until `stop`, and as soon as the connection to Redis is ready again: a
   * Redis that restarted empty is then noticed before the next tick (fewer deliveries claimed before the done
   * markers and leases are back).
   */
  start(): void {
    if (this.#timer) return;
    // This replica judges others only once its own heartbeat has held for a while: start it now, not at the first claim.
    void this.#options.dedupe.heartbeat.start();
    this.#sweepNow();
    this.#timer = setInterval(this.#sweepNow, this.#options.sweepIntervalMs ?? 1_000);
    this.#timer.unref();
    this.#options.redis.on('ready', this.#sweepNow);
  }

  readonly #sweepNow = () => {
    this.sweep().catch((error: unknown) => {
      this.#options.logger.warn({ err: error, code: 'upstream_unavailable' }, 'durable work sweep failed');
    });
  };

  /** Stops sweeping and waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#options.redis.off('ready', this.#sweepNow);
    await this.#sweeping?.catch(() => {});
  }

  /** After `stop` and once running jobs have drained: closes the journal (its last records synced). */
  async close(): Promise<void> {
    await this.#options.journal?.close();
  }

  /** Records an item stored or taken over here in the journal; a failure is logged there and does not stop the work. */
  async #journalRecord(item: StoredWork, storedAt = Date.now()): Promise<void> {
    const { journal } = this.#options;
    if (!journal) return;
    const { deliveryId, kind, name, request, attempts, replyTs } = item;
    await journal
      .record({ deliveryId, kind, name, request, attempts, storedAt, ...(replyTs ? { replyTs } : {}) })
      .catch(() => {});
  }

  /** The journal's end of an item: `finished` here, or `forget` when another replica has it now. */
  async #journalEnd(deliveryId: string, how: 'finished' | 'forget'): Promise<void> {
    await this.#options.journal?.[how](deliveryId).catch((error: unknown) => {
      this.#options.logger.warn(
        { err: error, code: 'internal', deliveryId },
        'could not record the end in the journal',
      );
    });
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
    const running: RunningWork = { item, ...(claim ? { claim } : {}) };
    this.#running.set(item.deliveryId, running);
    const ownClaim = claim && {
      ...claim,
      complete: async () => {
        completed = await claim.complete();
        return completed;
      },
      // A lease that vanished is re-created by the renewal; its item went with it (Redis lost its data): put it back.
      renew: async () => {
        const outcome = await claim.renew();
        if (outcome === 'restored') {
          await this.#reassertion.reassertRunning(item.deliveryId).catch((error: unknown) => {
            logger.warn(
              { err: error, code: 'upstream_unavailable', deliveryId: item.deliveryId },
              'could not put back',
            );
          });
        }
        return outcome;
      },
    };
    const run = async () => {
      try {
        await runWorkUnit(this.#options.work, item);
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
      } finally {
        running.ended = interrupted ? 'interrupted' : 'done';
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
        try {
          await this.#afterEnd(item.deliveryId, interrupted, completed);
        } finally {
          if (this.#running.get(item.deliveryId) === running) this.#running.delete(item.deliveryId);
        }
      },
    });
  }

  async #afterEnd(deliveryId: string, interrupted: boolean, completed: boolean | undefined): Promise<void> {
    const { logger, redis } = this.#options;
    if (interrupted) {
      // Still this replica's to put back (journal unchanged) until a sweeper here or elsewhere re-runs it.
      await redis.zadd(this.#pendingKey, 'XX', Date.now(), deliveryId).catch(() => {});
      return;
    }
    if (completed === false) {
      logger.warn(
        { code: 'conflict', deliveryId },
        'durable work finished after another replica took it over; its item is left to that replica',
      );
      await this.#journalEnd(deliveryId, 'forget');
      return;
    }
    await this.#delete(deliveryId).catch((error: unknown) => {
      logger.warn({ err: error, deliveryId }, 'could not delete a finished work item');
    });
    await this.#journalEnd(deliveryId, 'finished');
    this.#outcomes.inc({ event: 'completed' });
  }

  async #sweepOnce(): Promise<number> {
    const { redis, dedupe, logger } = this.#options;
    // First whether Redis lost its data since the last sweep (and, on the first sweep, this replica's journal).
    const reasserted = await this.#reassertion.check();
    if (reasserted) this.#outcomes.inc({ event: 'reasserted' }, reasserted.counts.items);
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
      await this.#journalRecord({ ...item, attempts });
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
    await this.#journalEnd(item.deliveryId, 'finished');
  }
}
