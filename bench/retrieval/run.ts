/**
 * Embedded vector index benchmark: query latency (p50/p99) at 100,000 chunks and ingestion throughput, each
 * against a baseline measured in the same run.
 *
 *   npm run bench:retrieval [-- --chunks 100000 --dimensions 256 --queries 200]
 *
 * - Corpus: synthetic chunks of ~80 words drawn from a Zipf-distributed 20,000-word vocabulary (so posting
 *   lists have realistic skew), 10 chunks per document, one workspace with a public scope and 20 channels
 *   (the worst case for filtering: every chunk belongs to the queried workspace). Dense vectors are random,
 *   `--dimensions` wide (default 256: text-embedding-3-* shortened with the API's `dimensions` parameter;
 *   the exact scan is linear in the width, see the printed note).
 * - Query latency: `EmbeddedVectorIndex.search` in hybrid, sparse and dense modes, limit 50, under the access
 *   filter. Baseline: the naive design — an array of objects with `number[]` vectors and per-chunk term maps,
 *   scored by a linear scan (cosine + BM25 over every chunk) and sorted.
 * - Ingestion: chunks/s through `replaceDocument` (in memory, then persistent with an fdatasync per document)
 *   against the naive baseline's build (same analysis, objects pushed into an array).
 * - Dense index modes (quantized-comparison.ts): the quantized index beside the exact scan, each in its own
 *   process on identical seeded data — recall@10 against exact, p50/p99 (wall and on-CPU), build time, RSS — at
 *   `--quantized` sizes (default `clustered:100000x1536,uniform:100000x1536,clustered:1000000x256`; `none`
 *   skips them). Clustered 100k × 1536 also times hybrid search (the target: p50 < 20 ms).
 * Runtime: about a minute for the first part, several more for the mode comparison on a 2-core machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import type { ChunkRecord, DocumentScope, SearchRequest } from '../../src/ports/vector-index.ts';
import { defaultAnalyzer } from '../../src/search/analyzer.ts';
import { chunkTermFrequencies, queryTermFrequencies } from '../../src/search/sparse-terms.ts';
import { type ComparisonCase, compareQuantized } from './quantized-comparison.ts';

const { values } = parseArgs({
  options: {
    chunks: { type: 'string', default: '100000' },
    dimensions: { type: 'string', default: '256' },
    queries: { type: 'string', default: '200' },
    'baseline-queries': { type: 'string', default: '20' },
    'persistent-chunks': { type: 'string', default: '5000' },
    quantized: { type: 'string', default: 'clustered:100000x1536,uniform:100000x1536,clustered:1000000x256' },
    'quantized-queries': { type: 'string', default: '200' },
  },
});
const chunkCount = Number(values.chunks);
const dimensions = Number(values.dimensions);
const queryCount = Number(values.queries);
const baselineQueryCount = Number(values['baseline-queries']);
const persistentChunks = Number(values['persistent-chunks']);
for (const [name, value] of Object.entries({
  chunkCount,
  dimensions,
  queryCount,
  baselineQueryCount,
  persistentChunks,
})) {
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`bench:retrieval: ${name} must be a positive integer`);
    process.exit(2);
  }
}

// ---- deterministic synthetic corpus -------------------------------------------------------------------------
let seed = 42;
const random = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const syllables = ['ka', 'lo', 'mi', 'ter', 'sun', 'pra', 'vel', 'dor', 'qui', 'nes', 'bar', 'tul', 'fen', 'gro'];
const vocabulary = Array.from({ length: 20_000 }, (_, index) => {
  let word = '';
  let rest = index + 1;
  while (rest > 0) {
    word += syllables[rest % syllables.length];
    rest = Math.floor(rest / syllables.length);
  }
  return word;
});
// Zipf(s≈1) sampling through the cumulative distribution.
const cumulative = new Float64Array(vocabulary.length);
let total = 0;
for (let rank = 0; rank < vocabulary.length; rank += 1) {
  total += 1 / (rank + 1);
  cumulative[rank] = total;
}
const sampleWord = () => {
  const target = random() * total;
  let low = 0;
  let high = cumulative.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((cumulative[middle] as number) < target) low = middle + 1;
    else high = middle;
  }
  return vocabulary[low] as string;
};
const sentence = (words: number) => Array.from({ length: words }, sampleWord).join(' ');
const randomVector = () => {
  const vector = new Float32Array(dimensions);
  for (let index = 0; index < dimensions; index += 1) vector[index] = random() - 0.5;
  return vector;
};

const workspaceId = 'Wbench';
const chunksPerDocument = 10;
function documentChunks(documentNumber: number): ChunkRecord[] {
  const scope: DocumentScope = documentNumber % 4 === 0 ? 'workspace' : `channel:C${documentNumber % 20}`;
  const documentId = `doc-${documentNumber}`;
  return Array.from({ length: chunksPerDocument }, (_, chunkIndex) => {
    const text = sentence(80);
    return {
      id: `${documentId}-${chunkIndex}`,
      documentId,
      workspaceId,
      scope,
      title: sentence(5),
      sectionPath: [sentence(2)],
      source: `${documentId}.md`,
      chunkIndex,
      contentHash: `${documentId}:${chunkIndex}`,
      documentHash: documentId,
      ingestedAt: '2026-11-28T00:00:00.000Z',
      text,
      tokenCount: 100,
      dense: randomVector(),
    };
  });
}

console.log(
  `bench:retrieval — ${chunkCount.toLocaleString('en')} chunks, ${dimensions} dimensions, node ${process.version}`,
);
const documentCount = Math.ceil(chunkCount / chunksPerDocument);
const generationStart = performance.now();
const documents = Array.from({ length: documentCount }, (_, index) => documentChunks(index));
console.log(`  generated the corpus in ${((performance.now() - generationStart) / 1000).toFixed(1)} s`);

// ---- ingestion ------------------------------------------------------------------------------------------------
// Warm-up shared by both sides (JIT, the analyzer's stem cache), so neither pays the cold start alone.
for (const record of documents.slice(0, 200).flat()) chunkTermFrequencies(record);
const index = new EmbeddedVectorIndex({ sync: false });
await index.ensureReady();
const ingestStart = performance.now();
for (const chunks of documents) await index.replaceDocument(workspaceId, chunks[0]?.documentId ?? '', chunks);
const ingestSeconds = (performance.now() - ingestStart) / 1000;
const ingestRate = chunkCount / ingestSeconds;

interface NaiveChunk {
  record: ChunkRecord;
  vector: number[];
  terms: Map<string, number>;
  length: number;
}
const baselineSubset = documents.slice(0, Math.max(1, Math.floor(documentCount / 5))).flat();
const baselineStart = performance.now();
const naiveSubset: NaiveChunk[] = [];
for (const record of baselineSubset) {
  const terms = chunkTermFrequencies(record);
  let length = 0;
  for (const frequency of terms.values()) length += frequency;
  naiveSubset.push({ record, vector: Array.from(record.dense ?? []), terms, length });
}
const baselineIngestRate = baselineSubset.length / ((performance.now() - baselineStart) / 1000);

const directory = mkdtempSync(join(tmpdir(), 'deskhand-bench-index-'));
const persistent = new EmbeddedVectorIndex({ directory });
await persistent.ensureReady();
const persistentDocuments = documents.slice(0, Math.max(1, Math.floor(persistentChunks / chunksPerDocument)));
const persistentStart = performance.now();
for (const chunks of persistentDocuments)
  await persistent.replaceDocument(workspaceId, chunks[0]?.documentId ?? '', chunks);
const persistentRate =
  (persistentDocuments.length * chunksPerDocument) / ((performance.now() - persistentStart) / 1000);
await persistent.close();
rmSync(directory, { recursive: true, force: true });

// ---- queries --------------------------------------------------------------------------------------------------
const queries = Array.from({ length: queryCount }, (_, number) => ({
  text: `${sentence(3)} ${vocabulary[200 + ((number * 37) % 5000)]}`,
  dense: randomVector(),
  access: { workspaceId, channelId: `C${number % 20}` },
}));

/** Wall-clock and on-CPU latency: on a shared machine the wall clock includes time spent waiting for a core. */
async function measure(
  mode: SearchRequest['mode'],
): Promise<{ p50: number; p99: number; mean: number; cpuP50: number }> {
  const timings: number[] = [];
  const cpuTimings: number[] = [];
  for (const query of queries) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    await index.search({
      access: query.access,
      text: query.text,
      mode,
      limit: 50,
      ...(mode === 'sparse' ? {} : { dense: query.dense }),
    });
    timings.push(performance.now() - start);
    const cpu = process.cpuUsage(cpuStart);
    cpuTimings.push((cpu.user + cpu.system) / 1000);
  }
  return { ...summarise(timings), cpuP50: summarise(cpuTimings).p50 };
}

function summarise(timings: number[]): { p50: number; p99: number; mean: number } {
  const sorted = [...timings].sort((left, right) => left - right);
  const at = (quantile: number) => sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] as number;
  return { p50: at(0.5), p99: at(0.99), mean: timings.reduce((sum, value) => sum + value, 0) / timings.length };
}

// Warm-up (JIT, caches) so the first measured query is not an outlier of compilation.
for (const query of queries.slice(0, 10)) {
  await index.search({ access: query.access, text: query.text, mode: 'hybrid', limit: 50, dense: query.dense });
}
const hybrid = await measure('hybrid');
const sparse = await measure('sparse');
const dense = await measure('dense');

// Naive baseline over all chunks: arrays of objects, linear cosine + BM25 scan, full sort.
const naive: NaiveChunk[] = [...naiveSubset];
for (const record of documents.slice(naiveSubset.length / chunksPerDocument).flat()) {
  const terms = chunkTermFrequencies(record);
  let length = 0;
  for (const frequency of terms.values()) length += frequency;
  naive.push({ record, vector: Array.from(record.dense ?? []), terms, length });
}
const documentFrequency = new Map<string, number>();
for (const chunk of naive)
  for (const term of chunk.terms.keys()) documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
const averageLength = naive.reduce((sum, chunk) => sum + chunk.length, 0) / naive.length;
const naiveTimings: number[] = [];
for (const query of queries.slice(0, baselineQueryCount)) {
  const start = performance.now();
  const queryTerms = queryTermFrequencies(query.text, defaultAnalyzer);
  const queryVector = Array.from(query.dense);
  const queryNorm = Math.hypot(...queryVector);
  const scored = naive
    .filter(
      (chunk) =>
        chunk.record.workspaceId === query.access.workspaceId &&
        (chunk.record.scope === 'workspace' || chunk.record.scope === `channel:${query.access.channelId}`),
    )
    .map((chunk) => {
      let dot = 0;
      let norm = 0;
      chunk.vector.forEach((value, position) => {
        dot += value * (queryVector[position] ?? 0);
        norm += value * value;
      });
      let bm25 = 0;
      for (const [term, weight] of queryTerms) {
        const frequency = chunk.terms.get(term);
        if (!frequency) continue;
        const df = documentFrequency.get(term) ?? 0;
        const idf = Math.log(1 + (naive.length - df + 0.5) / (df + 0.5));
        bm25 += (weight * idf * frequency) / (frequency + 0.9 * (1 - 0.4 + (0.4 * chunk.length) / averageLength));
      }
      return { chunk, cosine: dot / (Math.sqrt(norm) * queryNorm || 1), bm25 };
    });
  const byCosine = [...scored].sort((left, right) => right.cosine - left.cosine).slice(0, 100);
  const byBm25 = [...scored].sort((left, right) => right.bm25 - left.bm25).slice(0, 100);
  const fused = new Map<string, number>();
  for (const list of [byCosine, byBm25]) {
    for (const [rank, entry] of list.entries()) {
      fused.set(entry.chunk.record.id, (fused.get(entry.chunk.record.id) ?? 0) + 1 / (61 + rank));
    }
  }
  [...fused.entries()].sort((left, right) => right[1] - left[1]).slice(0, 50);
  naiveTimings.push(performance.now() - start);
}
const baseline = summarise(naiveTimings);

const format = (value: number) => `${value.toFixed(2)} ms`;
console.log(
  `\nQuery latency at ${index.size.toLocaleString('en')} chunks (limit 50, access-filtered, ${queryCount} queries):`,
);
console.log(`  load average (1 min) ${loadavg()[0]?.toFixed(1)} on ${availableParallelism()} cores`);
const line = (name: string, result: { p50: number; p99: number; cpuP50: number }) =>
  `  ${name.padEnd(8)} p50 ${format(result.p50)}  p99 ${format(result.p99)}  on-CPU p50 ${format(result.cpuP50)}`;
console.log(`${line('hybrid', hybrid)}  (target p50 < 20 ms: ${hybrid.p50 < 20 ? 'met' : 'NOT met'})`);
console.log(line('sparse', sparse));
console.log(line('dense', dense));
console.log(
  `  baseline (naive hybrid scan over objects, ${baselineQueryCount} queries) p50 ${format(baseline.p50)}  p99 ${format(baseline.p99)}`,
);
console.log(`  speed-up at p50: ${(baseline.p50 / hybrid.p50).toFixed(1)}× over the baseline`);
console.log('\nIngestion throughput:');
console.log(`  embedded index (in memory)          ${ingestRate.toFixed(0)} chunks/s`);
console.log(
  `  embedded index (persistent, fdatasync per document, ${persistentDocuments.length * chunksPerDocument} chunks) ${persistentRate.toFixed(0)} chunks/s`,
);
console.log(
  `  baseline (analysis + array of objects, ${baselineSubset.length} chunks) ${baselineIngestRate.toFixed(0)} chunks/s`,
);
console.log(`  ratio in memory / baseline: ${(ingestRate / baselineIngestRate).toFixed(2)}×`);
console.log(
  `\nNote: the dense side is an exact scan, linear in dimensions × chunks; at ${dimensions} dimensions it is the dense p50 above.`,
);
await index.close();
const quantizedCases: ComparisonCase[] = [];
for (const item of values.quantized === 'none' ? [] : values.quantized.split(',')) {
  const match = /^(clustered|uniform):(\d{1,8})x(\d{1,5})$/.exec(item.trim());
  if (!match) {
    console.error(`bench:retrieval: --quantized expects data:CHUNKSxDIMENSIONS items, got "${item}"`);
    process.exit(2);
  }
  const data = match[1] as 'clustered' | 'uniform';
  const chunks = Number(match[2]);
  const large = chunks > 200_000;
  quantizedCases.push({
    chunks,
    dimensions: Number(match[3]),
    data,
    // The sign-bit cascade is measured where its recall is in question (full-width vectors).
    modes: large ? ['exact', 'quantized'] : ['exact', 'quantized', 'binary'],
    queries: Number(values['quantized-queries']),
    // Hybrid timing where the target applies; short texts elsewhere keep the build (BM25) quick.
    words: data === 'clustered' && !large ? 80 : 8,
    hybrid: data === 'clustered',
  });
}
const quantized = compareQuantized(quantizedCases);
console.log(
  JSON.stringify({
    quantized,
    chunks: index.size,
    dimensions,
    loadAverage: loadavg()[0],
    queryLatencyMs: { hybrid, sparse, dense, naiveBaseline: baseline },
    speedupP50: baseline.p50 / hybrid.p50,
    ingestChunksPerSecond: { inMemory: ingestRate, persistent: persistentRate, naiveBaseline: baselineIngestRate },
  }),
);
