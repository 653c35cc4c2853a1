/**
 * The thin adapter between the retrieval pipeline (`documents/retrieval/retrieve.ts`) and answering. It adds
 * the one thing answering needs that the pipeline does not decide: an *absolute* relevance gate. The
 * pipeline's cutoff is relative to the best hit, so it never empties a non-empty candidate list — yet BM25
 * returns candidates for any question sharing one word with any document. Without a gate every off-topic
 * question would cost a chat call that can only say "the documents do not answer this".
 *
 * The gate passes when the best passage is lexically or semantically close enough to the question:
 * - term coverage: the share of the question's content terms (stemmed; stop words from the `stopword`
 *   package's larger English list, so "what", "does", "have" do not count) that occur in the best passage;
 * - or, when the index has dense vectors, the best candidate's cosine similarity.
 * The coverage threshold is measured by `npm run eval:answers`: at 0.4, 99.4 % of the SciFact dev questions are
 * still answered from the SciFact corpus while only 1.2 % of the same questions asked in a channel whose only
 * document is an unrelated manual get past the gate (0.3: 99.8 % / 6.3 %; 0.5: 96.6 % / 0.2 %). The dense
 * threshold is a reasoned default, not a measured one (no embedding provider is reachable here): cosine
 * similarities of text-embedding-3 models for unrelated texts sit well below 0.45.
 */

import type { Embedder } from '../../ports/embedder.ts';
import type { CallScope } from '../../ports/language-model.ts';
import type { SearchHit } from '../../ports/vector-index.ts';
import { Analyzer } from '../../search/analyzer.ts';
import {
  type RetrievalDependencies,
  type RetrievalSettings,
  retrieve as runRetrievalPipeline,
} from '../documents/retrieval/retrieve.ts';
import type { AnswerSource, ClosestDocument, RetrievedContext, Retriever } from './answer-source.ts';

export interface RelevanceGate {
  /** Minimum share (0–1) of the question's content terms found in the best passage. */
  minimumTermCoverage: number;
  /** Minimum cosine of the best candidate, when dense scores exist; above it the gate passes regardless. */
  minimumDenseScore: number;
}

/** Coverage measured on the SciFact dev split; the dense threshold reasoned (see the module comment). */
export const defaultRelevanceGate: RelevanceGate = { minimumTermCoverage: 0.4, minimumDenseScore: 0.45 };

const gateAnalyzer = new Analyzer({ stopWords: 'stopword-package' });

/** Share of the distinct content terms of `question` that occur in `text` (0 when the question has none). */
export function termCoverage(question: string, text: string): number {
  const questionTerms = new Set(gateAnalyzer.analyze(question));
  if (questionTerms.size === 0) return 0;
  const textTerms = new Set(gateAnalyzer.analyze(text));
  let found = 0;
  for (const term of questionTerms) if (textTerms.has(term)) found += 1;
  return found / questionTerms.size;
}

/** What the gate compares with the question: the passage with its title and section headings. */
function passageText(passage: AnswerSource): string {
  return `${passage.title}\n${passage.sectionPath.join('\n')}\n${passage.text}`;
}

/** Distinct documents of the candidates in rank order, for the "closest documents" list. */
export function closestDocuments(candidates: readonly SearchHit[], limit: number): ClosestDocument[] {
  const seen = new Set<string>();
  const documents: ClosestDocument[] = [];
  for (const hit of candidates) {
    if (seen.has(hit.chunk.documentId)) continue;
    seen.add(hit.chunk.documentId);
    documents.push({
      documentId: hit.chunk.documentId,
      title: hit.chunk.title,
      source: hit.chunk.source,
      score: hit.score,
    });
    if (documents.length >= limit) break;
  }
  return documents;
}

/** Retrieval's own model usage: its embedding calls with the tokens the embedder reported. */
interface RetrievalUsage {
  modelCalls: number;
  inputTokens: number;
  /**
   * Stays 0: an answer's shown cost is its chat calls (a cached answer shows $0.00). The query embedding's cost
   * (about 1 µ$) is charged to the channel's budget by the gateway all the same.
   */
  costMicroUsd: number;
}

/**
 * Adds each embedding call and its input tokens, as the embedder returned them, to `usage` (so an answer's usage
 * includes its query embedding without counting the query again).
 */
function measuredEmbedder(embedder: Embedder, usage: RetrievalUsage): Embedder {
  return {
    model: embedder.model,
    dimensions: embedder.dimensions,
    async embed(texts: string[], scope: CallScope) {
      const embedded = await embedder.embed(texts, scope);
      usage.modelCalls += 1;
      usage.inputTokens += embedded.inputTokens;
      return embedded;
    },
  };
}

export interface RetrieverOptions {
  gate?: RelevanceGate;
  /** Documents listed when nothing passes (default 5). */
  closestLimit?: number;
}

/**
 * A `Retriever` over the retrieval pipeline: access-scoped (the pipeline fails closed without a scope),
 * relative cutoff and packing from the pipeline, then the absolute gate above. `sparseOnly` runs the pipeline
 * in sparse mode without the re-ranker: no model call at all.
 */
export function createRetriever(
  dependencies: RetrievalDependencies,
  settings: RetrievalSettings,
  options: RetrieverOptions = {},
): Retriever {
  const gate = options.gate ?? defaultRelevanceGate;
  const closestLimit = options.closestLimit ?? 5;
  return async (request): Promise<RetrievedContext> => {
    const usage: RetrievalUsage = { modelCalls: 0, inputTokens: 0, costMicroUsd: 0 };
    const sparseOnly = request.sparseOnly === true || settings.mode === 'sparse';
    const outcome = await runRetrievalPipeline(
      {
        ...dependencies,
        ...(dependencies.embedder && !sparseOnly ? { embedder: measuredEmbedder(dependencies.embedder, usage) } : {}),
      },
      { access: request.access, query: request.question, callScope: request.callScope },
      sparseOnly ? { ...settings, mode: 'sparse', rerankerEnabled: false } : settings,
    );
    const closest = closestDocuments(outcome.candidates, closestLimit);
    if (outcome.kind === 'no_sources') return { passages: [], closest, indexVersion: outcome.indexVersion, usage };
    const passages: AnswerSource[] = outcome.context.passages.map((passage) => ({
      documentId: passage.documentId,
      title: passage.title,
      sectionPath: passage.sectionPath,
      ...(passage.page !== undefined ? { page: passage.page } : {}),
      source: passage.source,
      chunkIndexes: passage.chunkIndexes,
      text: passage.text,
      tokenCount: passage.tokenCount,
      score: passage.score,
    }));
    const best = passages[0];
    const bestDense = Math.max(...outcome.candidates.map((hit) => hit.denseScore ?? Number.NEGATIVE_INFINITY));
    const passes =
      best !== undefined &&
      (bestDense >= gate.minimumDenseScore ||
        passages.some((passage) => termCoverage(request.question, passageText(passage)) >= gate.minimumTermCoverage));
    if (!passes) return { passages: [], closest, indexVersion: outcome.indexVersion, usage };
    return { passages, closest, indexVersion: outcome.indexVersion, usage };
  };
}
