/**
 * Answer-cost evaluation: model calls and tokens per answer of the answers pipeline against a naive baseline,
 * measured in the same run over the same index and the same gateway.
 *
 *   npm run eval:answers -- [--limit N] [--mode sparse|hybrid|dense] [--base-url <OpenAI-compatible /v1 URL>]
 *     [--model gpt-4o-mini] [--budget 2500] [--coverage 0.4] [--repeat-share 0.2]
 *     [--corpus <file.jsonl>… --queries <file.jsonl> --qrels <file.tsv>] [--manual <file.md>]
 *   npm run eval:answers -- --feedback <feedback:export file> [--workspace T…] [--allow-lost]
 *     (the feedback regression check: scripts/eval-feedback.ts)
 *
 * Setup: a SciFact corpus (BEIR format; by default the small in-repo sample in
 * `test/fixtures/retrieval/scifact-sample`, 60 dev claims and 280 abstracts; pass the full dev split's files to
 * measure on all 505 claims) is ingested through the real ingestion pipeline (`ingestText`) into channel A's scope
 * of a fresh in-memory embedded index; the long Markdown manual (`--manual`, by default the OpenAPI 3.2.0
 * specification in `test/fixtures/documents/long-manual-markdown`) into channel B's. Every model call
 * goes through the real gateway (Redis cache, budgets, exact counting) to the FakeOpenAIServer started here
 * (default) or to `--base-url` (needs OPENAI_API_KEY). Token figures are the provider-reported usage.
 *
 * Runs, per dev query:
 *  1. pipeline, in-domain   — `answerQuestion` from channel A (relevance gate, relative cutoff, packing, cache);
 *  2. naive, in-domain      — top-5 chunks of a plain index search stuffed into the same prompt, one call, no
 *                              gate, no cache;
 *  3. pipeline/naive, off-domain — the same questions from channel B, whose only document is the manual: a
 *                              correct system answers none of them, so every call there is waste;
 *  4. repeats               — a `--repeat-share` sample of the questions asked again (a support channel sees the
 *                              same question pasted again): the pipeline's cache vs the naive baseline.
 * Also prints the relevance-gate curve (share of in-domain questions answered vs share of off-domain questions
 * wrongly answered, per term-coverage threshold) the default threshold was chosen from, and the judged-document
 * recall of the context each side put in the prompt. The last line is one JSON object with the figures.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { EmbeddedVectorIndex } from '../src/adapters/embedded-vector-index.ts';
import { answerPromptVersion, buildAnswerMessages } from '../src/capabilities/answers/answer-prompt.ts';
import { answerQuestion } from '../src/capabilities/answers/answer-question.ts';
import type { AnswerSource, Retriever } from '../src/capabilities/answers/answer-source.ts';
import { createRetriever, defaultRelevanceGate, termCoverage } from '../src/capabilities/answers/retrieval-adapter.ts';
import { ingestText } from '../src/capabilities/documents/ingestion/ingest-document.ts';
import { BudgetStore } from '../src/llm/budget-store.ts';
import { GatewayEmbedder, OpenAIGateway } from '../src/llm/gateway.ts';
import { Ledger } from '../src/llm/ledger.ts';
import { PriceTable } from '../src/llm/prices.ts';
import { ResponseCache } from '../src/llm/response-cache.ts';
import { createSilentLogger } from '../src/observability/logger.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import type { ChatResult } from '../src/ports/language-model.ts';
import type { AccessScope, RetrievalMode } from '../src/ports/vector-index.ts';
import { Analyzer } from '../src/search/analyzer.ts';
import { FakeOpenAIServer } from '../test/fakes/openai-server.ts';
import { openApiManualPath, scifactSample } from '../test/support/fixtures.ts';
import { combine, perAnswer, ratio, round, type Tally, tally } from './eval-answers-tally.ts';

function fail(message: string): never {
  console.error(`eval:answers: ${message}`);
  process.exit(2);
}

// `--feedback FILE`: the feedback regression check, its own mode (scripts/eval-feedback.ts).
if (process.argv.some((argument) => argument === '--feedback' || argument.startsWith('--feedback=')))
  process.exit(await (await import('./eval-feedback.ts')).runFeedbackEval(process.argv.slice(2)));

const { values } = parseArgs({
  options: {
    limit: { type: 'string' },
    corpus: { type: 'string', multiple: true, default: [scifactSample.corpus] },
    queries: { type: 'string', default: scifactSample.queries },
    qrels: { type: 'string', default: scifactSample.qrels },
    manual: { type: 'string', default: openApiManualPath },
    mode: { type: 'string', default: 'sparse' },
    'base-url': { type: 'string' },
    model: { type: 'string', default: 'gpt-4o-mini' },
    budget: { type: 'string', default: '2500' },
    coverage: { type: 'string' },
    'repeat-share': { type: 'string', default: '0.2' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
  allowPositionals: false,
});

const mode = values.mode as RetrievalMode;
if (!['sparse', 'dense', 'hybrid'].includes(mode)) fail(`--mode must be sparse, dense or hybrid, not "${values.mode}"`);
if (mode !== 'sparse' && !values['base-url']) {
  fail(
    `--mode ${mode} needs real embeddings: pass --base-url of an OpenAI-compatible API (and OPENAI_API_KEY). ` +
      "The fake server's embeddings are hashes, so only --mode sparse gives meaningful retrieval against it.",
  );
}
const numberOption = (name: string, raw: string | undefined, fallback: number, max = Number.POSITIVE_INFINITY) => {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > max) fail(`--${name} must be a number in 0…${max}, not "${raw}"`);
  return value;
};
const budget = numberOption('budget', values.budget, 2500);
const coverageThreshold = numberOption('coverage', values.coverage, defaultRelevanceGate.minimumTermCoverage, 1);
const repeatShare = numberOption('repeat-share', values['repeat-share'], 0.2, 1);

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    fail(`cannot read ${path}: ${(error as Error).message}`);
  }
}

function readJsonLines(path: string): Record<string, unknown>[] {
  return readText(path)
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const corpus = values.corpus.flatMap((path) => readJsonLines(path));
const allQueries = readJsonLines(values.queries).map((row) => ({
  id: String(row._id),
  text: String(row.text),
}));
const queries = allQueries.slice(0, numberOption('limit', values.limit, allQueries.length));
const qrels = new Map<string, Set<string>>();
for (const line of readText(values.qrels).split('\n').slice(1)) {
  const [queryId, documentId, score] = line.trim().split('\t');
  if (!queryId || !documentId || Number(score) <= 0) continue;
  if (!qrels.has(queryId)) qrels.set(queryId, new Set());
  qrels.get(queryId)?.add(documentId);
}
const manualPath = values.manual;
const manual = readText(manualPath);

// --- gateway (real) against the fake server or a configured endpoint -------------------------------------------
const fake = values['base-url'] ? undefined : await FakeOpenAIServer.start({ whenEmpty: 'default', validate: false });
const baseURL = values['base-url'] ?? fake?.baseURL ?? '';
const apiKey = values['base-url'] ? process.env.OPENAI_API_KEY : 'sk-eval-fake';
if (!apiKey) fail('--base-url needs OPENAI_API_KEY in the environment');
const keyPrefix = `eval:answers:${randomUUID()}:`;
const redis = new Redis(values['redis-url'], { maxRetriesPerRequest: 1 });
const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-eval-answers-'));
const ledger = new Ledger(dataDir);
const unlimited = 1_000_000_000_000;
const gateway = new OpenAIGateway({
  client: new OpenAI({ apiKey, baseURL }),
  budgets: new BudgetStore({
    redis,
    keyPrefix,
    timeZone: 'UTC',
    defaults: { channelDailyMicroUsd: unlimited, channelMonthlyMicroUsd: unlimited, workspaceDailyMicroUsd: unlimited },
    reservationTtlMs: 600_000,
    adminUserIds: [],
  }),
  cache: new ResponseCache({ redis, keyPrefix, ttlSeconds: 3600, timeSensitiveTtlSeconds: 60 }),
  ledger,
  prices: new PriceTable(),
  metrics: createMetricsRegistry(),
  logger: createSilentLogger(),
  chatModel: values.model,
  embeddingModel: 'text-embedding-3-small',
  embeddingDimensions: 256,
  timeoutMs: 60_000,
});
const embedder = mode === 'sparse' ? undefined : new GatewayEmbedder(gateway, 'text-embedding-3-small', 256);

// --- index: SciFact in channel A, the manual in channel B ---------------------------------------------------------
const workspaceId = 'Weval';
const channelA: AccessScope = { workspaceId, channelId: 'Cscifact' };
const channelB: AccessScope = { workspaceId, channelId: 'Cmanual' };
const index = new EmbeddedVectorIndex({ sync: false });
await index.ensureReady();
const ingestStart = performance.now();
const ingestScope = { workspaceId, channelId: 'Cingest' };
for (const row of corpus) {
  await ingestText(
    {
      workspaceId,
      scope: 'channel:Cscifact',
      source: `beir:${String(row._id)}`,
      title: String(row.title ?? ''),
      text: String(row.text ?? ''),
    },
    { index, callScope: ingestScope, ...(embedder ? { embedder } : {}) },
  );
}
await ingestText(
  {
    workspaceId,
    scope: 'channel:Cmanual',
    source: manualPath,
    title: 'OpenAPI Specification 3.2.0',
    text: manual,
    format: 'markdown',
  },
  { index, callScope: ingestScope, ...(embedder ? { embedder } : {}) },
);
const ingestSeconds = (performance.now() - ingestStart) / 1000;

const settings = { mode, contextTokens: budget };
const retrieveGated: Retriever = createRetriever({ index, ...(embedder ? { embedder } : {}) }, settings, {
  gate: { ...defaultRelevanceGate, minimumTermCoverage: coverageThreshold },
});
const retrieveUngated: Retriever = createRetriever({ index, ...(embedder ? { embedder } : {}) }, settings, {
  gate: { minimumTermCoverage: 0, minimumDenseScore: Number.NEGATIVE_INFINITY },
});

// --- measurement helpers ----------------------------------------------------------------------------------------
const scopeOf = (access: AccessScope) => ({ ...access, userId: 'Ueval' });
const documentOf = (source: AnswerSource) => source.documentId;
const sourceIdOf = new Map<string, string>();
for (const document of await index.listDocuments(channelA))
  sourceIdOf.set(document.documentId, document.source.replace(/^beir:/, ''));

async function runPipeline(query: { id: string; text: string }, access: AccessScope, into: Tally): Promise<void> {
  const outcome = await answerQuestion(
    { question: query.text, access, callScope: scopeOf(access) },
    { gateway, retrieve: retrieveGated, maxOutputTokens: 400 },
  );
  into.questions += 1;
  into.modelCalls += outcome.usage.modelCalls;
  into.cacheHits += outcome.usage.cacheHits;
  into.inputTokens += outcome.usage.inputTokens;
  into.outputTokens += outcome.usage.outputTokens;
  into.costMicroUsd += outcome.usage.costMicroUsd;
  if (outcome.kind === 'answered') {
    into.answered += 1;
    into.contextTokens += outcome.sources.reduce((sum, source) => sum + source.tokenCount, 0);
    const judged = qrels.get(query.id);
    if (judged && outcome.sources.some((source) => judged.has(sourceIdOf.get(documentOf(source)) ?? ''))) {
      into.judgedInContext += 1;
    }
  } else if (outcome.kind === 'no_sources') into.noSources += 1;
  else
    fail(
      `unexpected outcome ${outcome.kind} for query ${query.id}: ${'userMessage' in outcome ? outcome.userMessage : ''}`,
    );
}

async function runNaive(query: { id: string; text: string }, access: AccessScope, into: Tally): Promise<void> {
  const embedded = embedder ? await embedder.embed([query.text], scopeOf(access)) : undefined;
  const dense = embedded?.vectors[0];
  const hits = await index.search({ access, text: query.text, mode, limit: 5, ...(dense ? { dense } : {}) });
  const sources: AnswerSource[] = hits.map((hit) => ({
    documentId: hit.chunk.documentId,
    title: hit.chunk.title,
    sectionPath: hit.chunk.sectionPath,
    source: hit.chunk.source,
    chunkIndexes: [hit.chunk.chunkIndex],
    text: hit.chunk.text,
    tokenCount: hit.chunk.tokenCount,
    score: hit.score,
  }));
  into.questions += 1;
  // Like the pipeline's usage, the query embedding counts as a model call.
  if (embedded) {
    into.modelCalls += 1;
    into.inputTokens += embedded.inputTokens;
  }
  const result: ChatResult = await gateway.chat(
    {
      purpose: 'answer_naive',
      promptVersion: answerPromptVersion,
      messages: buildAnswerMessages(query.text, sources),
      temperature: 0,
      maxOutputTokens: 400,
      cache: { enabled: false },
    },
    scopeOf(access),
  );
  into.modelCalls += 1;
  into.inputTokens += result.usage.inputTokens;
  into.outputTokens += result.usage.outputTokens;
  into.costMicroUsd += result.costMicroUsd;
  into.answered += 1;
  into.contextTokens += sources.reduce((sum, source) => sum + source.tokenCount, 0);
  const judged = qrels.get(query.id);
  if (judged && sources.some((source) => judged.has(sourceIdOf.get(source.documentId) ?? '')))
    into.judgedInContext += 1;
}

// --- relevance-gate curve (no model calls: retrieval only) --------------------------------------------------------
const thresholds = [0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
const bestCoverage = async (question: string, access: AccessScope) => {
  const context = await retrieveUngated({ question, access, callScope: scopeOf(access) });
  return Math.max(
    0,
    ...context.passages.map((passage) =>
      termCoverage(question, `${passage.title}\n${passage.sectionPath.join('\n')}\n${passage.text}`),
    ),
  );
};
const inDomainCoverage: number[] = [];
const offDomainCoverage: number[] = [];
for (const query of queries) {
  inDomainCoverage.push(await bestCoverage(query.text, channelA));
  offDomainCoverage.push(await bestCoverage(query.text, channelB));
}
const share = (list: number[], threshold: number) => list.filter((value) => value >= threshold).length / list.length;
const curve = thresholds.map((threshold) => ({
  coverage: threshold,
  inDomainAnswered: round(share(inDomainCoverage, threshold)),
  offDomainAnswered: round(share(offDomainCoverage, threshold)),
}));

// --- semantic-cache hazard: near-duplicate questions in the dev split -----------------------------------------
// Pairs whose content-term sets overlap ≥ 0.8 (Jaccard, the retrieval-gate analyzer): what a similarity cache would
// treat as "the same question". Printed so a reader can judge each pair; identical texts are what the exact cache
// serves. (Reviewed by hand on the full dev split: 28 of the 30 pairs state opposite claims.)
const pairAnalyzer = new Analyzer({ stopWords: 'stopword-package' });
const termSets = allQueries.map((query) => new Set(pairAnalyzer.analyze(query.text)));
const nearDuplicates: { jaccard: number; left: string; right: string }[] = [];
for (let left = 0; left < allQueries.length; left += 1) {
  for (let right = left + 1; right < allQueries.length; right += 1) {
    const a = termSets[left] as Set<string>;
    const b = termSets[right] as Set<string>;
    let shared = 0;
    for (const term of a) if (b.has(term)) shared += 1;
    const jaccard = shared / (a.size + b.size - shared);
    if (jaccard >= 0.8) {
      nearDuplicates.push({
        jaccard: round(jaccard, 2),
        left: allQueries[left]?.text ?? '',
        right: allQueries[right]?.text ?? '',
      });
    }
  }
}
const identicalPairs = nearDuplicates.filter(
  (pair) => pair.left.trim().toLowerCase() === pair.right.trim().toLowerCase(),
);

// --- the four runs --------------------------------------------------------------------------------------------
const pipelineIn = tally();
const naiveIn = tally();
const pipelineOff = tally();
const naiveOff = tally();
const pipelineRepeat = tally();
const naiveRepeat = tally();
const runStart = performance.now();
for (const query of queries) {
  await runPipeline(query, channelA, pipelineIn);
  await runNaive(query, channelA, naiveIn);
  await runPipeline(query, channelB, pipelineOff);
  await runNaive(query, channelB, naiveOff);
}
const repeated = queries.filter((_, position) => position % Math.max(1, Math.round(1 / (repeatShare || 1))) === 0);
if (repeatShare > 0) {
  for (const query of repeated) {
    await runPipeline(query, channelA, pipelineRepeat);
    await runNaive(query, channelA, naiveRepeat);
  }
}
const runSeconds = (performance.now() - runStart) / 1000;

const pipelineAll = combine(pipelineIn, pipelineOff, pipelineRepeat);
const naiveAll = combine(naiveIn, naiveOff, naiveRepeat);

const figures = {
  mode,
  model: values.model,
  endpoint: fake ? 'FakeOpenAIServer (tiktoken-counted usage)' : baseURL,
  questions: queries.length,
  documents: corpus.length + 1,
  contextBudget: budget,
  gateCoverage: coverageThreshold,
  inDomain: { pipeline: perAnswer(pipelineIn), naive: perAnswer(naiveIn) },
  offDomain: { pipeline: perAnswer(pipelineOff), naive: perAnswer(naiveOff) },
  repeats: { pipeline: perAnswer(pipelineRepeat), naive: perAnswer(naiveRepeat) },
  overall: {
    pipeline: perAnswer(pipelineAll),
    naive: perAnswer(naiveAll),
    modelCallRatio: ratio(pipelineAll.modelCalls, naiveAll.modelCalls),
    inputTokenRatio: ratio(pipelineAll.inputTokens, naiveAll.inputTokens),
  },
  inDomainInputTokenRatio: ratio(pipelineIn.inputTokens, naiveIn.inputTokens),
  gateCurve: curve,
  nearDuplicatePairs: { termJaccardAtLeast0_8: nearDuplicates.length, identicalText: identicalPairs.length },
  ingestSeconds: round(ingestSeconds, 1),
  runSeconds: round(runSeconds, 1),
};

const line = (label: string, t: ReturnType<typeof perAnswer>) =>
  `  ${label.padEnd(22)} ${String(t.modelCallsPerQuestion).padStart(6)} calls/q  ${String(t.inputTokensPerQuestion).padStart(8)} in-tok/q  ${String(t.outputTokensPerQuestion).padStart(6)} out-tok/q  answered ${t.answered}/${t.questions}  judged doc in context ${t.judgedDocumentInContext}`;
console.log(
  `Answer cost on SciFact dev (${queries.length} questions, ${mode}, ${figures.endpoint}; context budget ${budget} tokens, gate coverage ≥ ${coverageThreshold})`,
);
console.log(line('pipeline in-domain', figures.inDomain.pipeline));
console.log(line('naive top-5 in-domain', figures.inDomain.naive));
console.log(line('pipeline off-domain', figures.offDomain.pipeline));
console.log(line('naive top-5 off-domain', figures.offDomain.naive));
console.log(line(`pipeline repeats`, figures.repeats.pipeline));
console.log(line(`naive top-5 repeats`, figures.repeats.naive));
console.log(
  `  overall: pipeline/naive model calls ${figures.overall.modelCallRatio}, input tokens ${figures.overall.inputTokenRatio}; in-domain input tokens ${figures.inDomainInputTokenRatio}`,
);
console.log('  relevance gate (term coverage → share answered in-domain / off-domain):');
for (const point of curve) {
  console.log(
    `    ≥ ${point.coverage.toFixed(2)}  ${point.inDomainAnswered.toFixed(3)} / ${point.offDomainAnswered.toFixed(3)}`,
  );
}
console.log(
  `  near-duplicate question pairs (term Jaccard ≥ 0.8): ${nearDuplicates.length}, identical text: ${identicalPairs.length} — a similarity cache would merge all ${nearDuplicates.length}:`,
);
for (const pair of nearDuplicates) console.log(`    ${pair.jaccard.toFixed(2)}  ${pair.left}  ⇄  ${pair.right}`);
console.log(`  ingest ${figures.ingestSeconds}s, runs ${figures.runSeconds}s`);
console.log(JSON.stringify(figures));

// --- cleanup ----------------------------------------------------------------------------------------------------
let cursor = '0';
do {
  const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
  cursor = next;
  if (keys.length > 0) await redis.del(...keys);
} while (cursor !== '0');
redis.disconnect();
await gateway.flush();
await ledger.close();
await rm(dataDir, { recursive: true, force: true });
await index.close();
await fake?.close();
