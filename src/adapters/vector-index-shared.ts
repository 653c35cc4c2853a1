/**
 * Rules both `VectorIndex` adapters enforce identically: access scopes fail closed, a document's chunks are
 * consistent, and hybrid searches fetch the same number of candidates per side before fusion.
 */
import { createHash } from 'node:crypto';
import { DeskhandError } from '../errors.ts';
import type { AccessScope, ChunkRecord, DocumentSummary } from '../ports/vector-index.ts';

/**
 * Throws unless `access` names a workspace and a channel (and `channelOnly`, when present, is a boolean). A
 * missing scope never means "everything": it is a bug in the caller, and failing closed keeps private channel
 * documents private.
 */
export function assertAccessScope(access: AccessScope | undefined): asserts access is AccessScope {
  if (
    !access ||
    typeof access.workspaceId !== 'string' ||
    access.workspaceId.length === 0 ||
    typeof access.channelId !== 'string' ||
    access.channelId.length === 0 ||
    (access.channelOnly !== undefined && typeof access.channelOnly !== 'boolean')
  ) {
    throw new DeskhandError('not_authorised', 'A vector index query without an access scope was refused', {
      userMessage: 'I cannot search documents without knowing which channel is asking.',
    });
  }
}

/** True when a document of `scope` is visible from `access` (the same rule as `accessConditions`). */
export function isVisibleFrom(access: AccessScope, scope: string): boolean {
  if (scope === `channel:${access.channelId}`) return true;
  return scope === 'workspace' && access.channelOnly !== true;
}

const scopePattern = /^(workspace|channel:[A-Za-z0-9_-]+)$/;

/** Throws `invalid_input` unless every chunk belongs to this document, shares one scope and hash, and is valid. */
export function validateDocumentChunks(workspaceId: string, documentId: string, chunks: readonly ChunkRecord[]): void {
  if (!workspaceId || !documentId) {
    throw new DeskhandError('invalid_input', 'replaceDocument needs a workspace id and a document id');
  }
  const first = chunks[0];
  const indexes = new Set<number>();
  for (const chunk of chunks) {
    const problem =
      chunk.workspaceId !== workspaceId
        ? `belongs to workspace ${chunk.workspaceId}`
        : chunk.documentId !== documentId
          ? `belongs to document ${chunk.documentId}`
          : !scopePattern.test(chunk.scope)
            ? `has an invalid scope "${chunk.scope}"`
            : first && chunk.scope !== first.scope
              ? `has scope ${chunk.scope} but the document's first chunk has ${first.scope}`
              : first && chunk.documentHash !== first.documentHash
                ? 'has a different documentHash from the first chunk'
                : !Number.isInteger(chunk.chunkIndex) || chunk.chunkIndex < 0
                  ? `has an invalid chunkIndex ${chunk.chunkIndex}`
                  : indexes.has(chunk.chunkIndex)
                    ? `repeats chunkIndex ${chunk.chunkIndex}`
                    : chunk.dense && !chunk.dense.every(Number.isFinite)
                      ? 'has a dense vector with non-finite values'
                      : undefined;
    if (problem) {
      throw new DeskhandError('invalid_input', `Chunk ${chunk.id} of document ${documentId} ${problem}`, {
        details: { workspaceId, documentId, chunkId: chunk.id },
      });
    }
    indexes.add(chunk.chunkIndex);
  }
}

/** The document summary of a non-empty, validated chunk list. */
export function summariseDocument(chunks: readonly ChunkRecord[]): DocumentSummary {
  const first = chunks[0];
  if (!first) throw new DeskhandError('internal', 'Cannot summarise a document without chunks');
  return {
    documentId: first.documentId,
    workspaceId: first.workspaceId,
    scope: first.scope,
    title: first.title,
    source: first.source,
    documentHash: first.documentHash,
    chunkCount: chunks.length,
    ingestedAt:
      chunks
        .map((chunk) => chunk.ingestedAt)
        .sort()
        .at(-1) ?? first.ingestedAt,
  };
}

/** Candidates fetched per side (dense, sparse) before RRF in hybrid mode; the same in both adapters. */
export function prefetchLimit(limit: number): number {
  return Math.max(limit * 2, 50);
}

/**
 * RFC 4122 version-5 UUID (SHA-1, name-based) of `name` in `namespace`. Deterministic, so re-ingesting a
 * chunk writes the same point id. Hand-written (15 lines) rather than adding the `uuid` package for one call.
 */
export function uuidV5(name: string, namespace: string): string {
  const namespaceBytes = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (namespaceBytes.length !== 16) throw new RangeError(`Invalid UUID namespace ${namespace}`);
  const hash = createHash('sha1').update(namespaceBytes).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Namespace for Deskhand point ids (a fixed random UUID). */
export const deskhandUuidNamespace = '6f1c1b4e-3c0a-4a53-9d0e-5b7f2a9c8e41';
