/**
 * The embedded index's single-writer lock (src/adapters/index-directory-lock.ts): a live holder refuses with a
 * message saying how to proceed, a dead holder's lock (kill -9) is taken over, closing releases it, and a release
 * never removes a lock another process has taken since.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import {
  acquireIndexLock,
  IndexLockedError,
  indexLockFileName,
  readIndexLock,
} from '../../src/adapters/index-directory-lock.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';

let root: string;
let count = 0;
/** A pid that belonged to a process which has exited. */
let deadPid: number;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'deskhand-index-lock-'));
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  deadPid = child.pid as number;
});

after(() => rmSync(root, { recursive: true, force: true }));

function directory(): string {
  count += 1;
  const path = join(root, `index-${count}`);
  return mkdtempSync(`${path}-`);
}

const lockText = (path: string) => readFileSync(join(path, indexLockFileName), 'utf8');

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function startTimeOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
}

/** What this process writes into the lock. */
const ownLock = () => `${process.pid}\n${startTimeOf(process.pid)}\n`;

describe('index directory lock', () => {
  test('takes a free lock, naming this process, and releases it', () => {
    const path = directory();
    assert.equal(readIndexLock(path), undefined);
    const release = acquireIndexLock(path);
    assert.equal(lockText(path), ownLock());
    assert.deepEqual(readIndexLock(path), { pid: process.pid, live: false });
    release();
    assert.equal(existsSync(join(path, indexLockFileName)), false);
  });

  test('a live other holder is refused with its pid and how to proceed, and its lock is left alone', () => {
    const path = directory();
    // The test runner that started this file: alive for as long as this test runs, and not this process.
    writeFileSync(join(path, indexLockFileName), `${process.ppid}\n`);
    assert.deepEqual(readIndexLock(path), { pid: process.ppid, live: true });
    assert.throws(
      () => acquireIndexLock(path),
      (error: unknown) => {
        assert.ok(error instanceof IndexLockedError);
        assert.equal(error.holderPid, process.ppid);
        assert.equal(error.code, 'configuration');
        assert.match(error.userMessage, new RegExp(`in use by another process \\(pid ${process.ppid}`));
        assert.match(error.userMessage, /--app-url/);
        assert.match(error.userMessage, /ADMIN_API_TOKEN/);
        return true;
      },
    );
    assert.equal(lockText(path), `${process.ppid}\n`);
  });

  test('the lock of a process that died (kill -9) is taken over, as is an unreadable one', () => {
    for (const stale of [`${deadPid}\n`, 'not a pid', '']) {
      const path = directory();
      writeFileSync(join(path, indexLockFileName), stale);
      assert.equal(readIndexLock(path)?.live, false);
      const release = acquireIndexLock(path);
      assert.equal(lockText(path), ownLock(), JSON.stringify(stale));
      release();
    }
  });

  test('a live pid that is not the process which wrote the lock (pid reused) is taken over; the writer is refused', () => {
    const start = startTimeOf(process.ppid);
    const reused = directory();
    writeFileSync(join(reused, indexLockFileName), `${process.ppid}\n${Number(start) - 1}\n`);
    assert.deepEqual(readIndexLock(reused), { pid: process.ppid, live: false });
    acquireIndexLock(reused)();

    const same = directory();
    writeFileSync(join(same, indexLockFileName), `${process.ppid}\n${start}\n`);
    assert.deepEqual(readIndexLock(same), { pid: process.ppid, live: true });
    assert.throws(() => acquireIndexLock(same), IndexLockedError);
  });

  test('a release leaves a lock that another process has taken since', () => {
    const path = directory();
    const release = acquireIndexLock(path);
    writeFileSync(join(path, indexLockFileName), `${process.ppid}\n`);
    release();
    assert.equal(lockText(path), `${process.ppid}\n`);
  });

  test('the embedded index holds the lock from opening to closing, and refuses a directory a live process holds', async () => {
    const path = directory();
    const index = new EmbeddedVectorIndex({ directory: path, logger: createSilentLogger() });
    await index.ensureReady();
    assert.equal(readIndexLock(path)?.pid, process.pid);
    await index.close();
    assert.equal(readIndexLock(path), undefined);

    writeFileSync(join(path, indexLockFileName), `${process.ppid}\n`);
    const refused = new EmbeddedVectorIndex({ directory: path, logger: createSilentLogger() });
    await assert.rejects(refused.ensureReady(), IndexLockedError);
    await refused.close();
    assert.equal(lockText(path), `${process.ppid}\n`, 'closing a refused index does not remove the holder’s lock');
  });
});
