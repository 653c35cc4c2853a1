/**
 * `RedisReplyAnchors`: the `ReplyAnchors` port (src/ports/reply-anchor.ts) on the durable work item's hash
 * (durable-work.ts, `{work}:item:<deliveryId>`, field `replyTs`). The field is written only while the item exists
 * (one script: a finished delivery's item is gone, and a bare HSET would re-create it without its expiry).
 */
import type { RedisClient } from '../adapters/redis-client.ts';
import type { Logger } from '../observability/logger.ts';
import type { ReplyAnchors } from '../ports/reply-anchor.ts';
import { workItemKey } from './durable-work.ts';

/** The item hash's field that holds the reply's first message. */
export const replyTsField = 'replyTs';

const saveIfItemExists = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

export interface RedisReplyAnchorsOptions {
  redis: RedisClient;
  /** The configured key prefix, as durable work's. */
  keyPrefix: string;
  logger: Logger;
}

export class RedisReplyAnchors implements ReplyAnchors {
  readonly #options: RedisReplyAnchorsOptions;

  constructor(options: RedisReplyAnchorsOptions) {
    this.#options = options;
  }

  async save(deliveryId: string, replyTs: string): Promise<void> {
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
}
