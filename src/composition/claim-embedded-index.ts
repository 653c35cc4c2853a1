/**
 * Start-up step of `node src/main.ts`: with the embedded index (`QDRANT_URL` unset), register this replica as its
 * one user in Redis (embedded-index-owner.ts) before the index is opened, on a connection of its own that renews
 * the registration until `release`. With Qdrant there is nothing to claim. While Redis cannot be reached the claim
 * is retried for up to `waitMs`, so a replica started just before Redis is not refused for that.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { Configuration } from './config.ts';
import { createRedis } from './create-redis.ts';
import { EmbeddedIndexInUseError, registerEmbeddedIndexOwner } from './embedded-index-owner.ts';

/** The claim held by this process: released (and its connection closed) on a graceful stop. */
export interface EmbeddedIndexClaim {
  release(): Promise<void>;
}

/**
 * Claims the embedded index for this replica, or resolves undefined with Qdrant. Throws `EmbeddedIndexInUseError`
 * when another replica uses it, or an `upstream_unavailable` error when Redis stayed unreachable for `waitMs`.
 */
export async function claimEmbeddedIndex(
  configuration: Pick<Configuration, 'redis' | 'qdrant' | 'dataDir'>,
  logger: Logger,
  options: { waitMs?: number; ttlMs?: number; intervalMs?: number } = {},
): Promise<EmbeddedIndexClaim | undefined> {
  if (configuration.qdrant.url) return undefined;
  const redis = createRedis(configuration, { logger });
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  for (;;) {
    try {
      const registration = await registerEmbeddedIndexOwner({
        redis,
        keyPrefix: configuration.redis.keyPrefix,
        dataDir: configuration.dataDir,
        logger,
        ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
        ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
      });
      return {
        async release() {
          await registration.release().catch((error: unknown) => {
            logger.warn({ err: error, code: 'upstream_unavailable' }, 'could not release the embedded index claim');
          });
          await redis.quit().catch(() => {});
        },
      };
    } catch (error) {
      if (error instanceof EmbeddedIndexInUseError || Date.now() >= deadline) {
        redis.disconnect();
        if (error instanceof EmbeddedIndexInUseError) throw error;
        throw new DeskhandError('upstream_unavailable', 'Redis unreachable while claiming the embedded index', {
          cause: error,
          userMessage:
            'Redis cannot be reached, so Deskhand cannot check that no other replica uses the embedded index ' +
            '(DATA_DIR). Check REDIS_URL (or REDIS_SENTINELS / REDIS_CLUSTER_NODES) and that Redis is running.',
        });
      }
      logger.warn({ err: error, code: 'upstream_unavailable' }, 'Redis unreachable; retrying the embedded index claim');
      await sleep(1_000);
    }
  }
}
