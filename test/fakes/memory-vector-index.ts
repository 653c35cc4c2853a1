/**
 * An in-memory `VectorIndex` test double for pipeline tests. It keeps the port's promises that ingestion relies
 * on (atomic replace, per-workspace version, access filtering that fails closed) and records every call, so a
 * test can assert that the index was or was not touched. Scores are deliberately simple (term overlap, cosine,
 * reciprocal-rank fusion): retrieval quality is tested against the real adapters, not here.
 */
import { cosine } from '../../src/capabilities/documents/retrieval/mmr.ts';
import type {
  AccessScope,
  ChunkRecord,
  DocumentSummary,
  SearchHit,
  SearchRequest,
  VectorIndex,
} from '../../src/ports/vector-index.ts';

export type MemoryVectorIndexCall =
  | { method: 'replaceDocument'; workspaceId: string; documentId: string; chunkCount: number }
  | { method: 'deleteDocument'; workspaceId: string; documentId: string }
  | { method: 'getDocument'; workspaceId: string; documentId: string }
  | { method: 'search' | 'listDocuments' | 'getChunks' | 'deleteWorkspace'; workspaceId: string };

const copyChunk = (chunk: ChunkRecord): ChunkRecord => ({
  ...chunk,
  sectionPath: [...chunk.sectionPath],
  ...(chunk.dense ? { dense: new Float32Array(chunk.dense) } : {}),
});

function requireAccess(access: AccessScope | undefined): AccessScope {
  if (!access?.workspaceId || !access.channelId) throw new Error('search without an access scope');
  return access;
}

const visible = (chunk: ChunkRecord, access: AccessScope) =>
  chunk.workspaceId === access.workspaceId &&
  (chunk.scope === 'workspace' || chunk.scope === `channel:${access.channelId}`);

const terms = (text: string) => new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);

export class MemoryVectorIndex implements VectorIndex {
  readonly calls: MemoryVectorIndexCall[] = [];
  /** When set, the next `replaceDocument` throws it (and changes nothing). */
  failNextReplace: Error | undefined;
  private readonly documents = new Map<string, ChunkRecord[]>();
  private readonly versions = new Map<string, number>();

  private key(workspaceId: string, documentId: string): string {
    return `${workspaceId}\n${documentId}`;
  }

  /** Every stored chunk of a workspace, for assertions. */
  chunksOf(workspaceId: string): ChunkRecord[] {
    return [...this.documents.entries()]
      .filter(([key]) => key.startsWith(`${workspaceId}\n`))
      .flatMap(([, chunks]) => chunks.map(copyChunk));
  }

  /** Calls that change the index. */
  writes(): MemoryVectorIndexCall[] {
    return this.calls.filter((call) => call.method === 'replaceDocument' || call.method === 'deleteDocument');
  }

  async ensureReady(): Promise<void> {}

  async ping(): Promise<boolean> {
    return true;
  }

  async replaceDocument(workspaceId: string, documentId: string, chunks: ChunkRecord[]): Promise<void> {
    this.calls.push({ method: 'replaceDocument', workspaceId, documentId, chunkCount: chunks.length });
    if (this.failNextReplace) {
      const error = this.failNextReplace;
      this.failNextReplace = undefined;
      throw error;
    }
    const first = chunks[0];
    for (const chunk of chunks) {
      if (chunk.workspaceId !== workspaceId || chunk.documentId !== documentId || chunk.scope !== first?.scope) {
        throw new Error('replaceDocument: every chunk must share the workspace, document and scope');
      }
    }
    if (chunks.length === 0) this.documents.delete(this.key(workspaceId, documentId));
    else this.documents.set(this.key(workspaceId, documentId), chunks.map(copyChunk));
    this.versions.set(workspaceId, (this.versions.get(workspaceId) ?? 0) + 1);
  }

  async deleteDocument(workspaceId: string, documentId: string): Promise<boolean> {
    this.calls.push({ method: 'deleteDocument', workspaceId, documentId });
    const removed = this.documents.delete(this.key(workspaceId, documentId));
    if (removed) this.versions.set(workspaceId, (this.versions.get(workspaceId) ?? 0) + 1);
    return removed;
  }

  async deleteWorkspace(workspaceId: string): Promise<string[]> {
    this.calls.push({ method: 'deleteWorkspace', workspaceId });
    const keys = [...this.documents.keys()].filter((key) => key.startsWith(`${workspaceId}\n`));
    for (const key of keys) this.documents.delete(key);
    if (keys.length > 0) this.versions.set(workspaceId, (this.versions.get(workspaceId) ?? 0) + 1);
    return keys.map((key) => key.slice(workspaceId.length + 1)).sort();
  }

  async getDocument(workspaceId: string, documentId: string): Promise<DocumentSummary | undefined> {
    this.calls.push({ method: 'getDocument', workspaceId, documentId });
    const chunks = this.documents.get(this.key(workspaceId, documentId));
    const first = chunks?.[0];
    if (!chunks || !first) return undefined;
    return {
      documentId,
      workspaceId,
      scope: first.scope,
      title: first.title,
      source: first.source,
      documentHash: first.documentHash,
      chunkCount: chunks.length,
      ingestedAt: first.ingestedAt,
    };
  }

  async listDocuments(access: AccessScope): Promise<DocumentSummary[]> {
    const scope = requireAccess(access);
    this.calls.push({ method: 'listDocuments', workspaceId: scope.workspaceId });
    const summaries: DocumentSummary[] = [];
    for (const chunks of this.documents.values()) {
      const first = chunks[0];
      if (!first || !visible(first, scope)) continue;
      const summary = await this.getDocument(first.workspaceId, first.documentId);
      if (summary) summaries.push(summary);
    }
    return summaries;
  }

  async search(request: SearchRequest): Promise<SearchHit[]> {
    const access = requireAccess(request.access);
    this.calls.push({ method: 'search', workspaceId: access.workspaceId });
    const candidates = [...this.documents.values()].flat().filter((chunk) => visible(chunk, access));
    const queryTerms = terms(request.text);
    const scored = candidates.map((chunk) => {
      const chunkTerms = terms(chunk.text);
      let sparseScore = 0;
      for (const term of queryTerms) if (chunkTerms.has(term)) sparseScore += 1;
      const denseScore = request.dense && chunk.dense ? cosine(request.dense, chunk.dense) : undefined;
      return { chunk, sparseScore, denseScore };
    });
    const rank = (values: number[]) => {
      const order = [...values.keys()].sort((left, right) => (values[right] ?? 0) - (values[left] ?? 0));
      const ranks = new Array<number>(values.length);
      order.forEach((position, rankIndex) => {
        ranks[position] = rankIndex + 1;
      });
      return ranks;
    };
    const sparseRanks = rank(scored.map((hit) => hit.sparseScore));
    const denseRanks = rank(scored.map((hit) => hit.denseScore ?? -1));
    const hits = scored.map((hit, position): SearchHit => {
      const fused = 1 / (60 + (sparseRanks[position] ?? 0)) + 1 / (60 + (denseRanks[position] ?? 0));
      const score =
        request.mode === 'sparse' ? hit.sparseScore : request.mode === 'dense' ? (hit.denseScore ?? 0) : fused;
      const result: SearchHit = { chunk: copyChunk(hit.chunk), score, sparseScore: hit.sparseScore };
      if (hit.denseScore !== undefined) result.denseScore = hit.denseScore;
      return result;
    });
    return hits
      .filter((hit) => request.mode !== 'sparse' || (hit.sparseScore ?? 0) > 0)
      .sort((left, right) => right.score - left.score)
      .slice(0, request.limit);
  }

  async getChunks(access: AccessScope, documentId: string, chunkIndexes: number[]): Promise<ChunkRecord[]> {
    const scope = requireAccess(access);
    this.calls.push({ method: 'getChunks', workspaceId: scope.workspaceId });
    const chunks = this.documents.get(this.key(scope.workspaceId, documentId)) ?? [];
    const wanted = new Set(chunkIndexes);
    return chunks.filter((chunk) => wanted.has(chunk.chunkIndex) && visible(chunk, scope)).map(copyChunk);
  }

  async indexVersion(workspaceId: string): Promise<number> {
    return this.versions.get(workspaceId) ?? 0;
  }

  async close(): Promise<void> {}
}
