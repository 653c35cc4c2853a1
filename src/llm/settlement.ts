/**
 * `Settlement`: how the gateway turns a reservation into spend once the provider has answered, or gives it back.
 *
 * - `settleInBackground` writes the settle script to the budget store's connection before it returns (the store
 *   sends it synchronously) but does not make the caller wait for Redis's reply. Redis runs one connection's
 *   commands in order, so any later reservation or cache lookup from this process sees the settled spend and the
 *   stored cache entry; other processes see the reservation's worst case a little longer, which only makes them more
 *   cautious.
 * - The settle script also appends the call to the workspace's spend record in Redis (`spend-record.ts`), which
 *   every replica restores lost counters from; the ledger line is this process's local export of it.
 * - A settlement the budget store cannot record is still appended to the ledger (the call happened, so a restore
 *   copies it back into the record and counts it); the reservation expires on its own.
 * - Ledger appends (group-committed fsync) and budget warnings run off the caller's path; a warning callback that
 *   throws is logged, never propagated.
 * - `flush()` waits for every settlement started so far and for the ledger; `whenSettled()` for Redis only.
 */
import type { Logger } from 'pino';
import type { BudgetStore, BudgetWarning, CacheStore, Reservation } from './budget-store.ts';
import type { Ledger } from './ledger.ts';
import type { PriceTable } from './prices.ts';

/** What a settled call used: recorded in the token counters and the ledger. */
export interface SettledCall {
  model: string;
  purpose: string;
  inputTokens: number;
  outputTokens: number;
}

export interface SettlementOptions {
  budgets: BudgetStore;
  prices: PriceTable;
  logger: Logger;
  ledger?: Ledger | undefined;
  onBudgetWarning?: ((warning: BudgetWarning) => void | Promise<void>) | undefined;
}

export class Settlement {
  private readonly options: SettlementOptions;
  private readonly pendingLedger = new Set<Promise<void>>();
  private readonly pendingSettlements = new Set<Promise<void>>();

  constructor(options: SettlementOptions) {
    this.options = options;
  }

  /** Resolves once every settlement started so far has been answered by Redis and every ledger entry is on disk. */
  async flush(): Promise<void> {
    await this.whenSettled();
    await Promise.all([...this.pendingLedger]);
  }

  /** Resolves once Redis has answered every settlement started so far (spend, cache entry, warnings); not the ledger. */
  async whenSettled(): Promise<void> {
    while (this.pendingSettlements.size > 0) await Promise.all([...this.pendingSettlements]);
  }

  /**
   * Settles a successful call without making the caller wait for Redis's reply. The settle script is written to the
   * budget store's connection before this returns (`BudgetStore.settle` sends it synchronously), and Redis runs the
   * commands of one connection in order, so any later reservation or cache lookup from this process sees the
   * settled spend and the stored entry: no phantom refusal, no missed cache hit. Until the reply arrives the
   * reservation still holds the worst case, so other processes can only see more spend, never less. A crash before
   * the reply is the same window as before (the reservation expires; the ledger misses that one entry).
   */
  settleInBackground(
    reservation: Reservation,
    costMicroUsd: number,
    details: SettledCall,
    cacheStore?: CacheStore,
    prices?: PriceTable,
  ): void {
    const settling = this.settle(reservation, costMicroUsd, details, cacheStore, prices)
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, requestId: reservation.requestId }, 'settlement failed');
      })
      .finally(() => this.pendingSettlements.delete(settling));
    this.pendingSettlements.add(settling);
  }

  /** Settles a call and waits for Redis (an interrupted stream's partial charge); then ledger and warnings. */
  async settle(
    reservation: Reservation,
    costMicroUsd: number,
    details: SettledCall,
    cacheStore?: CacheStore,
    prices: PriceTable = this.options.prices,
  ): Promise<void> {
    let settled: Awaited<ReturnType<BudgetStore['settle']>>;
    // The call's workspace's table: a model it prices is not "unpriced" even when the process's table lacks it.
    const unpriced = prices.unpricedReason(details.model);
    try {
      settled = await this.options.budgets.settle(reservation, costMicroUsd, cacheStore, { ...details, unpriced });
    } catch (error) {
      // The call already happened: keep the ledger right so a rebuild restores the spend; the reservation expires.
      this.options.logger.error(
        { err: error, requestId: reservation.requestId, costMicroUsd },
        'could not settle a model call in the budget store',
      );
      settled = { charged: true, warnings: [] };
    }
    if (settled.charged && this.options.ledger) {
      // The ledger is the backup of Redis's counters, not the enforcement: its fsync (group-committed) runs off the
      // reply path. `flush()` (and `Ledger.close()`) wait for it; a crash loses at most the last group commit.
      const appended = this.options.ledger
        .append({
          at: new Date().toISOString(),
          requestId: reservation.requestId,
          workspaceId: reservation.workspaceId,
          channelId: reservation.channelId,
          ...(reservation.userId !== undefined ? { userId: reservation.userId } : {}),
          day: reservation.windows.day,
          month: reservation.windows.month,
          costMicroUsd,
          ...details,
          ...(unpriced ? { unpriced } : {}),
        })
        .catch((error: unknown) => {
          this.options.logger.error({ err: error, requestId: reservation.requestId }, 'could not append to the ledger');
        })
        .finally(() => this.pendingLedger.delete(appended));
      this.pendingLedger.add(appended);
    }
    for (const warning of settled.warnings) {
      try {
        await this.options.onBudgetWarning?.(warning);
      } catch (error) {
        this.options.logger.warn({ err: error, warning }, 'budget warning callback failed');
      }
    }
  }

  /** Drops a reservation without charging it; a failure is logged (the reservation expires on its own). */
  async releaseQuietly(reservation: Reservation): Promise<void> {
    await this.options.budgets.release(reservation).catch((error: unknown) => {
      this.options.logger.warn(
        { err: error, requestId: reservation.requestId },
        'could not release a reservation; it expires on its own',
      );
    });
  }
}
