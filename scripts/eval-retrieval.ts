/**
 * Retrieval evaluation over BEIR-format files (stable interface):
 *
 *   npm run eval:retrieval -- [--corpus <file.jsonl>… --queries <file.jsonl> --qrels <file.tsv>]
 *     [--mode sparse|dense|hybrid] [--k 10]
 *   tuning extras: [--k1 0.9] [--b 0.4] [--title-weight 1] [--neighbour-weight 0] [--document-support 0.05]
 *     [--max-chunk-tokens 400] [--budget 2500] [--cutoff 0.6] [--stop-words lucene|stopword-package]
 *     [--sentence-ratio 0.5] [--neighbours 1] [--no-compress] [--cv 5] [--min-coverage 0.9]
 *
 * Dense and hybrid modes embed through the gateway and need OPENAI_API_KEY (OPENAI_BASE_URL, REDIS_URL as in
 * the app); sparse needs no provider. Several corpus files concatenate. Without --corpus/--queries/--qrels it runs on
 * the small in-repo SciFact sample (`test/fixtures/retrieval/scifact-sample`: 60 dev claims, 280 abstracts), a
 * quick check only; the figures in the README are from the full SciFact dev split passed by path.
 * The corpus is ingested into a fresh in-memory embedded index through the
 * real ingestion pipeline (`ingestText`: chunking, hashing, embedding in dense/hybrid modes, indexing) and every query
 * goes through the real retrieval pipeline (`retrieve`). Prints nDCG@k and Recall@100 (document level:
 * a document ranks by its first candidate, after document support), mean packed-context tokens and the judged-document recall of the packed
 * context, the same for the naive "top-5 chunks" baseline, and the recall/token curve over cutoff ratios the
 * sparse default was chosen from. The packed context is also compressed (`compress-context.ts`) and its tokens and
 * query-term coverage reported. `--cv K` cross-validates cutoff × compression over K folds of the queries
 * (`retrieval-cv.ts`) and prints each fold's pick and held-out figures. The last line is one JSON object with the figures.
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { EmbeddedVectorIndex } from '../src/adapters/embedded-vector-index.ts';
import { ingestText } from '../src/capabilities/documents/ingestion/ingest-document.ts';
import { compressContext, defaultCompression } from '../src/capabilities/documents/retrieval/compress-context.ts';
import { defaultCutoffRatios } from '../src/capabilities/documents/retrieval/cutoff.ts';
import { defaultDocumentSupportShares } from '../src/capabilities/documents/retrieval/document-support.ts';
import {
  cutAndPack,
  diversify,
  type RetrievalSettings,
  retrieve,
} from '../src/capabilities/documents/retrieval/retrieve.ts';
import { loadConfiguration } from '../src/composition/config.ts';
import { createGateway } from '../src/composition/create-gateway.ts';
import { countTokens } from '../src/llm/tokenizer.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import type { Embedder } from '../src/ports/embedder.ts';
import type { AccessScope, RetrievalMode, SearchHit } from '../src/ports/vector-index.ts';
import {
  type Analyzer,
  Analyzer as AnalyzerClass,
  defaultAnalyzer,
  type StopWordList,
} from '../src/search/analyzer.ts';
import { defaultBm25Parameters } from '../src/search/bm25.ts';
import { defaultNeighbourWeight, defaultTitleWeight } from '../src/search/sparse-terms.ts';
import { scifactSample } from '../test/support/fixtures.ts';
import {
  type CompressionSetting,
  crossValidate,
  describeCvReport,
  type QueryMeasurement,
  settingKey,
} from './retrieval-cv.ts';

interface CorpusDocument {
  id: string;
  title: string;
  text: string;
}

function fail(message: string): never {
  console.error(`eval:retrieval: ${message}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    corpus: { type: 'string', multiple: true, default: [scifactSample.corpus] },
    queries: { type: 'string', default: scifactSample.queries },
    qrels: { type: 'string', default: scifactSample.qrels },
    mode: { type: 'string', default: 'sparse' },
    k: { type: 'string', default: '10' },
    k1: { type: 'string' },
    b: { type: 'string' },
    'title-weight': { type: 'string' },
    'neighbour-weight': { type: 'string' },
    'document-support': { type: 'string' },
    'max-chunk-tokens': { type: 'string' },
    budget: { type: 'string', default: '2500' },
    cutoff: { type: 'string' },
    'stop-words': { type: 'string', default: 'lucene' },
    'sentence-ratio': { type: 'string' },
    neighbours: { type: 'string' },
    'no-compress': { type: 'boolean', default: false },
    cv: { type: 'string' },
    'min-coverage': { type: 'string', default: '0.9' },
  },
  allowPositionals: false,
});

const corpusFiles = values.corpus;
const mode = values.mode as RetrievalMode;
if (!['sparse', 'dense', 'hybrid'].includes(mode)) fail(`--mode must be sparse, dense or hybrid, not "${values.mode}"`);
const numberOption = (name: string, raw: string | undefined, fallback: number): number => {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) fail(`--${name} must be a non-negative number, not "${raw}"`);
  return value;
};
const k = numberOption('k', values.k, 10);
const budget = numberOption('budget', values.budget, 2500);
const k1 = numberOption('k1', values.k1, defaultBm25Parameters.k1);
const b = numberOption('b', values.b, defaultBm25Parameters.b);
const titleWeight = numberOption('title-weight', values['title-weight'], defaultTitleWeight);
const neighbourWeight = numberOption('neighbour-weight', values['neighbour-weight'], defaultNeighbourWeight);
const documentSupport = numberOption(
  'document-support',
  values['document-support'],
  defaultDocumentSupportShares[mode],
);
if (documentSupport > 1) fail(`--document-support must be within 0..1, not "${documentSupport}"`);
const maxChunkTokens =
  values['max-chunk-tokens'] === undefined
    ? undefined
    : numberOption('max-chunk-tokens', values['max-chunk-tokens'], 400);
const cutoff = numberOption('cutoff', values.cutoff, defaultCutoffRatios[mode]);
const sentenceRatio = numberOption('sentence-ratio', values['sentence-ratio'], defaultCompression.sentenceRatio);
const neighbours = numberOption('neighbours', values.neighbours, defaultCompression.neighbours);
if (sentenceRatio > 1 || !Number.isInteger(neighbours) || neighbours > 5)
  fail('--sentence-ratio must be within 0..1 and --neighbours an integer within 0..5');
const compress = !values['no-compress'];
const cvFolds = values.cv === undefined ? 0 : numberOption('cv', values.cv, 5);
if (values.cv !== undefined && (!Number.isInteger(cvFolds) || cvFolds < 2)) fail('--cv must be an integer ≥ 2');
const minCoverage = numberOption('min-coverage', values['min-coverage'], 0.9);
const stopWords = values['stop-words'] as StopWordList;
if (!['lucene', 'stopword-package', 'none'].includes(stopWords))
  fail('--stop-words must be lucene, stopword-package or none');

function readJsonLines(path: string): Record<string, unknown>[] {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    fail(`cannot read ${path}: ${(error as Error).message}`);
  }
  return content
    .split('\n')
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => line.trim().length > 0)
    .map(({ line, index }) => {
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        fail(`${path}:${index + 1} is not valid JSON`);
      }
      return parsed;
    });
}

const corpus: CorpusDocument[] = [];
for (const file of corpusFiles) {
  for (const row of readJsonLines(file)) {
    if (typeof row._id !== 'string' || typeof row.text !== 'string')
      fail(`${file}: every line needs string "_id" and "text"`);
    corpus.push({ id: row._id, title: typeof row.title === 'string' ? row.title : '', text: row.text });
  }
}
const queries = readJsonLines(values.queries).map((row) => {
  if (typeof row._id !== 'string' || typeof row.text !== 'string')
    fail(`${values.queries}: every line needs "_id" and "text"`);
  return { id: row._id, text: row.text };
});
const qrels = new Map<string, Map<string, number>>();
for (const [index, line] of readFileSync(values.qrels, 'utf8').split('\n').entries()) {
  const [queryId, documentId, score] = line.trim().split('\t');
  if (!queryId || !documentId || (index === 0 && queryId === 'query-id')) continue;
  const relevance = Number(score);
  if (!Number.isFinite(relevance)) fail(`${values.qrels}:${index + 1}: score "${score}" is not a number`);
  if (!qrels.has(queryId)) qrels.set(queryId, new Map());
  qrels.get(queryId)?.set(documentId, relevance);
}

const workspaceId = 'Weval';
const access: AccessScope = { workspaceId, channelId: 'Ceval' };
const analyzer: Analyzer = new AnalyzerClass({ stopWords });
const index = new EmbeddedVectorIndex({
  analyzer,
  bm25: { k1, b, luceneNorms: true },
  titleWeight,
  neighbourWeight,
  sync: false,
});

/**
 * Dense and hybrid modes embed through the gateway (budgets, token counting and batching apply) when OPENAI
 * settings are configured; the Slack settings the configuration schema requires are not used here.
 */
let embedder: Embedder | undefined;
let closeGateway = async () => {};
if (mode !== 'sparse') {
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: 'xoxb-eval-unused',
    SLACK_SIGNING_SECRET: 'eval-unused-secret',
    ...process.env,
  });
  if (!loaded.ok) fail(`configuration problems:\n${loaded.problems.join('\n')}`);
  const configuration = loaded.configuration;
  if (!configuration.openai.apiKey) {
    fail(
      `--mode ${mode} needs embeddings from the gateway: set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible API). ` +
        'Without an embedding provider only --mode sparse produces meaningful numbers.',
    );
  }
  const redis = new Redis(configuration.redis.url, { lazyConnect: false, maxRetriesPerRequest: 2 });
  const parts = createGateway(configuration, {
    openai: new OpenAI({ apiKey: configuration.openai.apiKey, baseURL: configuration.openai.baseURL }),
    redis,
    metrics: createMetricsRegistry(),
    logger: createLogger({ level: 'warn' }),
  });
  embedder = parts.embedder;
  closeGateway = async () => {
    await parts.close();
    await redis.quit();
  };
  console.log(
    `Embedding with ${embedder.model} (${embedder.dimensions} dimensions) at ${configuration.openai.baseURL}`,
  );
}

/** BEIR id of each indexed document id (the ingestion pipeline derives ids from workspace + source). */
const beirIdOf = new Map<string, string>();
const ingestStart = performance.now();
await index.ensureReady();
let chunkCount = 0;
for (const document of corpus) {
  const result = await ingestText(
    { workspaceId, scope: 'workspace', source: `beir:${document.id}`, title: document.title, text: document.text },
    {
      index,
      ...(embedder ? { embedder } : {}),
      callScope: { workspaceId, channelId: 'Ceval' },
      ...(maxChunkTokens ? { chunking: { maxTokens: maxChunkTokens } } : {}),
    },
  );
  beirIdOf.set(result.documentId, document.id);
  chunkCount += result.chunkCount;
}
const ingestSeconds = (performance.now() - ingestStart) / 1000;

const settings: RetrievalSettings = {
  mode,
  contextTokens: budget,
  cutoffRatio: cutoff,
  documentSupportShare: documentSupport,
  candidateLimit: 150,
  compression: false,
};
const compressionOptions = { sentenceRatio, neighbours };
/** Share of the query's analysed terms present in `before` that `after` still contains (1 when none were). */
function coverage(query: string, before: string, after: string): number {
  const terms = new Set(defaultAnalyzer.analyze(query));
  const had = new Set(defaultAnalyzer.analyze(before).filter((term) => terms.has(term)));
  if (had.size === 0) return 1;
  const kept = new Set(defaultAnalyzer.analyze(after));
  return [...had].filter((term) => kept.has(term)).length / had.size;
}
const contextText = (context: { passages: { text: string }[] }) =>
  context.passages.map((passage) => passage.text).join('\n');
const cvRatios = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85];
const cvCompressions: CompressionSetting[] = [
  { label: 'off', sentenceRatio: 0, neighbours: 5 },
  ...[0.3, 0.5, 0.7, 1].flatMap((ratio) =>
    [0, 1, 2].map((near) => ({ label: `s${ratio}n${near}`, sentenceRatio: ratio, neighbours: near })),
  ),
];
const measurements: QueryMeasurement[] = [];
let compressedTokens = 0;
let compressedCoverage = 0;
const curveRatios = [0, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9];
const beirId = (documentId: string) => beirIdOf.get(documentId) ?? documentId;
const sourceOf = (hit: SearchHit) => beirId(hit.chunk.documentId);

let ndcgSum = 0;
let recallSum = 0;
let evaluated = 0;
let packedTokens = 0;
let packedRecall = 0;
let naiveTokens = 0;
let naiveRecall = 0;
const curve = curveRatios.map((ratio) => ({ ratio, tokens: 0, recall: 0 }));
const queryStart = performance.now();
for (const query of queries) {
  const judged = qrels.get(query.id);
  if (!judged || [...judged.values()].every((relevance) => relevance <= 0)) continue;
  evaluated += 1;
  const outcome = await retrieve(
    { index, ...(embedder ? { embedder } : {}) },
    { access, query: query.text, callScope: { workspaceId, channelId: 'Ceval' } },
    settings,
  );
  const candidates = outcome.candidates;
  // Document ranking: candidates come after document support (best chunk + a share of the runner-up), so a
  // document's first occurrence fixes its rank.
  const ranking: string[] = [];
  for (const hit of candidates) {
    const id = sourceOf(hit);
    if (!ranking.includes(id)) ranking.push(id);
  }
  ndcgSum += ndcgAt(ranking, judged, k);
  const relevant = [...judged.entries()].filter(([, relevance]) => relevance > 0).map(([id]) => id);
  recallSum += relevant.filter((id) => ranking.slice(0, 100).includes(id)).length / relevant.length;
  const recallOf = (documents: Iterable<string>) => {
    const set = new Set(documents);
    return relevant.filter((id) => set.has(id)).length / relevant.length;
  };
  const context = outcome.kind === 'retrieved' ? outcome.context : { passages: [], tokenCount: 0, droppedForBudget: 0 };
  packedTokens += context.tokenCount;
  packedRecall += recallOf(context.passages.map((passage) => beirId(passage.documentId)));
  if (compress) {
    const compressed = compressContext(context, query.text, compressionOptions);
    compressedTokens += compressed.tokenCount;
    compressedCoverage += coverage(query.text, contextText(context), contextText(compressed));
  }
  const naive = candidates.slice(0, 5);
  naiveTokens += naive.reduce((sum, hit) => sum + countTokens(hit.chunk.text), 0);
  naiveRecall += recallOf(naive.map(sourceOf));
  const diverse = diversify(candidates, settings);
  for (const point of curve) {
    const packed = cutAndPack(diverse, { ...settings, cutoffRatio: point.ratio });
    point.tokens += packed.tokenCount;
    point.recall += recallOf(packed.passages.map((passage) => beirId(passage.documentId)));
  }
  if (cvFolds > 0) {
    const measurement: QueryMeasurement = {
      id: query.id,
      naiveTokens: naive.reduce((sum, hit) => sum + countTokens(hit.chunk.text), 0),
      naiveRecall: recallOf(naive.map(sourceOf)),
      points: new Map(),
    };
    for (const ratio of cvRatios) {
      const packed = cutAndPack(diverse, { ...settings, cutoffRatio: ratio });
      const recall = recallOf(packed.passages.map((passage) => beirId(passage.documentId)));
      const before = contextText(packed);
      for (const setting of cvCompressions) {
        const compressed = setting.label === 'off' ? packed : compressContext(packed, query.text, setting);
        measurement.points.set(settingKey(ratio, setting.label), {
          tokens: compressed.tokenCount,
          recall,
          coverage: setting.label === 'off' ? 1 : coverage(query.text, before, contextText(compressed)),
        });
      }
    }
    measurements.push(measurement);
  }
}
const querySeconds = (performance.now() - queryStart) / 1000;

function ndcgAt(ranking: string[], judged: Map<string, number>, cutoffRank: number): number {
  let dcg = 0;
  ranking.slice(0, cutoffRank).forEach((id, position) => {
    dcg += (judged.get(id) ?? 0) / Math.log2(position + 2);
  });
  const ideal = [...judged.values()].filter((relevance) => relevance > 0).sort((left, right) => right - left);
  let idcg = 0;
  ideal.slice(0, cutoffRank).forEach((relevance, position) => {
    idcg += relevance / Math.log2(position + 2);
  });
  return idcg === 0 ? 0 : dcg / idcg;
}

const mean = (sum: number) => (evaluated === 0 ? 0 : sum / evaluated);
const round = (value: number, digits = 4) => Number(value.toFixed(digits));
const figures = {
  mode,
  queries: evaluated,
  documents: corpus.length,
  chunks: chunkCount,
  [`ndcg@${k}`]: round(mean(ndcgSum)),
  'recall@100': round(mean(recallSum)),
  packed: {
    meanTokens: round(mean(packedTokens), 1),
    judgedRecall: round(mean(packedRecall)),
    cutoffRatio: cutoff,
    budget,
  },
  compressed: compress
    ? {
        meanTokens: round(mean(compressedTokens), 1),
        judgedRecall: round(mean(packedRecall)),
        queryTermCoverage: round(mean(compressedCoverage)),
        toNaiveTokenRatio: round(naiveTokens === 0 ? 0 : compressedTokens / naiveTokens),
        sentenceRatio,
        neighbours,
      }
    : undefined,
  naiveTop5: { meanTokens: round(mean(naiveTokens), 1), judgedRecall: round(mean(naiveRecall)) },
  packedToNaiveTokenRatio: round(naiveTokens === 0 ? 0 : packedTokens / naiveTokens),
  bm25: { k1, b, titleWeight, neighbourWeight, stopWords },
  documentSupport,
  ingestSeconds: round(ingestSeconds, 2),
  querySeconds: round(querySeconds, 2),
};

console.log(
  `SciFact-style evaluation (${mode}); ${evaluated} judged queries, ${corpus.length} documents, ${chunkCount} chunks`,
);
if (mode === 'sparse') {
  console.log(
    '  (sparse needs no embedding provider; dense and hybrid embed through the gateway and need OPENAI_API_KEY)',
  );
}
console.log(
  `  BM25 k1=${k1} b=${b}, title weight ${titleWeight}, neighbour weight ${neighbourWeight}, stop words ${stopWords}, document support ${documentSupport}`,
);
console.log(`  nDCG@${k}      ${figures[`ndcg@${k}`]}`);
console.log(`  Recall@100   ${figures['recall@100']}`);
console.log(
  `  packed context: ${figures.packed.meanTokens} tokens/query, judged-document recall ${figures.packed.judgedRecall} (cutoff ${cutoff}, budget ${budget})`,
);
console.log(
  `  naive top-5:    ${figures.naiveTop5.meanTokens} tokens/query, judged-document recall ${figures.naiveTop5.judgedRecall}`,
);
console.log(`  packed / naive tokens: ${figures.packedToNaiveTokenRatio}`);
if (figures.compressed) {
  console.log(
    `  packed + compressed (sentence ratio ${sentenceRatio}, neighbours ${neighbours}): ${figures.compressed.meanTokens} tokens/query (${figures.compressed.toNaiveTokenRatio}× naive), judged-document recall ${figures.compressed.judgedRecall}, query-term coverage ${figures.compressed.queryTermCoverage}`,
  );
}
console.log('  recall/token curve (cutoff ratio → mean tokens, judged-document recall, tokens vs naive):');
for (const point of curve) {
  console.log(
    `    ${point.ratio.toFixed(2)} → ${mean(point.tokens).toFixed(1).padStart(7)} tokens, recall ${mean(point.recall).toFixed(4)}, ${(point.tokens / naiveTokens).toFixed(3)}×`,
  );
}
console.log(`  ingest ${figures.ingestSeconds}s, queries ${figures.querySeconds}s`);
const cvReport =
  cvFolds > 0
    ? crossValidate(measurements, {
        k: cvFolds,
        ratios: cvRatios,
        compressions: cvCompressions.map((setting) => setting.label),
        minCoverage,
        marginSteps: 1,
      })
    : undefined;
if (cvReport) for (const line of describeCvReport(cvReport, cvFolds, minCoverage)) console.log(line);
await index.close();
await closeGateway();
console.log(JSON.stringify(cvReport ? { ...figures, cv: cvReport } : figures));
