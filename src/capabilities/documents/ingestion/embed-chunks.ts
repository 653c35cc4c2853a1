/**
 * `embedChunks`: a dense vector for every chunk of a document, from the embedding cache or the embedder.
 *
 * Guarantees:
 * - Only chunks whose vectors are not cached are embedded, identical chunk texts of a document once, in batches
 *   of `embeddingBatchSize` (1–2,048, default 128).
 * - A cache outage costs money, not correctness: a failed cache read embeds everything, a failed cache write is
 *   logged. Vectors are cached per batch, so a retry after a failed batch does not pay for the earlier ones.
 * - An embedder answer with the wrong number of vectors or dimensions throws `upstream_invalid_response`; it
 *   either returns a vector for every chunk or throws.
 */
import { DeskhandError } from '../../../errors.ts';
import type { Embedder } from '../../../ports/embedder.ts';
import type { DocumentChunk } from './chunker.ts';
import { sha256 } from './document-id.ts';
import type { EmbeddingCacheKey } from './embedding-cache.ts';
import { embeddingInput } from './embedding-input.ts';
import type { DocumentMetadata, IngestDocumentDependencies } from './ingestion-types.ts';

export async function embedChunks(
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
    const embedded = (await embedder.embed(texts, dependencies.callScope)).vectors;
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
