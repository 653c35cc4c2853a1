/**
 * `SpendContributor`: every replica hands back to Redis what its local export (the ledger files) holds and Redis
 * does not — so that after Redis lost everything (a restart without persistence) a workspace's spend is rebuilt from
 * the UNION of every live replica's export, not from the restoring replica's alone (issue 17: round B admitted more
 * than the cap because two replicas' spend was never merged back), and a call whose settlement never reached Redis
 * (an outage longer than the settle retries, `settlement.ts`) is still counted once Redis answers again.
 *
 * How a replica learns that it must contribute a workspace:
 * - by a request: a reservation or `/budget` that finds the workspace unseeded contributes before it restores or
 *   waits for the restorer (`budget-restore.ts`);
 * - proactively (`coordinate`): every `intervalMs` (1 s) it renews its registration in the set of live contributors
 *   and, for each workspace its export has spent on this month, checks its marker in `<prefix>{W}:budget:contributed`
 *   (a hash field per replica, lost with everything else in a wipe); a missing marker — or a call it could not
 *   settle — makes it contribute. So a replica that gets no request for that workspace still contributes within
 *   about a second of the loss.
 *
 * What a contribution is: every exported call of the current month that neither the record nor the request's state
 * knows is counted by `contributeEntry` (`spend-contribution-script.ts`): counters, tokens and a `restored` record
 * entry in one step, a no-op for a request already `settled`. Before reading its export the replica waits for the
 * ledger lines already queued (`SpendExport.sync`): the settlement enqueues its line in the same tick it sends the
 * settle script, so a call settled in Redis before the loss is on disk before the export is read.
 *
 * The restorer's side (`awaitPeers`): the lock holder seeds only once every registered replica has either marked the
 * workspace contributed or completed a whole round over its export that started after the workspace's keys were lost
 * (it then holds nothing of this workspace that Redis lacks), waiting at most `peerWaitMs` (3 s). Registrations are
 * lost in a wipe too, so it also waits until the registry's epoch (re-created by the first replica to register after
 * the loss) is `graceMs` old — two renewal intervals, by which time every live replica has registered again.
 *
 * After-care of single calls (`settlement.ts`): a call whose settlement gave up is contributed at the next round;
 * every settled call is checked once more `recheckAfterMs` (5 s) later, because Redis replicates asynchronously and a
 * failover can promote a replica that never got a settlement the old master acknowledged. Reservations this replica
 * holds (calls in flight) are put back with every contribution, after its calls (`reassertReservation`, no cap check:
 * they were admitted), so the room they hold is not admitted a second time after a loss.
 *
 * Guarantee: once a workspace is seeded after a loss, its counters equal its spend record, which holds every call of
 * the month that any replica alive within the wait exported, each once (by request id, across settles, retries and
 * contributions); spend admitted after the seed is checked against that. Remaining windows: a replica that was down
 * (or stalled past `peerWaitMs`) at the restore contributes when it comes back, raising the counters by exactly
 * what it adds, never twice — reservations admitted in between did not see those calls; likewise a settlement lost
 * in a failover is counted only at its recheck (≤ 5 s + one round), and one that gave up when Redis answers again.
 * A reservation of a replica that has not contributed yet holds no room until it does. A store that does not
 * contribute proactively (App Home, `/budget` without a model) waits like the others once the registry exists, but
 * seeds at once in the moment after a loss before any replica re-registered (≤ one interval). A replica whose ledger write failed cannot contribute that call. On Redis Cluster the
 * registry lives in one slot: a loss of only a workspace's node does not reset the epoch (no grace), but the
 * round-completion check still requires a round started after that workspace's loss.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../adapters/redis-client.ts';
import { type BudgetWindows, budgetKeys, isBudgetId, monthTtlSeconds, workspaceRecordKeys } from './budget-keys.ts';
import { sendScript } from './budget-scripts.ts';
import type { Reservation, SpendExport } from './budget-types.ts';
import { contributeEntryCall, contributionScripts, reassertReservationCall } from './spend-contribution-script.ts';
import { configRecordLength, readSpendRecord } from './spend-record.ts';
import type { RecordedSpend } from './spend-totals.ts';

type Guard = <T>(operation: Promise<T>) => Promise<T>;

/** How the replicas coordinate a restore (`BudgetStore.coordinateRestores`). */
export interface ReplicaCoordination {
  /** This replica's id in the registry (default: host, pid and a random suffix). */
  replicaId?: string;
  /** How often the registration is renewed and the markers checked (default 1 s). */
  intervalMs?: number;
  /** How long a registration lives without renewal (default 5 × `intervalMs`). */
  ttlMs?: number;
  /** How long after Redis lost its data a restorer waits for replicas to register again (default 2 × interval). */
  graceMs?: number;
  /** How long a restorer waits for every live replica's contribution before it seeds anyway (default 3 s). */
  peerWaitMs?: number;
  /** How long after its settlement a call is checked once more against Redis (default 5 s; see `recheckLater`). */
  recheckAfterMs?: number;
  /** Hears of each contribution that added calls (for a log line). */
  onContributed?: (workspaceId: string, added: number) => void;
  /** Hears of the first failure of a streak (Redis down); the next success ends the streak. */
  onError?: (error: unknown) => void;
}

export interface SpendContributorOptions {
  redis: RedisClient;
  keyPrefix: string;
  spendExport: SpendExport;
  windowsAt: () => BudgetWindows;
  guard: Guard;
}

/** Workspaces contributed at the same time by one tick. */
const tickConcurrency = 8;
/** Calls sent at once by one contribution (one connection pipelines them). */
const entryBatch = 200;
/** Settled calls awaiting their recheck, at most (the oldest are dropped: they were replicated long ago). */
const maxRechecks = 100_000;

type ExportedCall = RecordedSpend & { purpose?: string | undefined };

export class SpendContributor {
  readonly #options: SpendContributorOptions;
  readonly #inFlight = new Map<string, Promise<number>>();
  /** Workspaces with a call this replica could not settle: contributed at the next tick whatever the marker says. */
  readonly #dirty = new Set<string>();
  /** Reservations this replica holds (calls in flight), with when each expires: put back if Redis loses them. */
  readonly #held = new Map<string, { reservation: Reservation; expiresAt: number }>();
  /** This replica's settled calls, each checked once more `recheckAfterMs` after its settlement (oldest first). */
  readonly #rechecks: Array<{ dueAt: number; entry: ExportedCall }> = [];
  #coordination: (Required<Omit<ReplicaCoordination, 'onContributed' | 'onError'>> & ReplicaCoordination) | undefined;
  /** This replica's field in the markers (`coordinate` may name it). */
  #replicaId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #failing = false;

  constructor(options: SpendContributorOptions) {
    this.#options = options;
  }

  /** The registry keys (one slot: `{budget-replicas}`). */
  get registryKeys(): { members: string; epoch: string; complete: string } {
    const base = `${this.#options.keyPrefix}{budget-replicas}:`;
    return { members: `${base}members`, epoch: `${base}epoch`, complete: `${base}complete` };
  }

  /** Calls the replicas contributed to the workspace since Redis last lost it (what a restore took from exports). */
  async contributedCount(workspaceId: string): Promise<number> {
    const { contributed } = workspaceRecordKeys(this.#options.keyPrefix, workspaceId);
    const counts = await this.#options.guard(this.#options.redis.hgetall(contributed));
    return Object.entries(counts).reduce(
      (sum, [field, count]) => sum + (field === '_since' ? 0 : Number(count) || 0),
      0,
    );
  }

  /** Whether restores wait for the other replicas (`coordinate` was called). */
  get coordinated(): boolean {
    return this.#coordination !== undefined;
  }

  /** Registers this replica, contributes proactively every `intervalMs`; resolves after the first tick. */
  async coordinate(coordination: ReplicaCoordination = {}): Promise<{ stop: () => void }> {
    const intervalMs = coordination.intervalMs ?? 1_000;
    this.#replicaId = coordination.replicaId ?? this.#replicaId;
    this.#coordination = {
      ...coordination,
      replicaId: this.#replicaId,
      intervalMs,
      ttlMs: coordination.ttlMs ?? 5 * intervalMs,
      graceMs: coordination.graceMs ?? 2 * intervalMs,
      peerWaitMs: coordination.peerWaitMs ?? 3_000,
      recheckAfterMs: coordination.recheckAfterMs ?? 5_000,
    };
    await this.tick();
    this.#timer ??= setInterval(() => void this.tick(), intervalMs);
    this.#timer.unref();
    return { stop: () => this.stop() };
  }

  /** Stops the proactive ticks (its registration expires by itself, as a dead replica's does). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A call of this workspace could not be settled in Redis: its ledger line is contributed at the next tick. */
  markUnsettled(workspaceId: string): void {
    this.#dirty.add(workspaceId);
  }

  /** A reservation this replica now holds (until `unhold`, or its expiry); answers it. */
  hold(reservation: Reservation, ttlMs: number): Reservation {
    if (this.#held.size >= maxRechecks) this.#held.delete(this.#held.keys().next().value ?? '');
    this.#held.set(reservation.requestId, { reservation, expiresAt: Date.now() + ttlMs });
    return reservation;
  }

  /** The reservation was settled or released (Redis answered). */
  unhold(requestId: string): void {
    this.#held.delete(requestId);
  }

  /**
   * A call this replica settled: checked once more after `recheckAfterMs`, by the proactive round. Redis replicates
   * asynchronously, so a failover can promote a replica that never got the last settlements the old master
   * acknowledged; nothing else would notice (the workspace stays seeded, counters and record agree, both short).
   * The check is `contributeEntry`, a no-op when the request is `settled`.
   */
  recheckLater(entry: ExportedCall): void {
    const coordination = this.#coordination;
    if (!coordination) return;
    if (this.#rechecks.length >= maxRechecks) this.#rechecks.shift();
    this.#rechecks.push({ dueAt: Date.now() + coordination.recheckAfterMs, entry });
  }

  /** Contributes the workspace's exported calls Redis lacks (shared while in flight); answers how many were added. */
  contribute(workspaceId: string): Promise<number> {
    let pending = this.#inFlight.get(workspaceId);
    if (!pending) {
      pending = this.#contribute(workspaceId).finally(() => this.#inFlight.delete(workspaceId));
      this.#inFlight.set(workspaceId, pending);
    }
    return pending;
  }

  /**
   * Waits (until `deadline`, or `peerWaitMs` from now) until every registered replica has contributed the workspace;
   * answers the replicas that had not (empty when all had). A store that does not contribute proactively (the App
   * Home's, `/budget` without a model) waits the same way, without registering, once the registry shows replicas
   * coordinating; with no registry at all (none does, or none re-registered yet after a loss) it does not wait.
   */
  async awaitPeers(workspaceId: string, deadline?: number): Promise<string[]> {
    const coordination = this.#coordination ?? { graceMs: 2_000, peerWaitMs: 3_000 };
    const until = deadline ?? Date.now() + coordination.peerWaitMs;
    const { contributed } = workspaceRecordKeys(this.#options.keyPrefix, workspaceId);
    const { redis, guard } = this.#options;
    for (;;) {
      const { ageMs, live } = await this.#register();
      if (ageMs < 0) return [];
      // Done: contributed this workspace, or completed a round over its whole export that STARTED after the
      // workspace's keys were lost (then it has nothing of this workspace that Redis lacks).
      const markers = await guard(redis.hgetall(contributed));
      const lostAt = Number((markers._since ?? '').split(':')[0] || Number.POSITIVE_INFINITY);
      const done = new Set([
        ...Object.keys(markers),
        ...(Number.isFinite(lostAt)
          ? await guard(redis.zrangebyscore(this.registryKeys.complete, String(lostAt), '+inf'))
          : []),
      ]);
      const missing = live.filter((id) => !done.has(id));
      if (ageMs >= coordination.graceMs && missing.length === 0) return [];
      if (Date.now() >= until) return missing.length > 0 ? missing : ['(registry younger than the grace period)'];
      await sleep(50);
    }
  }

  /** One proactive round: renew the registration, contribute every workspace whose marker is missing or dirty. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    const coordination = this.#coordination;
    if (!coordination) return;
    try {
      const { epoch, now: startedAt } = await this.#register();
      const { spendExport, guard, redis, keyPrefix } = this.#options;
      await this.#recheckDue(coordination.onContributed);
      const month = this.#options.windowsAt().month;
      const workspaces = [...new Set([...((await spendExport.workspaceIds?.(month)) ?? []), ...this.#dirty])];
      const queue = workspaces.filter(isBudgetId);
      const errors: unknown[] = [];
      const worker = async () => {
        for (let workspaceId = queue.shift(); workspaceId !== undefined; workspaceId = queue.shift()) {
          try {
            const { contributed } = workspaceRecordKeys(keyPrefix, workspaceId);
            const marked = await guard(redis.hexists(contributed, coordination.replicaId));
            if (marked === 1 && !this.#dirty.has(workspaceId)) continue;
            const added = await this.contribute(workspaceId);
            if (added > 0) coordination.onContributed?.(workspaceId, added);
          } catch (error) {
            errors.push(error);
          }
        }
      };
      await Promise.all(Array.from({ length: tickConcurrency }, worker));
      if (errors.length > 0) throw errors[0];
      const { complete, epoch: epochKey } = this.registryKeys;
      await guard(
        sendScript(redis, contributionScripts.markRoundComplete, {
          keys: [epochKey, complete],
          args: [epoch, coordination.replicaId, startedAt],
        }),
      );
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) coordination.onError?.(error);
      this.#failing = true;
    }
  }

  /** Sends every due recheck; put back (and the round fails) when Redis does not answer. */
  async #recheckDue(onContributed: ReplicaCoordination['onContributed']): Promise<void> {
    const now = Date.now();
    let due = 0;
    while (due < this.#rechecks.length && (this.#rechecks[due]?.dueAt ?? now + 1) <= now) due += 1;
    const batch = this.#rechecks.splice(0, Math.min(due, entryBatch * 5));
    try {
      const added = new Map<string, number>();
      for (let start = 0; start < batch.length; start += entryBatch) {
        const replies = await Promise.all(
          batch.slice(start, start + entryBatch).map(async ({ entry }) => {
            const reply = await this.#sendEntry(entry.workspaceId, entry);
            return { workspaceId: entry.workspaceId, added: Number(reply) === 1 ? 1 : 0 };
          }),
        );
        for (const reply of replies) added.set(reply.workspaceId, (added.get(reply.workspaceId) ?? 0) + reply.added);
      }
      for (const [workspaceId, count] of added) if (count > 0) onContributed?.(workspaceId, count);
    } catch (error) {
      this.#rechecks.unshift(...batch);
      throw error;
    }
  }

  /** Puts back the workspace's reservations this replica holds that Redis lost (after its calls were contributed). */
  async #reassertHeld(workspaceId: string): Promise<void> {
    const { redis, guard, keyPrefix } = this.#options;
    const now = Date.now();
    const sends: Promise<unknown>[] = [];
    for (const [requestId, { reservation, expiresAt }] of this.#held) {
      if (expiresAt <= now) this.#held.delete(requestId);
      if (expiresAt <= now || reservation.workspaceId !== workspaceId) continue;
      const perUser = reservation.defaults?.userDailyMicroUsd !== undefined ? reservation.userId : undefined;
      const keys = budgetKeys(keyPrefix, workspaceId, reservation.channelId, reservation.windows, perUser);
      const call = reassertReservationCall(keys, reservation, expiresAt - now);
      sends.push(guard(sendScript(redis, contributionScripts.reassert, call)));
    }
    await Promise.all(sends);
  }

  /** `contributeEntry` for one exported call, with the keys of its own windows and person. */
  #sendEntry(workspaceId: string, entry: ExportedCall): Promise<unknown> {
    const { redis, guard, keyPrefix } = this.#options;
    const userId = entry.userId !== undefined && isBudgetId(entry.userId) ? entry.userId : undefined;
    const keys = budgetKeys(keyPrefix, workspaceId, entry.channelId, entry, userId);
    return guard(sendScript(redis, contributionScripts.entry, contributeEntryCall(keys, entry)));
  }

  /** Renews this replica's registration (only reads the registry without coordination). */
  async #register(): Promise<{ ageMs: number; epoch: string; now: number; live: string[] }> {
    const coordination = this.#coordination;
    const { members, epoch } = this.registryKeys;
    const reply = (await this.#options.guard(
      sendScript(this.#options.redis, contributionScripts.register, {
        keys: [members, epoch],
        args: coordination ? [coordination.replicaId, coordination.ttlMs] : ['', 0],
      }),
    )) as string[];
    return { ageMs: Number(reply[0] ?? 0), epoch: String(reply[1] ?? ''), now: Number(reply[2]), live: reply.slice(3) };
  }

  async #contribute(workspaceId: string): Promise<number> {
    const { redis, guard, keyPrefix } = this.#options;
    const { contributed } = workspaceRecordKeys(keyPrefix, workspaceId);
    // Cleared before the export is read: a call that fails to settle from now on marks it again.
    this.#dirty.delete(workspaceId);
    try {
      for (let attempt = 1; ; attempt += 1) {
        const since = await guard(
          sendScript(redis, contributionScripts.begin, { keys: [contributed], args: [randomUUID(), monthTtlSeconds] }),
        );
        const added = await this.#contributeOnce(workspaceId);
        // The marker counts what each replica added since Redis last lost the workspace (the restore note's source).
        const marked = await guard(
          sendScript(redis, contributionScripts.markContributed, {
            keys: [contributed],
            args: [String(since), this.#replicaId, added],
          }),
        );
        if (Number(marked) === 1) return added;
        // The workspace's keys were lost while this ran: what was added went with them; contribute again.
        if (attempt >= 3) throw new Error(`Redis lost ${workspaceId}'s keys during three contributions in a row`);
      }
    } catch (error) {
      this.#dirty.add(workspaceId);
      throw error;
    }
  }

  /** Counts the exported calls the record lacks (and copies a lost config snapshot); answers how many were added. */
  async #contributeOnce(workspaceId: string): Promise<number> {
    const { spendExport, redis, guard, keyPrefix } = this.#options;
    await spendExport.sync?.();
    const exported = await spendExport.read(workspaceId);
    const record = workspaceRecordKeys(keyPrefix, workspaceId);
    if (exported.config) {
      const { caps, settings } = exported.config;
      await guard(
        sendScript(redis, contributionScripts.config, {
          keys: [record.config],
          args: [JSON.stringify(caps), settings ? JSON.stringify(settings) : '', configRecordLength],
        }),
      );
    }
    const { month } = this.#options.windowsAt();
    const seen = new Set<string>();
    const current = exported.entries.filter((entry) => {
      if (entry.month !== month || seen.has(entry.requestId) || !isBudgetId(entry.channelId)) return false;
      seen.add(entry.requestId);
      return true;
    });
    let added = 0;
    if (current.length > 0) {
      // Request states live 2 days: an older call is checked against the record itself.
      const recorded = new Set((await guard(readSpendRecord(redis, record.record))).entries.map((e) => e.requestId));
      const missing = current.filter((entry) => !recorded.has(entry.requestId));
      for (let start = 0; start < missing.length; start += entryBatch) {
        const replies = await Promise.all(
          missing.slice(start, start + entryBatch).map((entry) => this.#sendEntry(workspaceId, entry)),
        );
        added += replies.filter((reply) => Number(reply) === 1).length;
      }
    }
    await this.#reassertHeld(workspaceId);
    return added;
  }
}
