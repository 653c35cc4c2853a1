/**
 * The work journal (src/work/work-journal.ts) on a real temporary directory: what it records survives a reopen, a
 * torn last line (kill -9 mid-write) is skipped with one warning and never fails the open, compaction keeps the file
 * bounded, one directory has one writer, reply anchors travel with their item. Prints the measured cost of a synced
 * record, one at a time and under concurrency (group commit).
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { createLogger, createSilentLogger } from '../../src/observability/logger.ts';
import { saveAnchorFile } from '../../src/work/journal-files.ts';
import { type JournalEntry, WorkJournal } from '../../src/work/work-journal.ts';

const directories: string[] = [];
after(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'deskhand-journal-unit-'));
  directories.push(directory);
  return directory;
}

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  });
  return { logger, lines };
}

function entry(deliveryId: string, storedAt = Date.now()): JournalEntry {
  return {
    deliveryId,
    kind: 'route',
    name: 'mention',
    request: {
      origin: 'mention',
      workspaceId: 'T1',
      channelId: 'C1',
      userId: 'U1',
      text: 'refunds?',
      requestId: deliveryId,
    },
    attempts: 1,
    storedAt,
  };
}

describe('WorkJournal', () => {
  test('unfinished items and recent done ids survive a reopen; finished and forgotten items are not put back', async () => {
    const directory = temporaryDirectory();
    const first = new WorkJournal({ directory, logger: createSilentLogger() });
    await first.record(entry('event:A'));
    await first.record(entry('event:B'));
    await first.record({ ...entry('event:B'), attempts: 2 });
    await first.record(entry('event:C'));
    await first.finished('event:A');
    await first.forget('event:C');
    await first.close();

    const again = new WorkJournal({ directory, logger: createSilentLogger() });
    const unfinished = await again.unfinished();
    assert.deepEqual(
      unfinished.map((item) => [item.deliveryId, item.attempts]),
      [['event:B', 2]],
    );
    const done = await again.recentlyDone(24 * 60 * 60 * 1000);
    assert.deepEqual(
      done.map((item) => item.deliveryId),
      ['event:A'],
    );
    await again.close();
  });

  test('a torn last line (killed mid-write) is skipped with one warning; the file is left clean for the next append', async () => {
    const directory = temporaryDirectory();
    const first = new WorkJournal({ directory, logger: createSilentLogger() });
    await first.record(entry('event:kept'));
    await first.close();
    const path = join(directory, 'journal.jsonl');
    appendFileSync(path, 'this is not json\n');
    appendFileSync(path, '{"t":"s","id":"event:torn","kind":"route","na');

    const { logger, lines } = capturingLogger();
    const reopened = new WorkJournal({ directory, logger });
    assert.equal(await reopened.open(), true, 'the open never fails on a corrupt journal');
    assert.deepEqual(
      (await reopened.unfinished()).map((item) => item.deliveryId),
      ['event:kept'],
    );
    const warnings = lines.filter((line) => line.code === 'invalid_input');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.skipped, 2);
    assert.equal(warnings[0]?.tornLastLine, true);
    const text = readFileSync(path, 'utf8');
    assert.ok(text.endsWith('\n') && !text.includes('event:torn') && !text.includes('not json'), text);

    await reopened.record(entry('event:after'));
    await reopened.close();
    const third = new WorkJournal({ directory, logger: createSilentLogger() });
    assert.deepEqual((await third.unfinished()).map((item) => item.deliveryId).sort(), ['event:after', 'event:kept']);
    await third.close();
  });

  test('compaction keeps the file bounded and drops done ids past doneKeepMs and items past their TTL', async () => {
    const directory = temporaryDirectory();
    const options = { directory, logger: createSilentLogger(), compactAtBytes: 16 * 1024, doneKeepMs: 60_000 };
    const journal = new WorkJournal(options);
    await journal.record(entry('event:expired', Date.now() - 25 * 60 * 60 * 1000));
    let largest = 0;
    for (let index = 0; index < 2_000; index += 1) {
      await journal.record(entry(`event:${index}`));
      // Finished long ago: dropped at the next compaction.
      await journal.finished(`event:${index}`, Date.now() - 120_000);
      largest = Math.max(largest, journal.bytes);
    }
    await journal.record(entry('event:open'));
    assert.ok(largest <= 2 * 16 * 1024 + 1024, `the file stayed bounded (largest ${largest} bytes)`);
    await journal.close();
    const reopened = new WorkJournal(options);
    assert.deepEqual(
      (await reopened.unfinished()).map((item) => item.deliveryId),
      ['event:open'],
    );
    assert.deepEqual(await reopened.recentlyDone(24 * 60 * 60 * 1000), []);
    assert.ok(reopened.bytes < 1_024, `compacted at open: ${reopened.bytes} bytes`);
    await reopened.close();
  });

  test('one writer per directory: a second journal on it runs without one, and says so', async () => {
    const directory = temporaryDirectory();
    const first = new WorkJournal({ directory, logger: createSilentLogger() });
    assert.equal(await first.open(), true);
    const { logger, lines } = capturingLogger();
    const second = new WorkJournal({ directory, logger });
    assert.equal(await second.open(), false);
    assert.ok(lines.some((line) => line.code === 'configuration'));
    await second.record(entry('event:ignored'));
    await first.close();
    const third = new WorkJournal({ directory, logger: createSilentLogger() });
    assert.equal(await third.open(), true, 'released on close');
    assert.deepEqual(await third.unfinished(), []);
    await third.close();
  });

  test('a lock left by a dead process is taken over', async () => {
    const directory = temporaryDirectory();
    await mkdir(directory, { recursive: true });
    // pid 2^22 + 1 exceeds Linux's pid_max: no such process.
    writeFileSync(join(directory, 'journal.lock'), `${2 ** 22 + 1}\n123\n`);
    const journal = new WorkJournal({ directory, logger: createSilentLogger() });
    assert.equal(await journal.open(), true);
    await journal.close();
  });

  test('a reply anchor saved beside the journal comes back with its item and goes with it', async () => {
    const directory = temporaryDirectory();
    const journal = new WorkJournal({ directory, logger: createSilentLogger() });
    await journal.record(entry('event:anchored'));
    assert.equal(await saveAnchorFile(journal.anchors, 'event:anchored', '1700000000.000200'), true);
    assert.equal((await journal.unfinished())[0]?.replyTs, '1700000000.000200');
    await journal.finished('event:anchored');
    assert.equal(await saveAnchorFile(join(directory, 'missing'), 'event:x', '1'), false, 'no journal, no file');
    await journal.close();
    const reopened = new WorkJournal({ directory, logger: createSilentLogger() });
    assert.deepEqual(await reopened.unfinished(), []);
    await reopened.close();
  });

  test('cost of a synced record: one at a time, and 200 at once (one write and one sync per batch)', async () => {
    const journal = new WorkJournal({ directory: temporaryDirectory(), logger: createSilentLogger() });
    await journal.open();
    const sequential = 200;
    let started = performance.now();
    for (let index = 0; index < sequential; index += 1) await journal.record(entry(`event:seq-${index}`));
    const perItemMs = (performance.now() - started) / sequential;
    started = performance.now();
    await Promise.all(Array.from({ length: 200 }, (_, index) => journal.record(entry(`event:par-${index}`))));
    const concurrentMs = performance.now() - started;
    console.log(
      `work journal: ${perItemMs.toFixed(2)} ms per record one at a time (append + fdatasync); ` +
        `200 concurrent records in ${concurrentMs.toFixed(1)} ms (${(concurrentMs / 200).toFixed(3)} ms each)`,
    );
    assert.ok(concurrentMs < perItemMs * 200, 'concurrent records share their syncs');
    await journal.close();
  });
});
