/**
 * `oneAtATime`: changes to one document (workspace and source) run one after another, in call order.
 *
 * Guarantees: within this process, a second change to a document starts only after the first settled (whether it
 * succeeded or failed), and a failure of one change does not fail the next. The queue of a document is dropped
 * once it is empty.
 */
import type { VectorIndex } from '../../../ports/vector-index.ts';

const pendingByIndex = new WeakMap<VectorIndex, Map<string, Promise<unknown>>>();

/**
 * Runs changes to one document one at a time, in call order, within this process: without it, a file shared
 * twice in quick succession could finish out of order and leave the older version indexed.
 */
export async function oneAtATime<T>(
  index: VectorIndex,
  workspaceId: string,
  source: string,
  run: () => Promise<T>,
): Promise<T> {
  let pending = pendingByIndex.get(index);
  if (!pending) {
    pending = new Map();
    pendingByIndex.set(index, pending);
  }
  const key = `${workspaceId}\n${source}`;
  const previous = pending.get(key) ?? Promise.resolve();
  const current = previous.catch(() => undefined).then(run);
  const settled = current.catch(() => undefined);
  pending.set(key, settled);
  try {
    return await current;
  } finally {
    if (pending.get(key) === settled) pending.delete(key);
  }
}
