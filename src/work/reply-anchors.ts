/**
 * `RedisReplyAnchors`: the `ReplyAnchors` port (src/ports/reply-anchor.ts) on the durable work item's hash
 * (durable-work.ts, `{work}:item:<deliveryId>`, field `replyTs`). The field is written only while the item exists
 * (one script: a finished delivery's item is gone, and a bare HSET would re-create it without its expiry).
 *
 * With `anchorsDirectory` (the replica's work journal, journal-files.ts) the anchor is also kept on disk: when Redis
 * loses its data the item is put back from the journal (work-reassertion.ts), and a re-run without the anchor would
 * post a second reply beside the half-written one. Kept there even when the Redis write fails.
 */
import type { RedisClient } from '../adapters/redis-client.ts';
import type { Logger } from '../observability/logger.ts';
import type { ReplyAnchors } from '../ports/reply-anchor.ts';
import { saveAnchorFile } from './journal-files.ts';
import { replyTsField, workItemKey } from './work-item.ts';

export { replyTsField } from './work-item.ts';

const saveIfItemExists = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

export interface RedisReplyAnchorsOptions {
  redis: RedisClient;
  /** The configured key prefix, as durable work's. */
  keyPrefix: string;
  logger: Logger;
  /** The work journal's anchors directory in this replica's DATA_DIR (nothing is written when it does not exist). */
  anchorsDirectory?: string;
}

export class RedisReplyAnchors implements ReplyAnchors {
  readonly #options: RedisReplyAnchorsOptions;

  constructor(options: RedisReplyAnchorsOptions) {
    this.#options = options;
  }

  async save(deliveryId: string, replyTs: string): Promise<void> {
    await Promise.all([this.#saveInRedis(deliveryId, replyTs), this.#saveOnDisk(deliveryId, replyTs)]);
  }

  async #saveInRedis(deliveryId: string, replyTs: string): Promise<void> {
    const { redis, keyPrefix, logger } = this.#options;
    try {
      const saved = await redis.eval(saveIfItemExists, 1, workItemKey(keyPrefix, deliveryId), replyTsField, replyTs);
      if (saved === 0) logger.debug({ deliveryId, replyTs }, 'no work item to keep the reply anchor with');
    } catch (error) {
      logger.warn(
        { err: error, code: 'upstream_unavailable', deliveryId, replyTs },
        'could not keep the reply anchor: a re-run after a crash would post a new reply',
      );
    }
  }

  async #saveOnDisk(deliveryId: string, replyTs: string): Promise<void> {
    const directory = this.#options.anchorsDirectory;
    if (!directory) return;
    await saveAnchorFile(directory, deliveryId, replyTs).catch((error: unknown) => {
      this.#options.logger.warn(
        { err: error, code: 'internal', deliveryId, replyTs },
        'could not keep the reply anchor in the work journal: a re-run after Redis lost it would post a new reply',
      );
    });
  }
}
