/**
 * The ingestion pipeline's value types: what `ingestDocument`, `ingestText` and `removeDocument` take and return,
 * the progress they report and the dependencies they are given.
 *
 * Guarantees: types only, no behaviour.
 */
import type { Logger } from '../../../observability/logger.ts';
import type { Embedder } from '../../../ports/embedder.ts';
import type { CallScope } from '../../../ports/language-model.ts';
import type { DocumentScope, VectorIndex } from '../../../ports/vector-index.ts';
import type { ChunkingOptions } from './chunker.ts';
import type { EmbeddingCache } from './embedding-cache.ts';
import type { ParsedDocument } from './parsers/document-blocks.ts';
import type { DocumentFile } from './parsers/parse-document.ts';
import type { IngestionLimits } from './safety.ts';

export interface IngestDocumentInput {
  workspaceId: string;
  scope: DocumentScope;
  /** File path, URL or Slack permalink; with the workspace it identifies the document. */
  source: string;
  fileName: string;
  /** Overrides the title found in the document (front matter, first heading, <title>, PDF info, file name). */
  title?: string;
  /** A hint only: the format is detected from the bytes and the file name. */
  mimeType?: string;
  bytes: Uint8Array;
}

export interface IngestTextInput {
  workspaceId: string;
  scope: DocumentScope;
  source: string;
  title: string;
  text: string;
  /** Default 'text': paragraphs separated by blank lines. */
  format?: 'text' | 'markdown';
}

export type IngestionStage = 'parsing' | 'chunking' | 'embedding' | 'indexing';

export interface IngestionProgress {
  stage: IngestionStage;
  done: number;
  total: number;
}

export interface IngestDocumentDependencies {
  index: VectorIndex;
  /** Absent: sparse-only chunks (no dense vectors, no model calls). */
  embedder?: Embedder;
  embeddingCache?: EmbeddingCache;
  /** Budgets and logs of the embedding calls are scoped by this. */
  callScope: CallScope;
  now?: () => Date;
  logger?: Logger;
  limits?: Partial<IngestionLimits>;
  chunking?: Partial<ChunkingOptions>;
  /** Texts per embedding request (default 128; the API allows 2,048 inputs and 300,000 tokens per request). */
  embeddingBatchSize?: number;
  onProgress?: (progress: IngestionProgress) => void;
  /**
   * Where a file is parsed. Default: `parseInWorker` (a bounded worker thread, at most 2 per process);
   * `parseDocument` parses in the calling thread with the same budgets but no memory or wall-clock limit.
   */
  parse?: (file: DocumentFile, limits: IngestionLimits) => Promise<ParsedDocument>;
}

export interface IngestDocumentResult {
  kind: 'unchanged' | 'indexed' | 'replaced';
  documentId: string;
  chunkCount: number;
  /** Chunks whose vectors came from the embedder in this run. */
  embeddedChunks: number;
  /** Chunks whose vectors came from the embedding cache. */
  cachedChunks: number;
}

export interface RemoveDocumentResult {
  kind: 'removed' | 'not_found';
  documentId: string;
}

/** What the pipeline knows about a document once its title is settled: who may see it and where it came from. */
export interface DocumentMetadata {
  workspaceId: string;
  scope: DocumentScope;
  source: string;
  fileName: string;
  title: string;
}
