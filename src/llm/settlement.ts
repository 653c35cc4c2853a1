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
 * - The ledger line is queued in the same tick as the settle script is sent (before Redis answers), so a call
 *   settled in Redis is always in this replica's export by the time a contribution reads it after a loss
 *   (`spend-contribution.ts`, which waits for the queued lines); lines are de-duplicated by request id on every read.
 * - The call happened, so its cost must be counted: a settlement Redis cannot take (an outage, a failover) is sent
 *   again with backoff for a bounded time (`settleRetryDelaysMs`, about 23 s), with the same request id — the settle
 *   script counts a request once, so a retry after one that applied but whose reply was lost is a no-op. Past that,
 *   the budget store is told (`noteUnsettled`) and its contributor counts the ledger line once Redis answers again.
 *   Until then the reservation holds the worst case (600 s by default, far beyond the retries).
 * - A settled call is checked once more a few seconds later (`SpendContributor.recheckLater`): a failover to a
 *   replica that lagged can lose a settlement the old master acknowledged.
 * - Ledger appends (group-committed fsync) and budget warnings run off the caller's path; a warning callback that
 *   throws is logged, never propagated.
 * - `flush()` waits for every settlement started so far and for the ledger; `whenSettled()` for Redis only.
 */
import type { Logger } from 'pino';
import { retryBudgetOutage } from './budget-outage-retry.ts';
import type { BudgetStore, BudgetWarning, CacheStore, Reservation } from './budget-store.ts';
import type { Ledger, LedgerEntry } from './ledger.ts';
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
  /** Waits between attempts of a settlement Redis could not take; one attempt more than there are delays. */
  settleRetryDelaysMs?: readonly number[];
}

/** About 23 s: longer than a Sentinel failover, far shorter than a reservation's lifetime. */
export const defaultSettleRetryDelaysMs: readonly number[] = [200, 400, 800, 1_600, 3_200, 6_400, 10_000];

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
    const { budgets, logger } = this.options;
    // The first attempt is sent synchronously, before the ledger line is queued (see the header).
    const settling = retryBudgetOutage(
      () => budgets.settle(reservation, costMicroUsd, cacheStore, { ...details, unpriced }),
      {
        delaysMs: this.options.settleRetryDelaysMs ?? defaultSettleRetryDelaysMs,
        onRetry: ({ attempt, delayMs, error }) =>
          logger.warn(
            { err: error, code: 'budget_unenforceable', requestId: reservation.requestId, attempt, delayMs },
            'could not settle a model call yet; trying again',
          ),
      },
    );
    const line = this.appendToLedger(reservation, costMicroUsd, details, unpriced);
    try {
      settled = await settling;
      // Checked once more a few seconds later: a failover may promote a replica that never got this settlement.
      budgets.contributor?.recheckLater(line);
    } catch (error) {
      // Counted later from the ledger line by the store's contributor, once Redis answers again.
      budgets.contributor?.markUnsettled(reservation.workspaceId);
      logger.error(
        { err: error, code: 'budget_unenforceable', requestId: reservation.requestId, costMicroUsd },
        'could not settle a model call in the budget store; it is counted from the ledger when Redis is back',
      );
      settled = { charged: false, warnings: [] };
    }
    for (const warning of settled.warnings) {
      try {
        await this.options.onBudgetWarning?.(warning);
      } catch (error) {
        this.options.logger.warn({ err: error, warning }, 'budget warning callback failed');
      }
    }
  }

  /**
   * Queues the call's ledger line (group-committed fsync, off the caller's path). `flush()` (and `Ledger.close()`)
   * wait for it; a crash loses at most the last group commit.
   */
  private appendToLedger(
    reservation: Reservation,
    costMicroUsd: number,
    details: SettledCall,
    unpriced: string | undefined,
  ): LedgerEntry {
    const line: LedgerEntry = {
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
    };
    if (!this.options.ledger) return line;
    const appended = this.options.ledger
      .append(line)
      .catch((error: unknown) => {
        this.options.logger.error(
          { err: error, code: 'internal', requestId: reservation.requestId },
          'could not append to the ledger',
        );
      })
      .finally(() => this.pendingLedger.delete(appended));
    this.pendingLedger.add(appended);
    return line;
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
