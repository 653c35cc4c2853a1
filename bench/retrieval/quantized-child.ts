/**
 * One side of the quantized-index comparison (quantized-comparison.ts runs it in a child process per mode, so each
 * mode's resident memory is its own): builds an in-memory `EmbeddedVectorIndex` over `--chunks` synthetic chunks
 * (`--words` Zipf words of text, `--dimensions`-wide vectors from `SyntheticVectors`, seed fixed), then times
 * `--queries` dense searches (limit 10) and, unless `--hybrid false`, hybrid searches (limit 50), all under an
 * access filter admitting every chunk (one workspace-scoped document set: the worst case, every row is scanned).
 * Prints one JSON line: build seconds, RSS after a full GC, per-query
 * wall and on-CPU latencies, and each query's top-10 chunk ids (for recall against the exact run).
 */
import { parseArgs } from 'node:util';
import type { DenseIndexOptions } from '../../src/adapters/dense-index.ts';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import type { ChunkRecord, SearchRequest } from '../../src/ports/vector-index.ts';
import { SyntheticVectors, type VectorDistribution } from './synthetic-vectors.ts';

const { values } = parseArgs({
  options: {
    chunks: { type: 'string', default: '100000' },
    dimensions: { type: 'string', default: '1536' },
    dense: { type: 'string', default: 'quantized' },
    data: { type: 'string', default: 'clustered' },
    queries: { type: 'string', default: '200' },
    words: { type: 'string', default: '40' },
    hybrid: { type: 'string', default: 'true' },
  },
});
const chunkCount = Number(values.chunks);
const dimensions = Number(values.dimensions);
const queryCount = Number(values.queries);
const words = Number(values.words);
const dense: DenseIndexOptions =
  values.dense === 'exact'
    ? { mode: 'exact' }
    : values.dense === 'binary'
      ? { mode: 'quantized', prefilter: 'binary' }
      : { mode: 'quantized' };

let seed = 7;
const random = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const syllables = ['ka', 'lo', 'mi', 'ter', 'sun', 'pra', 'vel', 'dor', 'qui', 'nes', 'bar', 'tul', 'fen', 'gro'];
const vocabulary = Array.from({ length: 20_000 }, (_, index) => {
  let word = '';
  for (let rest = index + 1; rest > 0; rest = Math.floor(rest / syllables.length)) {
    word += syllables[rest % syllables.length];
  }
  return word;
});
// Zipf(1) through the inverse of its cumulative distribution (H(n) ≈ ln n + 0.5772).
const sampleWord = () => vocabulary[Math.min(vocabulary.length - 1, Math.floor(Math.exp(random() * 10.48) - 1))];
const sentence = (length: number) => Array.from({ length }, sampleWord).join(' ');

const vectors = new SyntheticVectors(dimensions, values.data as VectorDistribution);
const index = new EmbeddedVectorIndex({ sync: false, dense });
await index.ensureReady();
const chunksPerDocument = 10;
const buildStart = performance.now();
for (let documentNumber = 0; documentNumber * chunksPerDocument < chunkCount; documentNumber += 1) {
  const documentId = `doc-${documentNumber}`;
  const chunks: ChunkRecord[] = [];
  for (let chunkIndex = 0; chunkIndex < chunksPerDocument; chunkIndex += 1) {
    chunks.push({
      id: `${documentId}-${chunkIndex}`,
      documentId,
      workspaceId: 'Wbench',
      scope: 'workspace',
      title: sentence(4),
      sectionPath: [],
      source: `${documentId}.md`,
      chunkIndex,
      contentHash: `${documentId}:${chunkIndex}`,
      documentHash: documentId,
      ingestedAt: '2026-11-28T00:00:00.000Z',
      text: sentence(words),
      tokenCount: words,
      dense: vectors.next(),
    });
  }
  await index.replaceDocument('Wbench', documentId, chunks);
}
const buildSeconds = (performance.now() - buildStart) / 1000;
(globalThis as { gc?: () => void }).gc?.();
const rssBytes = process.memoryUsage().rss;

const queries = Array.from({ length: queryCount }, () => ({ text: sentence(4), dense: vectors.next() }));
async function measure(mode: SearchRequest['mode'], limit: number) {
  const wall: number[] = [];
  const cpu: number[] = [];
  const top: string[][] = [];
  for (const query of queries.slice(0, 10)) {
    await index.search({ access: { workspaceId: 'Wbench', channelId: 'C1' }, mode, limit, ...query });
  }
  for (const query of queries) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    const hits = await index.search({ access: { workspaceId: 'Wbench', channelId: 'C1' }, mode, limit, ...query });
    wall.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
    top.push(hits.slice(0, 10).map((hit) => hit.chunk.id));
  }
  return { wall, cpu, top };
}
const denseResult = await measure('dense', 10);
const hybridResult = values.hybrid === 'false' ? undefined : await measure('hybrid', 50);
await index.close();
console.log(JSON.stringify({ chunks: index.size, buildSeconds, rssBytes, dense: denseResult, hybrid: hybridResult }));
