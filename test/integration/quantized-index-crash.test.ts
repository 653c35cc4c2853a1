/**
 * The quantized embedded index under real crashes and at scale: a writer process is killed with SIGKILL mid-ingestion
 * (snapshots are written every 64 KiB of log, so a kill can land in a compaction), and the reopened index — quantized
 * and exact, over the same files — holds every acknowledged document, finds each by its own vector, agrees on the
 * results, and leaves no float file behind. Also: the slot renumbering that follows mass deletion keeps every vector,
 * and the access filter decides candidates before the int8 ranking does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import type { ChunkRecord } from '../../src/ports/vector-index.ts';
import { crashDimensions, crashDocument, crashVector } from './quantized-index-crash-data.ts';

function killedAfterAcks(directory: string, acks: number): Promise<number> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'quantized-index-crash-worker.ts'), directory], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let acked = -1;
  let buffered = '';
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) acked = Math.max(acked, Number(line.replace('acked ', '')));
      if (acked >= acks && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error('worker ended'))));
  });
}

test('a writer killed with SIGKILL mid-ingestion loses no acknowledged document and no vector', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'deskhand-quantized-crash-'));
  try {
    const acked = await killedAfterAcks(directory, 150);
    assert.ok(acked >= 150);
    assert.deepEqual(
      readdirSync(directory).filter((file) => file.startsWith('dense-vectors')),
      [],
      'the killed writer left no float file',
    );
    const access = { workspaceId: 'W1', channelId: 'C1' };
    const quantized = new EmbeddedVectorIndex({ directory, dense: { mode: 'quantized', rescore: 1 } });
    const listed = await quantized.listDocuments(access);
    assert.ok(listed.length >= acked + 1, `${listed.length} documents for ${acked + 1} acknowledged`);
    for (let number = 0; number <= acked; number += 1) {
      assert.equal((await quantized.getDocument('W1', `doc-${number}`))?.chunkCount, 5, `doc-${number}`);
    }
    const queries = [0, 1, 2, Math.floor(acked / 2), acked].map((number) => crashVector(number, 3));
    const quantizedHits = [];
    for (const dense of queries) {
      const hits = await quantized.search({ access, text: '', dense, mode: 'dense', limit: 5 });
      assert.ok(Math.abs((hits[0]?.score ?? 0) - 1) < 1e-5, 'a chunk is its own nearest neighbour');
      quantizedHits.push(hits);
    }
    await quantized.close();
    const exact = new EmbeddedVectorIndex({ directory, dense: { mode: 'exact' } });
    for (const [position, dense] of queries.entries()) {
      const hits = await exact.search({ access, text: '', dense, mode: 'dense', limit: 5 });
      assert.deepEqual(
        hits.map((hit) => hit.chunk.id),
        quantizedHits[position]?.map((hit) => hit.chunk.id),
      );
      assert.deepEqual(hits[0]?.chunk.dense, quantizedHits[position]?.[0]?.chunk.dense, 'the same stored vector');
    }
    await exact.close();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('renumbering slots after mass deletion keeps every live vector (quantized float file rebuilt)', async () => {
  const index = new EmbeddedVectorIndex({ dense: { mode: 'quantized', rescore: 1 } });
  const big = (documentId: string, count: number): ChunkRecord[] =>
    Array.from({ length: count }, (_, chunkIndex) => ({
      ...(crashDocument(0)[0] as ChunkRecord),
      id: `${documentId}-${chunkIndex}`,
      documentId,
      chunkIndex,
      scope: 'workspace',
      contentHash: `${documentId}:${chunkIndex}`,
      documentHash: documentId,
      text: 'x',
      dense: crashVector(documentId.length + 1000, chunkIndex),
    }));
  await index.replaceDocument(
    'W1',
    'keep',
    crashDocument(7).map((chunk) => ({ ...chunk, documentId: 'keep' })),
  );
  await index.replaceDocument('W1', 'bulk', big('bulk', 10_001));
  await index.deleteDocument('W1', 'bulk'); // 10,001 dead slots outnumber the 5 live ones: renumbered
  assert.equal(index.size, 5);
  const access = { workspaceId: 'W1', channelId: 'C1' };
  for (let chunkIndex = 0; chunkIndex < 5; chunkIndex += 1) {
    const dense = crashVector(7, chunkIndex);
    const [hit] = await index.search({ access, text: '', dense, mode: 'dense', limit: 1 });
    assert.equal(hit?.chunk.id, `doc-7-${chunkIndex}`);
    const norm = Math.hypot(...dense);
    const stored = hit?.chunk.dense ?? new Float32Array(0);
    assert.equal(stored.length, dense.length);
    for (const [dimension, value] of dense.entries()) {
      assert.ok(Math.abs((stored[dimension] as number) - value / norm) < 1e-6);
    }
  }
  await index.close();
});

test('an index-level search never ranks a chunk outside the scope, however many are nearer', async () => {
  const index = new EmbeddedVectorIndex({ dense: { mode: 'quantized', rescore: 1 } });
  const query = crashVector(1, 1);
  const near = (documentId: string, scope: ChunkRecord['scope'], count: number, noise: number): ChunkRecord[] =>
    crashDocument(0)
      .slice(0, 1)
      .flatMap((template) =>
        Array.from({ length: count }, (_, chunkIndex) => ({
          ...template,
          id: `${documentId}-${chunkIndex}`,
          documentId,
          scope,
          chunkIndex,
          dense: query.map((value, dimension) => value + noise * crashVector(chunkIndex + 50, dimension % 7)[0]!),
        })),
      );
  await index.replaceDocument('W1', 'private', near('private', 'channel:C2', 300, 0.01));
  await index.replaceDocument('W1', 'public', near('public', 'workspace', 300, 0.5));
  const hits = await index.search({
    access: { workspaceId: 'W1', channelId: 'C1' },
    text: '',
    dense: query,
    mode: 'dense',
    limit: 10,
  });
  assert.equal(hits.length, 10);
  assert.ok(hits.every((hit) => hit.chunk.scope === 'workspace'));
  assert.equal(crashDimensions, query.length);
  await index.close();
});
