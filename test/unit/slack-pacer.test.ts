import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Clock, Coalescer, KeyedPacer, TokenBucket } from '../../src/slack/outbound/pacer.ts';

/** A clock that only moves when the test advances it; sleepers wake in time order. */
class ManualClock implements Clock {
  time = 0;
  #timers: { at: number; wake: () => void }[] = [];

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#timers.push({ at: this.time + ms, wake: resolve }));
  }

  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    await flush();
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const next = this.#timers[0];
      if (!next || next.at > target) break;
      this.#timers.shift();
      this.time = next.at;
      next.wake();
      await flush();
    }
    this.time = target;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let index = 0; index < 20; index += 1) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

describe('KeyedPacer', () => {
  test('starts tasks of one key one interval apart while another key starts at once', async () => {
    const clock = new ManualClock();
    const pacer = new KeyedPacer({ intervalMs: 1000, clock });
    const starts: [string, number][] = [];
    const task = (name: string) => async () => {
      starts.push([name, clock.now()]);
    };
    const done = Promise.all([
      pacer.run('C1', task('a1')),
      pacer.run('C1', task('a2')),
      pacer.run('C1', task('a3')),
      pacer.run('C2', task('b1')),
    ]);
    await clock.advance(2500);
    await done;
    assert.deepEqual(starts, [
      ['a1', 0],
      ['b1', 0],
      ['a2', 1000],
      ['a3', 2000],
    ]);
  });

  test("a pause holds only that key's queue, and a retry inside a task waits for it", async () => {
    const clock = new ManualClock();
    const pacer = new KeyedPacer({ intervalMs: 100, clock });
    const events: string[] = [];
    const first = pacer.run('C1', async (turn) => {
      events.push(`C1 try at ${clock.now()}`);
      pacer.pause('C1', clock.now() + 5000);
      await turn();
      events.push(`C1 retry at ${clock.now()}`);
    });
    const queued = pacer.run('C1', async () => {
      events.push(`C1 next at ${clock.now()}`);
    });
    const other = pacer.run('C2', async () => {
      events.push(`C2 at ${clock.now()}`);
    });
    await clock.advance(6000);
    await Promise.all([first, queued, other]);
    assert.deepEqual(events, ['C1 try at 0', 'C2 at 0', 'C1 retry at 5000', 'C1 next at 5100']);
  });

  test('a failing task rejects its caller and does not block the queue; idle resolves when all is done', async () => {
    const clock = new ManualClock();
    const pacer = new KeyedPacer({ intervalMs: 10, clock });
    const failing = pacer.run('C1', async () => {
      throw new Error('boom');
    });
    const after = pacer.run('C1', async () => 'ok');
    const idle = pacer.idle();
    await clock.advance(20);
    await assert.rejects(failing, /boom/);
    assert.equal(await after, 'ok');
    await idle;
    assert.equal(pacer.pending('C1'), 0);
  });
});

describe('TokenBucket', () => {
  test('allows the burst at once, then one token per refill period, in order', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 2, refillPerMinute: 60, clock });
    const granted: number[] = [];
    const takes = [1, 2, 3, 4].map(() => bucket.take().then(() => granted.push(clock.now())));
    await clock.advance(2500);
    await Promise.all(takes);
    assert.deepEqual(granted, [0, 0, 1000, 2000]);
  });

  test('a pause holds every taker until it ends', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 5, refillPerMinute: 60, clock });
    bucket.pause(3000);
    let grantedAt = -1;
    const take = bucket.take().then(() => {
      grantedAt = clock.now();
    });
    await clock.advance(3500);
    await take;
    assert.equal(grantedAt, 3000);
  });
});

describe('Coalescer', () => {
  test('sends the first value, then only the latest of those submitted meanwhile; every submitter resolves', async () => {
    const sent: string[] = [];
    let release: () => void = () => {};
    const coalescer = new Coalescer<string>(async (_key, value) => {
      sent.push(value);
      if (value === 'v1') await new Promise<void>((resolve) => (release = resolve));
    });
    const settled: string[] = [];
    const submissions = ['v1', 'v2', 'v3', 'v4'].map((value) =>
      coalescer.submit('C1:1.0', value).then(() => settled.push(value)),
    );
    const otherKey = coalescer.submit('C1:2.0', 'w1');
    await flush();
    assert.deepEqual(sent, ['v1', 'w1']);
    release();
    await Promise.all([...submissions, otherKey]);
    assert.deepEqual(sent, ['v1', 'w1', 'v4']);
    assert.deepEqual(settled, ['v1', 'v2', 'v3', 'v4']);
    await coalescer.idle();
    assert.equal(coalescer.size, 0);
  });

  test('a failed send rejects exactly the submitters it carried', async () => {
    const coalescer = new Coalescer<string>(async (_key, value) => {
      if (value === 'bad') throw new Error('message_not_found');
    });
    const bad = coalescer.submit('k', 'bad');
    await assert.rejects(bad, /message_not_found/);
    await coalescer.submit('k', 'good');
  });
});
