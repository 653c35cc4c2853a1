/**
 * `WorkspacePriceTables`: the price table a workspace's calls are charged with — the process's table
 * (`MODEL_PRICES_JSON` over the defaults) with the workspace's own prices (its settings' `prices`) over it.
 *
 * Guarantees:
 * - The gateway reserves and settles a workspace's calls with this table, so a workspace's price changes its own
 *   reserved and settled cost and no other workspace's.
 * - A workspace without prices (or without a source) uses the process's table itself.
 * - Tables are cached per prices object (settings sources hand out the same frozen object while the stored settings
 *   are unchanged), at most `maxCached`; a changed price is a new object, so the next call sees it.
 * - A failing source fails the call (the settings store is down: its caps could not be read either).
 */
import type { WorkspaceModelPrice } from '../ports/workspace-settings.ts';
import type { ModelPrice } from './model-price.ts';
import type { PriceTable } from './prices.ts';

/** A workspace's own prices, in USD per million tokens, or undefined when it has none. */
export type WorkspacePricesSource = (
  workspaceId: string,
) => Promise<Readonly<Record<string, WorkspaceModelPrice>> | undefined>;

const micro = (usd: number) => Math.round(usd * 1_000_000);

export class WorkspacePriceTables {
  readonly #base: PriceTable;
  readonly #source: WorkspacePricesSource | undefined;
  readonly #cache = new Map<Readonly<Record<string, WorkspaceModelPrice>>, PriceTable>();
  readonly #maxCached: number;

  constructor(base: PriceTable, source?: WorkspacePricesSource, maxCached = 1_000) {
    this.#base = base;
    this.#source = source;
    this.#maxCached = maxCached;
  }

  /** The table for `workspaceId`'s calls. */
  async forWorkspace(workspaceId: string): Promise<PriceTable> {
    const prices = this.#source ? await this.#source(workspaceId) : undefined;
    if (!prices || Object.keys(prices).length === 0) return this.#base;
    const cached = this.#cache.get(prices);
    if (cached) return cached;
    const extra: Record<string, ModelPrice> = {};
    for (const [model, price] of Object.entries(prices)) {
      extra[model] = {
        inputPerMillion: micro(price.inputUsdPerMillion),
        cachedInputPerMillion: micro(price.inputUsdPerMillion),
        outputPerMillion: micro(price.outputUsdPerMillion),
      };
    }
    const table = this.#base.withPrices(extra);
    if (this.#cache.size >= this.#maxCached) this.#cache.clear();
    this.#cache.set(prices, table);
    return table;
  }
}
