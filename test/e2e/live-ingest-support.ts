/**
 * Shared by the live-ingestion end-to-end tests (live-ingest-answers, ingest-crash): documents written to disk,
 * the ingestion CLI (`scripts/ingest.ts`) run as a child process whose outcome lines can be awaited while it
 * runs, and a look into an embedded index directory from the test process (only once no live process holds it).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { ingestDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';

const script = new URL('../../scripts/ingest.ts', import.meta.url).pathname;

const words = [
  'pallet',
  'courier',
  'invoice',
  'forklift',
  'manifest',
  'customs',
  'barcode',
  'scanner',
  'ramp',
  'trailer',
  'voucher',
  'tracking',
  'warehouse',
  'shelf',
  'label',
  'weight',
  'container',
  'driver',
  'shift',
  'dispatch',
  'cooler',
  'signature',
  'damage',
  'claim',
  'insurance',
  'route',
  'stop',
  'delay',
  'backlog',
  'audit',
];

/** A plausible operations document of about `paragraphs` × 400 characters, different for every `seed`. */
export function fillerDocument(title: string, seed: number, paragraphs = 12): string {
  const lines = [`# ${title}`, ''];
  let state = seed * 7919 + 17;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return words[state % words.length] as string;
  };
  for (let paragraph = 0; paragraph < paragraphs; paragraph += 1) {
    if (paragraph % 4 === 0) lines.push(`## Part ${paragraph / 4 + 1}`, '');
    const sentences: string[] = [];
    for (let sentence = 0; sentence < 6; sentence += 1) {
      sentences.push(`The ${next()} ${next()} needs a ${next()} check before the ${next()} leaves the ${next()}.`);
    }
    lines.push(sentences.join(' '), '');
  }
  return lines.join('\n');
}

/** Writes `count` filler documents `doc-NN.md` into `directory` (made if needed); returns their paths. */
export function writeFillerDocuments(directory: string, count: number, paragraphs = 12): string[] {
  mkdirSync(directory, { recursive: true });
  const paths: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const path = join(directory, `doc-${String(index).padStart(2, '0')}.md`);
    writeFileSync(path, fillerDocument(`Operations note ${index}`, index, paragraphs));
    paths.push(path);
  }
  return paths;
}

export interface CliRun {
  child: ChildProcess;
  /** Outcome lines printed on stdout so far. */
  lines: () => string[];
  stderr: () => string;
  /** Resolves once a stdout line matches, with that line and `performance.now()` when it was read. */
  lineMatching: (pattern: RegExp, timeoutMs?: number) => Promise<{ line: string; at: number }>;
  /** Resolves with the exit code (null when killed by a signal) once its output has ended. */
  exited: Promise<number | null>;
}

/** Starts `node scripts/ingest.ts <args>` with only `environment` (plus PATH). */
export function startCli(args: string[], environment: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...environment },
  });
  const lines: { line: string; at: number }[] = [];
  let pending = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) lines.push({ line, at: performance.now() });
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let closed = false;
  // 'close' comes after the output streams ended, so every line is in `lines` by then ('exit' may come first).
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      closed = true;
      resolve(code);
    }),
  );
  return {
    child,
    lines: () => lines.map((entry) => entry.line),
    stderr: () => stderr,
    exited,
    async lineMatching(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find((entry) => pattern.test(entry.line));
        if (found) return found;
        const shown = () => `${lines.map((entry) => entry.line).join('\n')}\n${stderr}`;
        if (closed) {
          assert.fail(`the CLI ended without a line matching ${pattern}\n${shown()}`);
        }
        if (Date.now() > deadline) assert.fail(`no CLI line matching ${pattern} within ${timeoutMs} ms\n${shown()}`);
        await sleep(5);
      }
    },
  };
}

/** The files a CLI's outcome lines report as `kind` (`indexed`, `unchanged`, `failed`…), by base name. */
export function reported(lines: readonly string[], kind: string): string[] {
  return lines
    .filter((line) => line.startsWith(`${kind} `))
    .map((line) => basename(line.slice(kind.length).trim().split(/[ :]/)[0] ?? ''));
}

/**
 * What an embedded index directory holds, per document source: its chunk count as the summary says and how many
 * of chunks 0…count−1 are actually there. Opens the directory in this process (the lock of a dead holder is taken
 * over), then closes it.
 */
export async function indexContents(
  directory: string,
  access: { workspaceId: string; channelId: string },
): Promise<Map<string, { chunkCount: number; chunksPresent: number }>> {
  const index = new EmbeddedVectorIndex({ directory, logger: createSilentLogger() });
  try {
    await index.ensureReady();
    const contents = new Map<string, { chunkCount: number; chunksPresent: number }>();
    for (const document of await index.listDocuments(access)) {
      const wanted = Array.from({ length: document.chunkCount + 1 }, (_, position) => position);
      const chunks = await index.getChunks(access, document.documentId, wanted);
      contents.set(basename(document.source), { chunkCount: document.chunkCount, chunksPresent: chunks.length });
    }
    return contents;
  } finally {
    await index.close();
  }
}

/** How many chunks ingesting `path` makes (into a throwaway in-memory index): what "all its chunks" means. */
export async function expectedChunkCount(path: string, workspaceId: string): Promise<number> {
  const index = new EmbeddedVectorIndex();
  try {
    const result = await ingestDocument(
      {
        workspaceId,
        scope: 'workspace',
        source: path,
        fileName: basename(path),
        bytes: new Uint8Array(readFileSync(path)),
      },
      { index, callScope: { workspaceId, channelId: 'expected-chunks' }, logger: createSilentLogger() },
    );
    return result.chunkCount;
  } finally {
    await index.close();
  }
}

/** p50 and max of a list of milliseconds, rounded. */
export function summarise(latencies: readonly number[]): { count: number; p50: number; max: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  const p50 = sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
  return { count: sorted.length, p50: Math.round(p50), max: Math.round(sorted.at(-1) ?? Number.NaN) };
}
