/**
 * `ReplicaHeartbeat`: how the replicas tell a dead one in seconds rather than after a 30 s delivery lease (issue 17:
 * work of a killed replica was picked up only after the lease, its last replies 72–82 s late). Each replica
 * renews `<prefix>replica:{<id>}:alive` (`SET … PX ttlMs`, a key of its own, hash-tagged) every `intervalMs`;
 * its delivery claims carry its id (dedupe.ts), so the durable-work sweeper of another replica can see that the
 * owner of a claim stopped beating and take the claim over (`DeliveryDeduplicator.claimOrTakeOver`).
 *
 * Guarantees and limits:
 * - a replica whose process died, froze or lost Redis stops renewing; its key expires `ttlMs` after its last
 *   renewal (5 s by default, renewed every second, so four renewals can be lost before it is judged dead);
 * - `mayJudgeOthers` is false until this replica's own heartbeat has been renewed without a failure for `ttlMs`:
 *   after a Redis outage (or a restart without persistence) every replica's key is missing at once, and a replica
 *   that judged its peers then would take over work that is still running; a replica that sees that Redis lost its
 *   data (work-reassertion.ts) starts that wait again (`suspendJudging`);
 * - the heartbeat is started by the first claim and keeps beating while the process lives (its timer does not
 *   keep the process alive), so that work still draining during a graceful shutdown is not taken over; `stop`
 *   ends it (tests; a process about to exit).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisClient } from '../adapters/redis-client.ts';

export interface ReplicaHeartbeatOptions {
  redis: RedisClient;
  keyPrefix: string;
  /** This replica's id (default: host, pid and a random suffix). */
  replicaId?: string;
  /** How long a renewal keeps the replica alive (default 5 s). */
  ttlMs?: number;
  /** How often it is renewed (default 1 s). */
  intervalMs?: number;
  /** Told when a renewal fails (for a log line). */
  onFailure?: (error: unknown) => void;
}

export class ReplicaHeartbeat {
  readonly replicaId: string;
  readonly ttlMs: number;
  readonly intervalMs: number;
  readonly #options: ReplicaHeartbeatOptions;
  #timer: NodeJS.Timeout | undefined;
  #started: Promise<void> | undefined;
  /** Since when the renewals have succeeded without a break (undefined while failing or not started). */
  #healthySince: number | undefined;

  constructor(options: ReplicaHeartbeatOptions) {
    this.#options = options;
    this.replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.ttlMs = options.ttlMs ?? 5_000;
    this.intervalMs = options.intervalMs ?? 1_000;
  }

  /** The key a replica renews. */
  keyOf(replicaId: string): string {
    return `${this.#options.keyPrefix}replica:{${replicaId}}:alive`;
  }

  /** Renews now (resolves once the first renewal was answered, or failed), then every `intervalMs`. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      await this.#beat();
      this.#timer = setInterval(() => void this.#beat(), this.intervalMs);
      this.#timer.unref();
    })();
    return this.#started;
  }

  /** Stops renewing; the key expires by itself, as a dead replica's does. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#started = undefined;
    this.#healthySince = undefined;
  }

  /** Renews now, off the timer: before this replica re-creates leases after Redis lost its data (work-reassertion.ts). */
  beatNow(): Promise<void> {
    return this.#beat();
  }

  /**
   * Starts the TTL before this replica may judge others again from now (Redis lost its data: every replica's key is
   * missing until its next renewal, and a lease re-created by a live replica must not look like a dead one's).
   */
  suspendJudging(now = Date.now()): void {
    if (this.#healthySince !== undefined) this.#healthySince = now;
  }

  /** Whether `replicaId` renewed its heartbeat within its TTL. */
  async alive(replicaId: string): Promise<boolean> {
    return (await this.#options.redis.exists(this.keyOf(replicaId))) === 1;
  }

  /** See the header: false until this replica's own renewals have succeeded for a whole TTL. */
  mayJudgeOthers(now = Date.now()): boolean {
    return this.#healthySince !== undefined && now - this.#healthySince >= this.ttlMs;
  }

  async #beat(): Promise<void> {
    try {
      await this.#options.redis.set(this.keyOf(this.replicaId), String(Date.now()), 'PX', this.ttlMs);
      this.#healthySince ??= Date.now();
    } catch (error) {
      this.#healthySince = undefined;
      this.#options.onFailure?.(error);
    }
  }
}
