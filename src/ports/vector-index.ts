/**
 * The port for the document index. Two adapters implement it (`QdrantVectorIndex`, `EmbeddedVectorIndex`)
 * and one contract suite (`test/contract/vector-index.contract.ts`) runs against both.
 *
 * Access scope is part of every query and is enforced inside the adapter: a query from channel C of
 * workspace W sees W's workspace-scoped chunks and C's channel-scoped chunks, nothing else — and only C's when
 * the scope is `channelOnly`. A query without
 * an access scope fails closed (throws), it never means "everything".
 */

/** Where a document is visible: the whole workspace, or one channel. Stored as 'workspace' or 'channel:C…'. */
export type DocumentScope = 'workspace' | `channel:${string}`;

/** Who is asking: the tenant and the channel the question comes from. */
export interface AccessScope {
  workspaceId: string;
  channelId: string;
  /**
   * True: only the channel's own documents, no workspace-wide ones (an externally shared channel whose admins
   * did not allow them). Applied inside the adapter's filter, never by dropping hits afterwards.
   */
  channelOnly?: boolean;
}

export interface ChunkPayload {
  /** Stable document id (e.g. a hash of workspace + source). */
  documentId: string;
  workspaceId: string;
  scope: DocumentScope;
  title: string;
  /** Heading path, outermost first. */
  sectionPath: string[];
  page?: number;
  /** File path, URL or Slack permalink the document came from. */
  source: string;
  /** Position of the chunk in its document (0-based); adjacent chunks have consecutive indexes. */
  chunkIndex: number;
  /** sha256 of the chunk text (embedding cache key). */
  contentHash: string;
  /**
   * sha256 of the document as ingested (its bytes or text) and the settings that shape its chunks (title override,
   * chunking, embedding model); changes when the document or any of those changes, so equal hash = nothing to redo.
   */
  documentHash: string;
  /** ISO 8601. */
  ingestedAt: string;
  text: string;
  tokenCount: number;
  /** Characters of this chunk that repeat the end of the previous one (overlap), so packing can drop them. */
  overlapPrefixChars?: number;
}

export interface ChunkRecord extends ChunkPayload {
  /** Deterministic UUID (v5 of documentId, documentHash and chunkIndex). */
  id: string;
  /** Dense embedding; absent when the index is used in sparse-only mode. */
  dense?: Float32Array;
}

export type RetrievalMode = 'hybrid' | 'dense' | 'sparse';

export interface SearchRequest {
  access: AccessScope;
  /** Query text; analysed for the sparse (BM25) side. */
  text: string;
  /** Query embedding, required for dense and hybrid. */
  dense?: Float32Array;
  mode: RetrievalMode;
  /** Candidates to return (after fusion in hybrid mode). */
  limit: number;
}

export interface SearchHit {
  chunk: ChunkRecord;
  /** Fused score in hybrid mode, cosine in dense, BM25 in sparse. Higher is better. */
  score: number;
  denseScore?: number;
  sparseScore?: number;
}

export interface DocumentSummary {
  documentId: string;
  workspaceId: string;
  scope: DocumentScope;
  title: string;
  source: string;
  documentHash: string;
  chunkCount: number;
  ingestedAt: string;
}

export interface VectorIndex {
  /** Creates collections, payload indexes or files as needed; idempotent. */
  ensureReady(): Promise<void>;
  /** Cheap reachability check for /readyz. */
  ping(): Promise<boolean>;
  /**
   * Makes `chunks` the document's only chunks. Searches running concurrently see either the old chunks or the
   * new ones, never both and never neither. All chunks must share documentId, workspaceId and scope.
   */
  replaceDocument(workspaceId: string, documentId: string, chunks: ChunkRecord[]): Promise<void>;
  /** Removes a document's chunks; returns whether anything was removed. */
  deleteDocument(workspaceId: string, documentId: string): Promise<boolean>;
  /**
   * Removes every document of a workspace, whatever its scope (the workspace uninstalled the app); returns the
   * ids of the documents removed. Other workspaces' documents are untouched.
   */
  deleteWorkspace(workspaceId: string): Promise<string[]>;
  /** The document as indexed now, if any (used to skip unchanged re-ingestion). */
  getDocument(workspaceId: string, documentId: string): Promise<DocumentSummary | undefined>;
  /** Documents visible from an access scope. */
  listDocuments(access: AccessScope): Promise<DocumentSummary[]>;
  /** Candidates for a query, filtered by access scope inside the adapter. */
  search(request: SearchRequest): Promise<SearchHit[]>;
  /** Chunks of one document by index range (for merging adjacent chunks when packing context). */
  getChunks(access: AccessScope, documentId: string, chunkIndexes: number[]): Promise<ChunkRecord[]>;
  /** Monotonic per-workspace version, bumped by every change; answer caches key on it. */
  indexVersion(workspaceId: string): Promise<number>;
  close(): Promise<void>;
}
