/**
 * A fair queue of waiting work, keyed by who asked (`workspaceId:channelId`): `shift` takes keys in round-robin
 * order and each key's items first-in first-out, so one channel with a hundred queued requests delays another
 * channel's single request by at most one item per turn, not by a hundred. Each key holds at most
 * `maxPerKey` items; `push` refuses beyond that, so a flooding channel cannot grow memory or everyone's wait.
 *
 * Pure data structure (no threads, no timers): the work pool (src/composition/worker/work-pool.ts) owns it.
 * `shift` may skip keys that cannot be served now (`eligible`), e.g. because every thread that could take them
 * is busy, without losing their turn.
 */

export class FairQueue<T> {
  readonly maxPerKey: number;
  /** Keys with at least one waiting item, in round-robin order (the next key to serve first). */
  readonly #queues = new Map<string, T[]>();
  #size = 0;

  constructor(options: { maxPerKey: number }) {
    if (!Number.isInteger(options.maxPerKey) || options.maxPerKey < 1) {
      throw new RangeError(`maxPerKey must be a positive integer, got ${options.maxPerKey}`);
    }
    this.maxPerKey = options.maxPerKey;
  }

  /** Items waiting, all keys together. */
  get size(): number {
    return this.#size;
  }

  /** Items waiting for `key`. */
  sizeOf(key: string): number {
    return this.#queues.get(key)?.length ?? 0;
  }

  /** Adds `item` at the end of its key's queue; false (nothing added) when the key already holds `maxPerKey`. */
  push(key: string, item: T): boolean {
    const queue = this.#queues.get(key);
    if (queue && queue.length >= this.maxPerKey) return false;
    if (queue) queue.push(item);
    else this.#queues.set(key, [item]);
    this.#size += 1;
    return true;
  }

  /**
   * The oldest item of the next key in round-robin order among keys `eligible` accepts (all, by default);
   * undefined when none. The served key moves to the back of the rotation; skipped keys keep their place.
   */
  shift(eligible: (key: string) => boolean = () => true): { key: string; item: T } | undefined {
    for (const [key, queue] of this.#queues) {
      if (!eligible(key)) continue;
      const item = queue.shift() as T;
      this.#queues.delete(key);
      if (queue.length > 0) this.#queues.set(key, queue);
      this.#size -= 1;
      return { key, item };
    }
    return undefined;
  }

  /** Removes and returns every waiting item (oldest key first), e.g. to refuse them all at shutdown. */
  drain(): T[] {
    const items = [...this.#queues.values()].flat();
    this.#queues.clear();
    this.#size = 0;
    return items;
  }
}
