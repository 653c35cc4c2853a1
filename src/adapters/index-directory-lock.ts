/**
 * The embedded index's single-writer lock: `index.lock` in the index directory, holding the owning process's pid
 * and, where `/proc` exists (Linux), that process's start time.
 *
 * Guarantees: while a live process other than this one holds the lock, `acquireIndexLock` refuses with a
 * `configuration` error naming the pid (so `npm run ingest` cannot write next to a running app, and a second app
 * cannot open the same directory). A lock left by a process that died (kill -9) is taken over: its pid no longer
 * exists, or it now belongs to another process (pids are reused — after a restart, by the next app's own helper
 * processes — which the start time tells apart; without `/proc` the pid alone decides). A lock held by this same process is taken over too — the threads of one process (an index thread
 * restarted after it died, a test reopening a directory to simulate a crash) are one writer at a time by
 * construction, and the pid cannot tell them apart. Creation is `O_EXCL`; a stale lock is removed and the
 * creation retried once, so of two processes racing for a stale lock one wins and the other is refused.
 * Release removes the file only while it still names this process.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DeskhandError } from '../errors.ts';

export const indexLockFileName = 'index.lock';

export interface IndexLockHolder {
  pid: number;
  /** Whether that process is alive (and not this one). */
  live: boolean;
}

/** Who holds the lock on `directory`, or undefined when nobody does (no file, or an unreadable one). */
export function readIndexLock(directory: string): IndexLockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(join(directory, indexLockFileName), 'utf8');
  } catch {
    return undefined;
  }
  const [first = '', recordedStart] = text.slice(0, 100).split('\n');
  const pid = Number.parseInt(first.trim(), 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) return { pid: 0, live: false };
  if (pid === process.pid || !processAlive(pid)) return { pid, live: false };
  // Alive — but is it still the process that wrote the lock? Only a start time on both sides can say it is not.
  const start = startTimeOf(pid);
  return { pid, live: !recordedStart || start === undefined || start === recordedStart.trim() };
}

/**
 * When the process started (clock ticks since boot: field 22 of `/proc/<pid>/stat`), or undefined without
 * `/proc`. The command name (field 2) is in parentheses and may hold spaces, so fields are counted after its `)`.
 */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user — still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class IndexLockedError extends DeskhandError {
  readonly holderPid: number;
  constructor(directory: string, holderPid: number) {
    const message =
      `The embedded index in ${directory} is in use by another process (pid ${holderPid}, a running Deskhand?). ` +
      'It takes one writer: send documents to the running app (npm run ingest -- … --app-url http://host:PORT ' +
      'with ADMIN_API_TOKEN set), stop that process, or use Qdrant (QDRANT_URL).';
    super('configuration', message, { userMessage: message });
    this.holderPid = holderPid;
  }
}

/** Takes the lock (see the header); resolves to its release. Throws `IndexLockedError` when a live process holds it. */
export function acquireIndexLock(directory: string): () => void {
  const path = join(directory, indexLockFileName);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, `${process.pid}\n${startTimeOf(process.pid) ?? ''}\n`);
      } finally {
        closeSync(fd);
      }
      return () => {
        if (readIndexLock(directory)?.pid === process.pid) rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readIndexLock(directory);
      if (holder?.live) throw new IndexLockedError(directory, holder.pid);
      rmSync(path, { force: true });
    }
  }
  const holder = readIndexLock(directory);
  throw new IndexLockedError(directory, holder?.pid ?? 0);
}
