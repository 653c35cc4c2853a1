/**
 * THE ingestion pipeline: the CLI, files shared in Slack and the evaluation script all call `ingestDocument`
 * (or `ingestText` for text without a file). Parse → chunk → embed → one `replaceDocument` call: the index is
 * touched only after the whole document parsed, chunked and embedded, so a failure anywhere leaves the previous
 * version searchable and nothing half-indexed.
 */
import { createHash } from 'node:crypto';
import { basename, extname } from 'node:path';
import { DeskhandError } from '../../../errors.ts';
import type { Logger } from '../../../observability/logger.ts';
import type { Embedder } from '../../../ports/embedder.ts';
import type { CallScope } from '../../../ports/language-model.ts';
import type { ChunkRecord, DocumentScope, VectorIndex } from '../../../ports/vector-index.ts';
import { type ChunkingOptions, chunkDocument, type DocumentChunk, defaultChunkingOptions } from './chunker.ts';
import type { EmbeddingCache, EmbeddingCacheKey } from './embedding-cache.ts';
import { blocksText, type ParsedDocument } from './parsers/document-blocks.ts';
import { parseDocument } from './parsers/parse-document.ts';
import { parseMarkdown } from './parsers/parse-markdown.ts';
import { parseText } from './parsers/parse-text.ts';
import {
  checkNotEmpty,
  checkSize,
  checkTextLength,
  defaultIngestionLimits,
  type IngestionLimits,
  rejectionReason,
} from './safety.ts';
import { chunkIdNamespace, documentIdNamespace, uuidV5 } from './uuid-v5.ts';

/** Bump when parsing or chunking changes in a way that should re-chunk unchanged documents. */
const pipelineVersion = 'structure-v1';

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

/** The stable id of the document at `source` in a workspace (UUIDv5), whatever its content or scope. */
export function documentIdFor(workspaceId: string, source: string): string {
  return uuidV5(`${workspaceId}\n${source}`, documentIdNamespace);
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Longest title and heading path kept in the embedded header: a runaway PDF title must not crowd out the text. */
const maxHeaderCharacters = 300;

function clip(text: string, maxCharacters: number): string {
  if (text.length <= maxCharacters) return text;
  const segments = new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text);
  const cut = segments.containing(maxCharacters)?.index ?? maxCharacters;
  return `${text.slice(0, cut).trimEnd()}…`;
}

/** What is embedded for a chunk: where it sits in the document, then its text (a contextual header). */
export function embeddingInput(title: string, sectionPath: string[], text: string): string {
  const location = clip(sectionPath.filter((heading) => heading !== title).join(' > '), maxHeaderCharacters);
  const heading = clip(title, maxHeaderCharacters);
  return location ? `${heading}\n${location}\n\n${text}` : `${heading}\n\n${text}`;
}

/**
 * Parses, chunks, embeds and indexes one file. Guarantees:
 * - a refused file throws a `DeskhandError` with a specific `details.reason` (see `safety.ts`) and a log entry;
 * - re-ingesting an unchanged document (same bytes, title, scope, chunking and embedding model) returns
 *   `unchanged` after one hash and one index lookup: no parsing, no embedding, no write;
 * - a changed document replaces its chunks in one `replaceDocument` call, embedding only chunks whose vectors
 *   are not cached;
 * - any failure before that call leaves the index as it was.
 */
export async function ingestDocument(
  input: IngestDocumentInput,
  dependencies: IngestDocumentDependencies,
): Promise<IngestDocumentResult> {
  const limits = { ...defaultIngestionLimits, ...dependencies.limits };
  return oneAtATime(dependencies.index, input.workspaceId, input.source, () =>
    logOutcome(input.source, dependencies.logger, async () => {
      checkAccess(input);
      checkSize(input.fileName, input.bytes.byteLength, limits);
      const documentHash = inputHash(dependencies, {
        kind: 'file',
        extension: extname(input.fileName).toLowerCase(),
        mimeType: input.mimeType ?? '',
        title: input.title?.trim() ?? '',
        content: createHash('sha256').update(input.bytes).digest('hex'),
      });
      const { exists, unchanged } = await lookUp(input, documentHash, dependencies.index);
      if (unchanged) return unchanged;
      dependencies.onProgress?.({ stage: 'parsing', done: 0, total: 1 });
      const parsed = await parseDocument(
        input.mimeType === undefined
          ? { fileName: input.fileName, bytes: input.bytes }
          : { fileName: input.fileName, bytes: input.bytes, mimeType: input.mimeType },
        limits,
      );
      dependencies.onProgress?.({ stage: 'parsing', done: 1, total: 1 });
      const fallbackTitle = basename(input.fileName, extname(input.fileName)) || input.fileName;
      const title = clip((input.title?.trim() || parsed.title || fallbackTitle).replace(/\s+/g, ' '), 500);
      return ingestParsed(parsed, { ...input, title }, { documentHash, exists }, dependencies, limits);
    }),
  );
}

/** `ingestDocument` for text that has no file (BEIR corpora, Slack messages): same chunking, caching, indexing. */
export async function ingestText(
  input: IngestTextInput,
  dependencies: IngestDocumentDependencies,
): Promise<IngestDocumentResult> {
  const limits = { ...defaultIngestionLimits, ...dependencies.limits };
  return oneAtATime(dependencies.index, input.workspaceId, input.source, () =>
    logOutcome(input.source, dependencies.logger, async () => {
      checkAccess(input);
      const documentHash = inputHash(dependencies, {
        kind: 'text',
        format: input.format ?? 'text',
        title: input.title.trim(),
        content: sha256(input.text),
      });
      const { exists, unchanged } = await lookUp(input, documentHash, dependencies.index);
      if (unchanged) return unchanged;
      const parsed = input.format === 'markdown' ? parseMarkdown(input.text) : parseText(input.text);
      const title = clip((input.title.trim() || parsed.title || input.source).replace(/\s+/g, ' '), 500);
      return ingestParsed(
        parsed,
        { ...input, fileName: input.source, title },
        { documentHash, exists },
        dependencies,
        limits,
      );
    }),
  );
}

/**
 * Refuses a workspace id or scope that could widen who sees the document (an empty channel, a malformed scope)
 * before anything is read or written.
 */
function checkAccess(input: { workspaceId: string; scope: string; source: string }): void {
  const problems: string[] = [];
  if (!/^[A-Za-z0-9_-]+$/.test(input.workspaceId))
    problems.push(`workspace id "${input.workspaceId}" is not a Slack id`);
  if (input.scope !== 'workspace' && !/^channel:[A-Za-z0-9_-]+$/.test(input.scope)) {
    problems.push(`scope "${input.scope}" is neither "workspace" nor "channel:<channel id>"`);
  }
  if (input.source.trim() === '') problems.push('source is empty');
  if (problems.length > 0) {
    throw new DeskhandError('invalid_input', `Cannot ingest: ${problems.join('; ')}`, {
      userMessage: 'I could not tell who may see this document, so I did not index it.',
      details: { problems },
    });
  }
}

/**
 * The document hash: the input exactly as given plus everything else that shapes its chunks (title override,
 * chunking settings, chunker and parser versions, embedding model). Hashing the input rather than the parsed
 * text lets an unchanged re-ingestion stop before parsing — it costs one hash and one index lookup.
 */
function inputHash(dependencies: IngestDocumentDependencies, input: Record<string, string>): string {
  const { embedder } = dependencies;
  return sha256(
    JSON.stringify({
      pipelineVersion,
      chunking: { ...defaultChunkingOptions, ...dependencies.chunking },
      embedding: embedder ? `${embedder.model}:${embedder.dimensions}` : 'sparse-only',
      input,
    }),
  );
}

/** Whether the document is indexed, and the `unchanged` outcome when it holds this exact input and scope. */
async function lookUp(
  input: { workspaceId: string; source: string; scope: DocumentScope },
  documentHash: string,
  index: VectorIndex,
): Promise<{ exists: boolean; unchanged?: IngestDocumentResult }> {
  const documentId = documentIdFor(input.workspaceId, input.source);
  const existing = await index.getDocument(input.workspaceId, documentId);
  if (!existing) return { exists: false };
  if (existing.documentHash !== documentHash || existing.scope !== input.scope) return { exists: true };
  return {
    exists: true,
    unchanged: { kind: 'unchanged', documentId, chunkCount: existing.chunkCount, embeddedChunks: 0, cachedChunks: 0 },
  };
}

/** Removes the document at `source` from the workspace's index. */
export async function removeDocument(
  input: { workspaceId: string; source: string },
  dependencies: { index: VectorIndex; logger?: Logger },
): Promise<RemoveDocumentResult> {
  checkAccess({ ...input, scope: 'workspace' });
  const documentId = documentIdFor(input.workspaceId, input.source);
  const removed = await oneAtATime(dependencies.index, input.workspaceId, input.source, () =>
    dependencies.index.deleteDocument(input.workspaceId, documentId),
  );
  dependencies.logger?.info(
    { workspaceId: input.workspaceId, documentId, source: input.source, removed },
    removed ? 'document removed' : 'document to remove was not indexed',
  );
  return { kind: removed ? 'removed' : 'not_found', documentId };
}

const pendingByIndex = new WeakMap<VectorIndex, Map<string, Promise<unknown>>>();

/**
 * Runs changes to one document one at a time, in call order, within this process: without it, a file shared
 * twice in quick succession could finish out of order and leave the older version indexed.
 */
async function oneAtATime<T>(
  index: VectorIndex,
  workspaceId: string,
  source: string,
  run: () => Promise<T>,
): Promise<T> {
  let pending = pendingByIndex.get(index);
  if (!pending) {
    pending = new Map();
    pendingByIndex.set(index, pending);
  }
  const key = `${workspaceId}\n${source}`;
  const previous = pending.get(key) ?? Promise.resolve();
  const current = previous.catch(() => undefined).then(run);
  const settled = current.catch(() => undefined);
  pending.set(key, settled);
  try {
    return await current;
  } finally {
    if (pending.get(key) === settled) pending.delete(key);
  }
}

async function logOutcome(
  source: string,
  logger: Logger | undefined,
  run: () => Promise<IngestDocumentResult>,
): Promise<IngestDocumentResult> {
  try {
    const result = await run();
    logger?.info({ source, ...result }, `document ${result.kind}`);
    return result;
  } catch (error) {
    const reason = rejectionReason(error);
    if (reason) logger?.warn({ source, reason, err: error }, 'document rejected');
    else logger?.error({ source, err: error }, 'document ingestion failed');
    throw error;
  }
}

interface DocumentMetadata {
  workspaceId: string;
  scope: DocumentScope;
  source: string;
  fileName: string;
  title: string;
}

async function ingestParsed(
  parsed: ParsedDocument,
  metadata: DocumentMetadata,
  { documentHash, exists }: { documentHash: string; exists: boolean },
  dependencies: IngestDocumentDependencies,
  limits: IngestionLimits,
): Promise<IngestDocumentResult> {
  const { index, embedder } = dependencies;
  const text = blocksText(parsed.blocks);
  checkNotEmpty(metadata.fileName, text);
  checkTextLength(metadata.fileName, text, limits);

  const chunking = { ...defaultChunkingOptions, ...dependencies.chunking };
  dependencies.onProgress?.({ stage: 'chunking', done: 0, total: 1 });
  const chunks = chunkDocument(parsed.blocks, chunking);
  dependencies.onProgress?.({ stage: 'chunking', done: 1, total: 1 });
  checkNotEmpty(metadata.fileName, chunks.map((chunk) => chunk.text).join(''));

  const documentId = documentIdFor(metadata.workspaceId, metadata.source);
  const vectors = embedder
    ? await embedChunks(chunks, metadata, embedder, dependencies)
    : { vectors: undefined, embeddedChunks: 0, cachedChunks: 0 };

  const ingestedAt = (dependencies.now?.() ?? new Date()).toISOString();
  const records = chunks.map((chunk, chunkIndex): ChunkRecord => {
    const record: ChunkRecord = {
      id: uuidV5(`${documentId}:${documentHash}:${chunkIndex}`, chunkIdNamespace),
      documentId,
      workspaceId: metadata.workspaceId,
      scope: metadata.scope,
      title: metadata.title,
      sectionPath: chunk.sectionPath,
      source: metadata.source,
      chunkIndex,
      contentHash: sha256(chunk.text),
      documentHash,
      ingestedAt,
      text: chunk.text,
      tokenCount: chunk.tokenCount,
    };
    if (chunk.page !== undefined) record.page = chunk.page;
    if (chunk.overlapPrefixChars > 0) record.overlapPrefixChars = chunk.overlapPrefixChars;
    const dense = vectors.vectors?.[chunkIndex];
    if (dense) record.dense = dense;
    return record;
  });

  dependencies.onProgress?.({ stage: 'indexing', done: 0, total: 1 });
  await index.replaceDocument(metadata.workspaceId, documentId, records);
  dependencies.onProgress?.({ stage: 'indexing', done: 1, total: 1 });
  return {
    kind: exists ? 'replaced' : 'indexed',
    documentId,
    chunkCount: records.length,
    embeddedChunks: vectors.embeddedChunks,
    cachedChunks: vectors.cachedChunks,
  };
}

async function embedChunks(
  chunks: DocumentChunk[],
  metadata: DocumentMetadata,
  embedder: Embedder,
  dependencies: IngestDocumentDependencies,
): Promise<{ vectors: Float32Array[]; embeddedChunks: number; cachedChunks: number }> {
  const { embeddingCache, logger } = dependencies;
  const inputs = chunks.map((chunk) => embeddingInput(metadata.title, chunk.sectionPath, chunk.text));
  const keys: EmbeddingCacheKey[] = inputs.map((input) => ({
    model: embedder.model,
    dimensions: embedder.dimensions,
    workspaceId: metadata.workspaceId,
    textHash: sha256(input),
  }));
  let cached: (Float32Array | undefined)[] = [];
  if (embeddingCache) {
    try {
      cached = await embeddingCache.getMany(keys);
    } catch (error) {
      // A cache outage costs money, not correctness: embed everything.
      logger?.warn({ err: error, source: metadata.source }, 'embedding cache unavailable; embedding every chunk');
    }
  }
  const vectors: (Float32Array | undefined)[] = chunks.map((_, index) => cached[index]);
  // Identical chunk texts in one document are embedded once.
  const missingByHash = new Map<string, number[]>();
  keys.forEach((key, index) => {
    if (vectors[index]) return;
    const indexes = missingByHash.get(key.textHash) ?? [];
    indexes.push(index);
    missingByHash.set(key.textHash, indexes);
  });
  const missing = [...missingByHash.values()];
  const batchSize = Math.max(1, Math.min(dependencies.embeddingBatchSize ?? 128, 2048));
  let embeddedChunks = 0;
  dependencies.onProgress?.({ stage: 'embedding', done: 0, total: missing.length });
  for (let start = 0; start < missing.length; start += batchSize) {
    const batch = missing.slice(start, start + batchSize);
    const texts = batch.map((indexes) => inputs[indexes[0] ?? 0] ?? '');
    const embedded = await embedder.embed(texts, dependencies.callScope);
    if (embedded.length !== texts.length || embedded.some((vector) => vector.length !== embedder.dimensions)) {
      throw new DeskhandError(
        'upstream_invalid_response',
        `Embedder returned ${embedded.length} vectors for ${texts.length} texts (expected ${embedder.dimensions} dimensions each)`,
        { userMessage: 'The embedding model returned something I could not use, so the document was not indexed.' },
      );
    }
    const entries: { key: EmbeddingCacheKey; vector: Float32Array }[] = [];
    batch.forEach((indexes, position) => {
      const vector = embedded[position] as Float32Array;
      for (const index of indexes) vectors[index] = vector;
      embeddedChunks += indexes.length;
      const key = keys[indexes[0] ?? 0];
      if (key) entries.push({ key, vector });
    });
    if (embeddingCache) {
      // Cached per batch: if a later batch fails, a retry does not pay for this one again.
      await embeddingCache.setMany(entries).catch((error: unknown) => {
        logger?.warn({ err: error, source: metadata.source }, 'could not write embeddings to the cache');
      });
    }
    dependencies.onProgress?.({
      stage: 'embedding',
      done: Math.min(missing.length, start + batch.length),
      total: missing.length,
    });
  }
  const complete = vectors.filter((vector): vector is Float32Array => vector !== undefined);
  if (complete.length !== chunks.length) {
    throw new DeskhandError('internal', `${chunks.length - complete.length} chunks were left without a vector`);
  }
  return {
    vectors: complete,
    embeddedChunks,
    cachedChunks: chunks.length - embeddedChunks,
  };
}
