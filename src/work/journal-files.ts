/**
 * The files of a replica's work journal (work-journal.ts) besides the journal itself: where they live in DATA_DIR,
 * the lock that keeps one writer per directory, and the reply anchors.
 *
 * - Lock (`journal.lock`: pid and, on Linux, the process's start time). Two writers would interleave appends and
 *   undo each other's compactions, and two replicas re-asserting one journal would each restore the other's leases.
 *   A live other process holding it leaves this replica without a journal (it warns; each replica needs its own
 *   DATA_DIR). A lock left by a dead process (kill -9, the case the journal exists for) is taken over, as is one
 *   naming this process's pid (a container restarted with the same pid); within one process a directory has one
 *   journal at a time (`openDirectories`).
 * - Reply anchors (`anchors/<sha256 of the delivery id>.json`): the first message a run posted
 *   (reply-anchors.ts). They are saved by the work side, which may run in worker threads, while the journal is
 *   written by the ingress thread alone: one small file per delivery needs no coordination between the threads (an
 *   append to the journal from another thread could land in a file that a compaction has just replaced). Written
 *   only when the anchors directory exists, i.e. when a journal was opened there.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive, startTimeOf } from '../adapters/index-directory-lock.ts';

/** The journal's directory in a replica's DATA_DIR. */
export function workJournalDirectory(dataDir: string): string {
  return join(dataDir, 'work-journal');
}

/** Where the reply anchors of a journal's directory are kept. */
export function anchorsDirectory(journalDirectory: string): string {
  return join(journalDirectory, 'anchors');
}

const openDirectories = new Set<string>();
const lockFileName = 'journal.lock';

/** Takes the directory's lock: its release, or the pid of the live process that holds it. */
export function lockJournalDirectory(directory: string): { release: () => void } | { heldBy: number } {
  if (openDirectories.has(directory)) return { heldBy: process.pid };
  const path = join(directory, lockFileName);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, `${process.pid}\n${startTimeOf(process.pid) ?? ''}\n`);
      } finally {
        closeSync(fd);
      }
      openDirectories.add(directory);
      return {
        release: () => {
          openDirectories.delete(directory);
          if (lockHolder(path)?.pid === process.pid) rmSync(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = lockHolder(path);
      if (holder?.live) return { heldBy: holder.pid };
      rmSync(path, { force: true });
    }
  }
  return { heldBy: lockHolder(path)?.pid ?? 0 };
}

function lockHolder(path: string): { pid: number; live: boolean } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const [first = '', recordedStart] = text.slice(0, 100).split('\n');
  const pid = Number.parseInt(first.trim(), 10);
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || !processAlive(pid)) {
    return { pid, live: false };
  }
  // Alive — but still the process that wrote the lock? Only a start time on both sides can say it is not.
  const start = startTimeOf(pid);
  return { pid, live: !recordedStart?.trim() || start === undefined || start === recordedStart.trim() };
}

function anchorFile(directory: string, deliveryId: string): string {
  return join(directory, `${createHash('sha256').update(deliveryId).digest('hex').slice(0, 40)}.json`);
}

/**
 * Saves a reply anchor beside the journal, synced to disk. Resolves false when there is no anchors directory (no
 * journal here) instead of creating one; rejects on other I/O errors.
 */
export async function saveAnchorFile(directory: string, deliveryId: string, replyTs: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(anchorFile(directory, deliveryId), 'w');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    await handle.writeFile(JSON.stringify({ id: deliveryId, replyTs }));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return true;
}

/** The saved reply anchor of a delivery (undefined when there is none, or the file is unreadable). */
export async function readAnchorFile(directory: string, deliveryId: string): Promise<string | undefined> {
  try {
    const saved = JSON.parse(await readFile(anchorFile(directory, deliveryId), 'utf8')) as Record<string, unknown>;
    return saved.id === deliveryId && typeof saved.replyTs === 'string' ? saved.replyTs : undefined;
  } catch {
    return undefined;
  }
}

export async function removeAnchorFile(directory: string, deliveryId: string): Promise<void> {
  await rm(anchorFile(directory, deliveryId), { force: true });
}

/** Removes every anchor whose delivery is not in `keep` (when the journal opens: nothing runs yet). */
export async function pruneAnchorFiles(directory: string, keep: Iterable<string>): Promise<number> {
  const kept = new Set<string>();
  for (const deliveryId of keep) kept.add(anchorFile(directory, deliveryId));
  let removed = 0;
  for (const name of await readdir(directory)) {
    const path = join(directory, name);
    if (kept.has(path)) continue;
    await rm(path, { force: true });
    removed += 1;
  }
  return removed;
}
