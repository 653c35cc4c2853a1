import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FairQueue } from '../../src/work/fair-queue.ts';

function drainOrder(queue: FairQueue<string>, eligible?: (key: string) => boolean): string[] {
  const order: string[] = [];
  for (let next = queue.shift(eligible); next; next = queue.shift(eligible)) order.push(next.item);
  return order;
}

describe('FairQueue', () => {
  test('serves keys round-robin: a flooding key does not make another key wait behind all of its items', () => {
    const queue = new FairQueue<string>({ maxPerKey: 10 });
    for (let index = 1; index <= 5; index += 1) queue.push('T1:C-flood', `flood-${index}`);
    queue.push('T1:C-quiet', 'quiet-1');
    queue.push('T2:C-other', 'other-1');
    queue.push('T2:C-other', 'other-2');
    assert.equal(queue.size, 8);
    assert.deepEqual(drainOrder(queue), [
      'flood-1',
      'quiet-1',
      'other-1',
      'flood-2',
      'other-2',
      'flood-3',
      'flood-4',
      'flood-5',
    ]);
    assert.equal(queue.size, 0);
  });

  test('keeps first-in first-out order within a key', () => {
    const queue = new FairQueue<number>({ maxPerKey: 100 });
    for (let index = 0; index < 50; index += 1) queue.push('T1:C1', index);
    const order: number[] = [];
    for (let next = queue.shift(); next; next = queue.shift()) order.push(next.item);
    assert.deepEqual(
      order,
      Array.from({ length: 50 }, (_, index) => index),
    );
  });

  test('a key that empties and comes back joins the end of the rotation', () => {
    const queue = new FairQueue<string>({ maxPerKey: 10 });
    queue.push('a', 'a1');
    queue.push('b', 'b1');
    queue.push('b', 'b2');
    assert.equal(queue.shift()?.item, 'a1');
    queue.push('a', 'a2');
    assert.deepEqual(drainOrder(queue), ['b1', 'a2', 'b2']);
  });

  test('refuses beyond maxPerKey for that key only, and accepts again once it has room', () => {
    const queue = new FairQueue<string>({ maxPerKey: 2 });
    assert.equal(queue.push('busy', 'b1'), true);
    assert.equal(queue.push('busy', 'b2'), true);
    assert.equal(queue.push('busy', 'b3'), false);
    assert.equal(queue.sizeOf('busy'), 2);
    assert.equal(queue.push('other', 'o1'), true, 'another key is not affected');
    assert.equal(queue.shift()?.item, 'b1');
    assert.equal(queue.push('busy', 'b4'), true);
    assert.deepEqual(drainOrder(queue), ['o1', 'b2', 'b4']);
  });

  test('skips keys that cannot be served now without losing their turn', () => {
    const queue = new FairQueue<string>({ maxPerKey: 10 });
    queue.push('pinned', 'p1');
    queue.push('free', 'f1');
    queue.push('free', 'f2');
    assert.equal(queue.shift((key) => key !== 'pinned')?.item, 'f1');
    assert.equal(queue.shift((key) => key !== 'pinned')?.item, 'f2');
    assert.equal(
      queue.shift((key) => key !== 'pinned'),
      undefined,
    );
    assert.equal(queue.sizeOf('pinned'), 1);
    assert.equal(queue.shift()?.item, 'p1');
  });

  test('drain empties every key', () => {
    const queue = new FairQueue<string>({ maxPerKey: 3 });
    queue.push('a', 'a1');
    queue.push('b', 'b1');
    queue.push('a', 'a2');
    assert.deepEqual(queue.drain().sort(), ['a1', 'a2', 'b1']);
    assert.equal(queue.size, 0);
    assert.equal(queue.shift(), undefined);
  });

  test('rejects a bound that is not a positive integer', () => {
    assert.throws(() => new FairQueue({ maxPerKey: 0 }), RangeError);
  });
});
