/**
 * `ingestParsed`: the second half of the pipeline, from a parsed document to the index — check, chunk, embed, write.
 *
 * Guarantees:
 * - A document with no text, or too much, is refused (`safety.ts`) before anything is embedded.
 * - The index is touched once, by one `replaceDocument` call, after every chunk has its record (and its vector when
 *   there is an embedder): a failure before that call leaves the index as it was.
 * - Chunk ids are UUIDv5 of (document id, document hash, chunk index), so a changed document gets new ids.
 */
import type { ChunkRecord } from '../../../ports/vector-index.ts';
import { chunkDocument, defaultChunkingOptions } from './chunker.ts';
import { documentIdFor, sha256 } from './document-id.ts';
import { embedChunks } from './embed-chunks.ts';
import type { DocumentMetadata, IngestDocumentDependencies, IngestDocumentResult } from './ingestion-types.ts';
import { blocksText, type ParsedDocument } from './parsers/document-blocks.ts';
import { checkNotEmpty, checkTextLength, type IngestionLimits } from './safety.ts';
import { chunkIdNamespace, uuidV5 } from './uuid-v5.ts';

export async function ingestParsed(
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
