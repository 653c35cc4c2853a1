/**
 * `inputHash`: the document hash, and `lookUp`, which tells an unchanged re-ingestion from a new or changed one.
 *
 * Guarantees:
 * - The hash covers the input exactly as given plus everything else that shapes its chunks (title override,
 *   chunking settings, pipeline version, embedding model), so any change to one of them re-ingests the document.
 * - An unchanged document (same hash, same scope) is recognised with one index lookup, before any parsing.
 */
import type { DocumentScope, VectorIndex } from '../../../ports/vector-index.ts';
import { defaultChunkingOptions } from './chunker.ts';
import { documentIdFor, sha256 } from './document-id.ts';
import type { IngestDocumentDependencies, IngestDocumentResult } from './ingestion-types.ts';

/** Bump when parsing or chunking changes in a way that should re-chunk unchanged documents. */
const pipelineVersion = 'structure-v1';

/**
 * The document hash: the input exactly as given plus everything else that shapes its chunks (title override,
 * chunking settings, chunker and parser versions, embedding model). Hashing the input rather than the parsed
 * text lets an unchanged re-ingestion stop before parsing — it costs one hash and one index lookup.
 */
export function inputHash(dependencies: IngestDocumentDependencies, input: Record<string, string>): string {
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
export async function lookUp(
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
