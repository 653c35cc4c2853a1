/**
 * `WorkReassertion`: notices that Redis lost its data and puts this replica's durable work back from its journal
 * (work-journal.ts). Issue 17: a Redis master restarted empty (no persistence) before the sentinels noticed took every
 * work item, pending entry and delivery claim with it; the items of a replica killed just before were never run
 * (12 of 300 mentions without a reply), and live replicas kept working on items Redis no longer knew.
 *
 * How a loss is noticed: the work epoch (`{work}:epoch`, work-item.ts), a random value created by whichever replica
 * finds it missing, read by every replica at each sweep (one script per second, and at once when the connection is
 * ready again after a break: durable-work.ts). A replica that finds another value
 * than the one it knew (or none, then creating one) knows Redis lost its data since, and every replica then sees the
 * new value once. An epoch rather than each replica's heartbeat key: it lives in the `{work}` slot, so on a Cluster
 * it is lost exactly when the node holding the items is, and a freeze longer than the heartbeat TTL is not a loss.
 * On start the epoch is unknown, so a replica always puts its journal back when it starts (its journal is on its own
 * disk: the work of its previous process, killed, is then re-run by a sweeper once that process's heartbeat ends).
 *
 * Putting back, in this order (every step only writes what is missing, so it is safe to run again — a second loss
 * after a restart — and concurrently with other replicas):
 * 1. after a loss, this replica's heartbeat is renewed at once and it stops judging others for a heartbeat TTL, so
 *    that a lease re-created by a live replica never looks like a dead one's;
 * 2. done markers of the deliveries finished here recently (journal `d`), so that Slack's retries stay duplicates;
 * 3. for each item running here: its lease first, with its own token (`renew`, which re-creates a missing lease),
 *    then the item and pending entry — in that order, so no sweeper can claim it in between and run it twice;
 * 4. for each other unfinished journal item: nothing when its delivery is done in Redis (the item is forgotten);
 *    otherwise the item (same delivery id, attempts and reply anchor) and its pending entry, due only after a
 *    heartbeat TTL (`graceMs`): a replica still running it has that long to notice the loss and re-create its
 *    lease. Then any replica's sweeper claims it (no lease exists) and runs it.
 * Every `reconcileEveryMs` (default 30 s) step 4 runs alone, without a loss: journal items finished elsewhere are
 * forgotten, and one lost in a failover that kept the epoch (a write the replica had not yet copied) is put back.
 *
 * What stays uncovered (the honest window): a delivery finished by another replica (after it took the item over from
 * this one) whose done marker is lost while this replica is down is put back by this replica's journal and run a
 * second time — the finishing replica's journal knows it is done, this one's does not; a Slack retry arriving after
 * the loss but before the replica that finished (or is running) the delivery puts its done marker (or lease) back
 * runs it again — that replica sweeps as soon as its connection is ready again and at least once a second; so does a renewal restoring a lease in the ~ms between a job's end and its done marker; a replica whose
 * sweeps are slower than `graceMs` may find its running item claimed by another; and without fsync of new anchor
 * directory entries a power loss (not a process kill) can lose an anchor written just before it.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../adapters/redis-client.ts';
import type { Logger } from '../observability/logger.ts';
import type { DeliveryClaim, DeliveryDeduplicator } from './dedupe.ts';
import { replyTsField, type StoredWork, workEpochKey, workItemKey, workPendingKey } from './work-item.ts';
import type { JournalEntry, WorkJournal } from './work-journal.ts';

/** An item this replica is running now, as durable work tracks it. */
export interface RunningWork {
  item: StoredWork;
  /** The delivery's claim as the job holds it (its token: re-created with it after a loss). */
  claim?: DeliveryClaim;
  /** Set once the work itself has ended (`done`: answered; `interrupted`: left to the sweeper). */
  ended?: 'done' | 'interrupted';
}

export interface WorkReassertionOptions {
  redis: RedisClient;
  keyPrefix: string;
  dedupe: DeliveryDeduplicator;
  /** Absent: only the work running here is put back after a loss. */
  journal?: WorkJournal;
  logger: Logger;
  itemTtlMs: number;
  /** When a running item put back is looked at again (durable work's `lookAgainMs`). */
  lookAgainMs: number;
  /** How long an item put back for no one in particular waits before a sweeper may take it (default heartbeat TTL). */
  graceMs?: number;
  reconcileEveryMs?: number;
  running: ReadonlyMap<string, RunningWork>;
}

export interface ReassertionCounts {
  doneMarkers: number;
  leases: number;
  items: number;
  forgotten: number;
}

type Reason = 'start' | 'lost' | 'reconcile';

// Returns the epoch, creating it when Redis has none.
const epochScript = `
local value = redis.call('GET', KEYS[1])
if value then return value end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`;

// KEYS: item, pending. ARGV: kind, name, request, attempts, replyTs or '', ttl ms, pending score, delivery id.
const putBackScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[5] ~= '' then redis.call('HSETNX', KEYS[1], '${replyTsField}', ARGV[5]) end
  return 0
end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'name', ARGV[2], 'request', ARGV[3], 'attempts', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], '${replyTsField}', ARGV[5]) end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], 'NX', ARGV[7], ARGV[8])
return 1`;

export class WorkReassertion {
  readonly #options: WorkReassertionOptions;
  readonly #graceMs: number;
  #epoch: string | undefined;
  #reconciledAt = Date.now();

  constructor(options: WorkReassertionOptions) {
    this.#options = options;
    this.#graceMs = options.graceMs ?? options.dedupe.heartbeat.ttlMs;
  }

  /**
   * Reads the work epoch; puts the work back when it is not the one this replica knew (always on the first call),
   * and reconciles the journal every `reconcileEveryMs`. Resolves with what it did.
   */
  async check(now = Date.now()): Promise<{ reason: Reason; counts: ReassertionCounts } | undefined> {
    const { redis, keyPrefix, logger } = this.#options;
    const epoch = String(await redis.eval(epochScript, 1, workEpochKey(keyPrefix), randomUUID()));
    if (epoch === this.#epoch) {
      if (now - this.#reconciledAt < (this.#options.reconcileEveryMs ?? 30_000)) return undefined;
      this.#reconciledAt = now;
      return { reason: 'reconcile', counts: await this.reassert('reconcile') };
    }
    const reason: Reason = this.#epoch === undefined ? 'start' : 'lost';
    if (reason === 'lost') {
      logger.warn(
        { code: 'upstream_unavailable', known: this.#epoch, found: epoch },
        'Redis lost its data (the work epoch changed): putting back this replica’s durable work from its journal',
      );
    }
    const counts = await this.reassert(reason);
    // Only once everything is back: a failure part-way is retried at the next sweep.
    this.#epoch = epoch;
    this.#reconciledAt = now;
    return { reason, counts };
  }

  /** See the header for the steps; `reconcile` runs step 4 only. */
  async reassert(reason: Reason): Promise<ReassertionCounts> {
    const { dedupe, journal, running, logger } = this.#options;
    const counts: ReassertionCounts = { doneMarkers: 0, leases: 0, items: 0, forgotten: 0 };
    const now = Date.now();
    if (reason === 'lost') {
      await dedupe.heartbeat.beatNow();
      dedupe.heartbeat.suspendJudging();
    }
    const entries = new Map((await (journal?.unfinished(now) ?? [])).map((entry) => [entry.deliveryId, entry]));
    if (reason !== 'reconcile') {
      for (const batch of chunks(await (journal?.recentlyDone(dedupe.doneTtlMs, now) ?? []), 100)) {
        const written = await Promise.all(batch.map((done) => dedupe.restoreDone(done.deliveryId, done.ttlMs)));
        counts.doneMarkers += written.filter(Boolean).length;
      }
    }
    for (const [deliveryId, run] of running) {
      if (run.ended === 'interrupted') continue;
      const entry = entries.get(deliveryId) ?? entryOf(run.item);
      entries.delete(deliveryId);
      if (reason === 'reconcile' || run.ended === 'done') continue;
      if (run.claim) {
        const outcome = await run.claim.renew();
        if (outcome === 'done') continue;
        if (outcome === 'restored') counts.leases += 1;
      }
      if (await this.#putBack(entry, Date.now() + this.#options.lookAgainMs)) counts.items += 1;
    }
    for (const entry of entries.values()) {
      if ((await dedupe.state(entry.deliveryId)) === 'done') {
        await journal?.forget(entry.deliveryId);
        counts.forgotten += 1;
        continue;
      }
      if (await this.#putBack(entry, Date.now() + this.#graceMs)) counts.items += 1;
    }
    const changed = counts.doneMarkers + counts.leases + counts.items > 0;
    if (changed || reason === 'lost') {
      logger.warn({ code: 'upstream_unavailable', reason, ...counts }, 'durable work put back into Redis');
    } else if (reason === 'start' && counts.forgotten > 0) {
      logger.info({ reason, ...counts }, 'work journal reconciled with Redis');
    }
    return counts;
  }

  /** A running item's lease was re-created by its renewal: its item may be gone as well (durable-work.ts). */
  async reassertRunning(deliveryId: string): Promise<boolean> {
    const run = this.#options.running.get(deliveryId);
    if (!run || run.ended) return false;
    const journaled = (await this.#options.journal?.unfinished())?.find((entry) => entry.deliveryId === deliveryId);
    return this.#putBack(journaled ?? entryOf(run.item), Date.now() + this.#options.lookAgainMs);
  }

  /** Re-creates the item and its pending entry when the item is missing; resolves whether it did. */
  async #putBack(entry: JournalEntry, dueAt: number): Promise<boolean> {
    const { redis, keyPrefix, itemTtlMs } = this.#options;
    const ttlMs = Math.max(1_000, itemTtlMs - (Date.now() - entry.storedAt));
    const created = await redis.eval(
      putBackScript,
      2,
      workItemKey(keyPrefix, entry.deliveryId),
      workPendingKey(keyPrefix),
      entry.kind,
      entry.name,
      JSON.stringify(entry.request),
      String(entry.attempts),
      entry.replyTs ?? '',
      String(ttlMs),
      String(dueAt),
      entry.deliveryId,
    );
    return created === 1;
  }
}

function entryOf(item: StoredWork): JournalEntry {
  const { deliveryId, kind, name, request, attempts, replyTs } = item;
  return { deliveryId, kind, name, request, attempts, storedAt: Date.now(), ...(replyTs ? { replyTs } : {}) };
}

function chunks<T>(values: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let index = 0; index < values.length; index += size) out.push(values.slice(index, index + size));
  return out;
}
