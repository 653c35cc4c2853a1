/**
 * Ingestion throughput: `npm run bench:ingestion -- [--documents 1000] [--corpus <file.jsonl>…] [--manual <file.md>]`.
 *
 * By default it reads the small in-repo SciFact sample (`test/fixtures/retrieval/scifact-sample`, 280 abstracts)
 * and the OpenAPI 3.2.0 manual in `test/fixtures/documents`; pass the full SciFact corpus files with `--corpus` for
 * the 1,000-abstract figures in the README.
 *
 * 1. SciFact abstracts (title + text; the first `--documents` of the corpus files) through `ingestText` into an
 *    in-memory embedded index, sparse-only, against a baseline measured in the same run: the same texts cut into
 *    fixed 400-token windows with no structure, hashing or idempotency check, written with one `replaceDocument`
 *    each.
 * 2. The OpenAPI manual (296 KB Markdown) through parse + structure-aware chunking, against the same fixed-window
 *    baseline on its raw text.
 * Prints chunks per second for each and the ratio pipeline / baseline time (higher = the pipeline costs more).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { chunkDocument } from '../../src/capabilities/documents/ingestion/chunker.ts';
import { documentIdFor } from '../../src/capabilities/documents/ingestion/document-id.ts';
import { ingestText } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { parseMarkdown } from '../../src/capabilities/documents/ingestion/parsers/parse-markdown.ts';
import { countTokens, getEncoder } from '../../src/llm/tokenizer.ts';
import type { ChunkRecord } from '../../src/ports/vector-index.ts';
import { openApiManualPath, scifactSample } from '../../test/support/fixtures.ts';

const { values } = parseArgs({
  options: {
    documents: { type: 'string', default: '1000' },
    corpus: { type: 'string', multiple: true, default: [scifactSample.corpus] },
    manual: { type: 'string', default: openApiManualPath },
  },
});
const limit = Number(values.documents);
const manualPath = values.manual;

interface CorpusDocument {
  _id: string;
  title: string;
  text: string;
}

const corpus: CorpusDocument[] = values.corpus
  .flatMap((path) => readFileSync(path, 'utf8').split('\n'))
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as CorpusDocument)
  .slice(0, limit);

const encoder = getEncoder('o200k_base');
const decoder = new TextDecoder();

/** The baseline chunker: fixed 400-token windows of the raw text. */
function fixedWindows(text: string, size = 400): string[] {
  const tokens = encoder.encode_ordinary(text);
  const windows: string[] = [];
  for (let start = 0; start < tokens.length; start += size) {
    windows.push(decoder.decode(encoder.decode(tokens.slice(start, start + size))));
  }
  return windows;
}

function baselineRecords(workspaceId: string, document: CorpusDocument): ChunkRecord[] {
  const documentId = documentIdFor(workspaceId, document._id);
  return fixedWindows(`${document.title}\n\n${document.text}`).map((text, chunkIndex) => ({
    id: `${documentId}-${chunkIndex}`,
    documentId,
    workspaceId,
    scope: 'workspace',
    title: document.title,
    sectionPath: [],
    source: document._id,
    chunkIndex,
    contentHash: createHash('sha256').update(text).digest('hex'),
    documentHash: '',
    ingestedAt: new Date(0).toISOString(),
    text,
    tokenCount: countTokens(text),
  }));
}

const seconds = (start: number) => (performance.now() - start) / 1000;

// Warm up the tokenizer, the segmenters and the parsers so neither side pays first-use costs.
chunkDocument(parseMarkdown('# Warm-up\n\nOne sentence. Two sentences.').blocks);
fixedWindows('warm up');

/** Runs the baseline into a fresh index; run before and after the pipeline, the faster run counts. */
async function runBaseline(): Promise<{ seconds: number; chunks: number }> {
  const index = new EmbeddedVectorIndex();
  await index.ensureReady();
  const begin = performance.now();
  let chunks = 0;
  for (const document of corpus) {
    const records = baselineRecords('TBASE', document);
    chunks += records.length;
    await index.replaceDocument('TBASE', records[0]?.documentId ?? '', records);
  }
  const elapsed = seconds(begin);
  await index.close();
  return { seconds: elapsed, chunks };
}

const baselineBefore = await runBaseline();
let start = performance.now();
const pipelineIndex = new EmbeddedVectorIndex();
await pipelineIndex.ensureReady();
start = performance.now();
let pipelineChunks = 0;
for (const document of corpus) {
  const result = await ingestText(
    { workspaceId: 'TBENCH', scope: 'workspace', source: document._id, title: document.title, text: document.text },
    { index: pipelineIndex, callScope: { workspaceId: 'TBENCH', channelId: 'CBENCH' } },
  );
  pipelineChunks += result.chunkCount;
}
const pipelineSeconds = seconds(start);
const baselineAfter = await runBaseline();
const baselineSeconds = Math.min(baselineBefore.seconds, baselineAfter.seconds);
const baselineChunks = baselineBefore.chunks;

start = performance.now();
let unchanged = 0;
for (const document of corpus) {
  const result = await ingestText(
    { workspaceId: 'TBENCH', scope: 'workspace', source: document._id, title: document.title, text: document.text },
    { index: pipelineIndex, callScope: { workspaceId: 'TBENCH', channelId: 'CBENCH' } },
  );
  if (result.kind === 'unchanged') unchanged += 1;
}
const reingestSeconds = seconds(start);

const manual = readFileSync(manualPath, 'utf8');
start = performance.now();
const manualBlocks = parseMarkdown(manual).blocks;
const manualParseSeconds = seconds(start);
start = performance.now();
const manualChunks = chunkDocument(manualBlocks);
const manualChunkSeconds = seconds(start);
const manualSeconds = manualParseSeconds + manualChunkSeconds;
start = performance.now();
const manualBaseline = fixedWindows(manual);
const manualBaselineSeconds = seconds(start);

const round = (value: number, digits = 1) => Number(value.toFixed(digits));
const figures = {
  documents: corpus.length,
  scifactChunks: pipelineChunks,
  scifactChunksPerSecond: round(pipelineChunks / pipelineSeconds),
  scifactBaselineChunksPerSecond: round(baselineChunks / baselineSeconds),
  scifactRatio: round(pipelineSeconds / baselineSeconds, 2),
  reingestUnchanged: unchanged,
  reingestSeconds: round(reingestSeconds, 2),
  manualChunks: manualChunks.length,
  manualMaxTokens: Math.max(...manualChunks.map((chunk) => chunk.tokenCount)),
  manualParseSeconds: round(manualParseSeconds, 2),
  manualChunkSeconds: round(manualChunkSeconds, 2),
  manualBaselineChunks: manualBaseline.length,
  manualBaselineSeconds: round(manualBaselineSeconds, 2),
  manualRatio: round(manualSeconds / manualBaselineSeconds, 2),
};
console.log(
  `SciFact ${figures.documents} abstracts: pipeline ${figures.scifactChunksPerSecond} chunks/s, fixed-window baseline ${figures.scifactBaselineChunksPerSecond} chunks/s (pipeline takes ${figures.scifactRatio}x the baseline time)`,
);
console.log(`Re-ingesting them unchanged: ${figures.reingestUnchanged} unchanged in ${figures.reingestSeconds}s`);
console.log(
  `OpenAPI manual: ${figures.manualChunks} structure-aware chunks (max ${figures.manualMaxTokens} tokens) in ${round(manualSeconds, 2)}s (parse ${figures.manualParseSeconds}s, chunk ${figures.manualChunkSeconds}s) vs ${figures.manualBaselineChunks} fixed windows in ${figures.manualBaselineSeconds}s (${figures.manualRatio}x)`,
);
console.log(JSON.stringify(figures));

await pipelineIndex.close();
