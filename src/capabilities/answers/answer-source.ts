/**
 * The shapes the answers capability works with, independent of how retrieval produced them. The retrieval
 * pipeline's output is adapted to these in `retrieval-adapter.ts`, so the answering code does not change when
 * the pipeline does.
 */

import type { CallScope } from '../../ports/language-model.ts';
import type { AccessScope } from '../../ports/vector-index.ts';

/**
 * One passage placed in the prompt as source `[n]`: text from one section of one document (adjacent chunks
 * merged). `text` is untrusted document content; the metadata (`title`, `sectionPath`, `source`) was written
 * by our own ingestion and is the only thing links in Slack are ever built from.
 */
export interface AnswerSource {
  documentId: string;
  title: string;
  /** Heading path, outermost first. */
  sectionPath: string[];
  page?: number;
  /** URL, Slack permalink or file path the document came from. */
  source: string;
  /** Indexes of the document's chunks merged into this passage, ascending: with `documentId`, the cited chunks. */
  chunkIndexes: number[];
  text: string;
  tokenCount: number;
  /** Relevance score from retrieval; higher is better. */
  score: number;
}

/** A document that was close to the question but did not pass the relevance cutoff. */
export interface ClosestDocument {
  documentId: string;
  title: string;
  source: string;
  score: number;
}

/** What retrieval hands the answering step. */
export interface RetrievedContext {
  /** Passages that passed the relevance cutoff, best first, packed within the context budget. */
  passages: AnswerSource[];
  /** The nearest documents, listed when no passage passed the cutoff. */
  closest: ClosestDocument[];
  /** The workspace's index version the passages were read at (the answer cache keys on it). */
  indexVersion: number;
  /** Model usage spent by retrieval itself (query embedding, re-ranker). */
  usage?: { modelCalls: number; inputTokens: number; costMicroUsd: number };
}

export interface RetrieveRequest {
  question: string;
  access: AccessScope;
  callScope: CallScope;
  /** Sparse (BM25) only: no embedding call. Used to still find passages when the budget refuses model calls. */
  sparseOnly?: boolean;
}

/** Retrieval as the answers capability sees it. Must filter by `access` and fail closed without one. */
export type Retriever = (request: RetrieveRequest) => Promise<RetrievedContext>;
