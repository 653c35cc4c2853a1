/**
 * The vector index the work side searches and ingests into, ready to use: Qdrant when `QDRANT_URL` is set (index
 * versions kept as Redis counters, shared with `npm run ingest`), else the embedded index under
 * `DATA_DIR/index`. Only here is a Qdrant client constructed.
 */
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { EmbeddedVectorIndex } from '../adapters/embedded-vector-index.ts';
import { RedisIndexVersionCounter } from '../adapters/index-version-counter.ts';
import { QdrantVectorIndex } from '../adapters/qdrant-vector-index.ts';
import type { RedisClient } from '../adapters/redis-client.ts';
import type { Logger } from '../observability/logger.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import type { Configuration } from './config.ts';

/** Builds the index and waits for `ensureReady` (collections, payload indexes or files created as needed). */
export async function buildVectorIndex(
  configuration: Pick<Configuration, 'qdrant' | 'openai' | 'redis' | 'dataDir'>,
  dependencies: { redis: RedisClient; logger: Logger },
): Promise<VectorIndex> {
  const { redis, logger } = dependencies;
  const vectorIndex: VectorIndex = configuration.qdrant.url
    ? new QdrantVectorIndex({
        client: new QdrantClient({
          url: configuration.qdrant.url,
          ...(configuration.qdrant.apiKey ? { apiKey: configuration.qdrant.apiKey } : {}),
          timeout: 30_000,
          checkCompatibility: false,
        }),
        collection: configuration.qdrant.collection,
        dimensions: configuration.openai.embeddingDimensions,
        versions: new RedisIndexVersionCounter(redis, configuration.redis.keyPrefix),
        logger,
      })
    : new EmbeddedVectorIndex({ directory: join(configuration.dataDir, 'index'), logger });
  await vectorIndex.ensureReady();
  return vectorIndex;
}
