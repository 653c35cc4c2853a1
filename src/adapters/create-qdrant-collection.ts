/**
 * The collection's layout and its creation: a named dense vector `dense` (cosine) of the embedding model's size,
 * a named sparse vector `sparse` with `modifier: "idf"`, and payload indexes on `workspaceId` (keyword,
 * `is_tenant: true`), `scope`, `documentId` (keyword), `chunkIndex` and `generation` (integer).
 *
 * Creating is idempotent: an existing collection is kept, and a create that fails because another process created
 * the collection in the meantime is not an error. Payload indexes are (re)requested every time, with `wait: true`.
 */
import type { QdrantClient } from '@qdrant/js-client-rest';
import { translateQdrantError } from './translate-qdrant-error.ts';

export const denseName = 'dense';
export const sparseName = 'sparse';

type PayloadIndexRequest = Parameters<QdrantClient['createPayloadIndex']>[1];

/** Runs one SDK call, translating its errors (the adapter's `#call`). */
export type QdrantCall = <T>(operation: string, run: () => Promise<T>) => Promise<T>;

/** Creates the collection and its payload indexes when missing. */
export async function createQdrantCollection(
  client: QdrantClient,
  collection: string,
  dimensions: number,
  call: QdrantCall,
): Promise<void> {
  const { exists } = await call('collection exists', () => client.collectionExists(collection));
  if (!exists) {
    try {
      await client.createCollection(collection, {
        vectors: { [denseName]: { size: dimensions, distance: 'Cosine' } },
        sparse_vectors: { [sparseName]: { modifier: 'idf' } },
      });
    } catch (error) {
      // Another process may have created it between the check and the create.
      const again = await call('collection exists', () => client.collectionExists(collection));
      if (!again.exists) throw translateQdrantError('create collection', error);
    }
  }
  const indexes: [string, Record<string, unknown>][] = [
    ['workspaceId', { type: 'keyword', is_tenant: true }],
    ['scope', { type: 'keyword' }],
    ['documentId', { type: 'keyword' }],
    ['chunkIndex', { type: 'integer' }],
    ['generation', { type: 'integer' }],
  ];
  for (const [field, schema] of indexes) {
    await call('create payload index', () =>
      client.createPayloadIndex(collection, {
        wait: true,
        field_name: field,
        field_schema: schema as NonNullable<PayloadIndexRequest['field_schema']>,
      }),
    );
  }
}
