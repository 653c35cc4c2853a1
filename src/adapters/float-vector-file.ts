/**
 * `FloatVectorFile`: float32 rows of one width in a file, written and read by row number — the full-precision
 * vectors of the quantized dense index, kept out of resident memory and read back only for the few candidates a
 * search rescores (and for hits, snapshots and rebuilds).
 *
 * - The file is derived data, never the record of truth: the index log and snapshot hold every vector, and the
 *   file is rebuilt from them on every open. It is created lazily with a unique name in `directory`, opened, and
 *   unlinked at once (POSIX keeps it while the descriptor is open), so a process that dies — kill -9 included —
 *   leaves nothing behind, and two processes opening one index directory never share or clobber a file.
 * - Reads and writes are synchronous positioned I/O (pread/pwrite through the OS page cache), so the index's
 *   one-synchronous-step guarantee holds; nothing is fsynced because nothing here must survive a crash.
 * - `read` of a row never written returns zeros (a sparse hole); a short read is retried until the row is full.
 *   After `close`, reads and writes throw `internal`.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DeskhandError } from '../errors.ts';

export class FloatVectorFile {
  readonly #directory: string;
  readonly #rowBytes: number;
  #descriptor: number | undefined;
  #closed = false;

  constructor(directory: string, width: number) {
    this.#directory = directory;
    this.#rowBytes = width * 4;
  }

  write(row: number, vector: Float32Array): void {
    const bytes = new Uint8Array(vector.buffer, vector.byteOffset, this.#rowBytes);
    const descriptor = this.#open();
    let written = 0;
    while (written < bytes.length) {
      written += writeSync(descriptor, bytes, written, bytes.length - written, row * this.#rowBytes + written);
    }
  }

  /** Row `row` into `into` (allocated when omitted). */
  read(row: number, into: Float32Array = new Float32Array(this.#rowBytes / 4)): Float32Array {
    const bytes = new Uint8Array(into.buffer, into.byteOffset, this.#rowBytes);
    const descriptor = this.#open();
    let read = 0;
    while (read < bytes.length) {
      const count = readSync(descriptor, bytes, read, bytes.length - read, row * this.#rowBytes + read);
      if (count === 0) {
        bytes.fill(0, read);
        break;
      }
      read += count;
    }
    return into;
  }

  close(): void {
    if (this.#descriptor !== undefined) closeSync(this.#descriptor);
    this.#descriptor = undefined;
    this.#closed = true;
  }

  #open(): number {
    if (this.#closed) throw new DeskhandError('internal', 'The dense vector file is closed');
    if (this.#descriptor === undefined) {
      mkdirSync(this.#directory, { recursive: true });
      const path = join(this.#directory, `dense-vectors-${process.pid}-${randomUUID()}.f32`);
      this.#descriptor = openSync(path, 'wx+', 0o600);
      unlinkSync(path);
    }
    return this.#descriptor;
  }
}
