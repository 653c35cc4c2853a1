/**
 * The nearest examples of a workspace, answered from an in-memory index per workspace that follows the Redis store.
 *
 * Guarantees:
 * - Only the asking workspace's examples are searched (one index per workspace, filled from its own keys).
 * - Fresh: each query reads the workspace's change counter (one small Redis call); when it moved, the index
 *   catches up — drops deleted ids and reads only the examples it lacks — before answering, so a correction in
 *   one replica changes the next extraction in every replica. Catch-ups of one workspace never run concurrently.
 * - Bounded memory: indexes are dropped least recently used first once the examples held across workspaces pass
 *   `maxHeldExamples`; the asking workspace's index is kept.
 */

import { NearestExampleIndex, type NearestExampleIndexOptions } from './nearest-example-index.ts';
import type { NearestExamples, TicketExample, TicketExampleSource } from './ticket-example.ts';
import type { TicketExampleStore } from './ticket-example-store.ts';

interface Held {
  version: number;
  index: NearestExampleIndex<TicketExample>;
  /** The catch-up in progress, if any. */
  syncing?: Promise<void> | undefined;
}

export interface WorkspaceExampleIndexesOptions {
  /** Examples held in memory across workspaces (default 100,000: about 150 MB at most). */
  maxHeldExamples?: number;
  index?: NearestExampleIndexOptions;
}

export class WorkspaceExampleIndexes implements TicketExampleSource {
  readonly #store: Pick<TicketExampleStore, 'version' | 'snapshot' | 'read'>;
  /** Insertion order is recency: a used workspace is moved to the end. */
  readonly #held = new Map<string, Held>();
  readonly #maxHeld: number;
  readonly #indexOptions: NearestExampleIndexOptions | undefined;

  constructor(
    store: Pick<TicketExampleStore, 'version' | 'snapshot' | 'read'>,
    options: WorkspaceExampleIndexesOptions = {},
  ) {
    this.#store = store;
    this.#maxHeld = options.maxHeldExamples ?? 100_000;
    this.#indexOptions = options.index;
  }

  async nearest(workspaceId: string, text: string, limit: number): Promise<NearestExamples> {
    const held = await this.#current(workspaceId);
    return { neighbours: held.index.nearest(text, limit), examples: held.index.size };
  }

  /**
   * The workspace's index brought up to the store's version. Concurrent callers share one refresh (the version
   * check and the catch-up), so a workspace's examples are read once however many extractions start together.
   */
  async #current(workspaceId: string): Promise<Held> {
    let held = this.#held.get(workspaceId);
    if (!held) held = { version: 0, index: new NearestExampleIndex<TicketExample>(this.#indexOptions) };
    this.#held.delete(workspaceId);
    this.#held.set(workspaceId, held);
    const refreshing = held;
    refreshing.syncing ??= this.#refresh(workspaceId, refreshing).finally(() => {
      refreshing.syncing = undefined;
    });
    await refreshing.syncing;
    return refreshing;
  }

  async #refresh(workspaceId: string, held: Held): Promise<void> {
    const version = await this.#store.version(workspaceId);
    if (version === held.version) return;
    await this.#catchUp(workspaceId, held);
    this.#evictBeyondBudget(workspaceId);
  }

  async #catchUp(workspaceId: string, held: Held): Promise<void> {
    const { version, ids } = await this.#store.snapshot(workspaceId);
    const present = new Set(ids);
    for (const id of [...held.index.ids()]) if (!present.has(id)) held.index.remove(id);
    // A re-recorded id becomes the newest and may carry new labels. Each change bumps the counter by one, so the
    // ids recorded since the last catch-up are among the newest `version − held.version` ids: re-read those too.
    const moved = held.version === 0 ? 0 : Math.min(version - held.version, ids.length);
    const recordedAgain = moved > 0 ? ids.slice(-moved).filter((id) => held.index.has(id)) : [];
    const missing = ids.filter((id) => !held.index.has(id));
    for (const example of await this.#store.read(workspaceId, [...missing, ...recordedAgain])) held.index.add(example);
    held.version = version;
  }

  #evictBeyondBudget(keep: string): void {
    let total = 0;
    for (const held of this.#held.values()) total += held.index.size;
    for (const [workspaceId, held] of this.#held) {
      if (total <= this.#maxHeld) break;
      if (workspaceId === keep || held.syncing) continue;
      total -= held.index.size;
      this.#held.delete(workspaceId);
    }
  }
}
