/**
 * `RedisSharedPacing`: the per-channel post pacing held in Redis, so that the ~1 message per second per channel
 * that Slack allows (docs/platform-facts.md "Slack: egress") holds across every replica, not once per replica.
 *
 * Each post reserves its channel's next free slot with one script on `<prefix>pace:{<channel>}` (one key, its own
 * hash slot on a Cluster): the key holds the time from which the following post may start, read from the server's
 * clock (`TIME`) so replicas' clocks never disagree; the caller waits until its slot. The key expires shortly after
 * the last reserved slot.
 *
 * Never blocks a reply on an outage: a reservation that fails or takes longer than `timeoutMs` is skipped — the
 * replica paces that post alone, as before (pacer.ts `KeyedPacer`), with one warning per outage and one line when
 * Redis answers again.
 */
import type { RedisClient } from '../../adapters/redis-client.ts';
import type { Logger } from '../../observability/logger.ts';
import type { SharedPacing } from './pacer.ts';

// KEYS[1] pace key; ARGV[1] interval (ms). Returns how long to wait (ms) for the reserved slot.
const reserveSlot = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local nextFree = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nextFree)
redis.call('SET', KEYS[1], slot + interval, 'PX', slot + interval - now + 1000)
return slot - now`;

export interface RedisSharedPacingOptions {
  redis: RedisClient;
  /** The configured key prefix, e.g. `dh:`. */
  keyPrefix: string;
  logger: Logger;
  /** Longest wait for a reservation before the post is paced locally (default 500 ms). */
  timeoutMs?: number;
}

export class RedisSharedPacing implements SharedPacing {
  readonly #options: RedisSharedPacingOptions;
  readonly #timeoutMs: number;
  #failing = false;

  constructor(options: RedisSharedPacingOptions) {
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? 500;
  }

  /** The pace key of a channel. */
  key(channel: string): string {
    return `${this.#options.keyPrefix}pace:{${channel}}`;
  }

  async reserve(channel: string, intervalMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    try {
      const reserved = this.#options.redis.eval(reserveSlot, 1, this.key(channel), Math.ceil(intervalMs));
      reserved.catch(() => undefined);
      const waitMs = Number(await Promise.race([reserved, timedOut]));
      if (this.#failing) {
        this.#failing = false;
        this.#options.logger.info({ channel }, 'slack post pacing shared across replicas again');
      }
      return Number.isFinite(waitMs) && waitMs > 0 ? waitMs : 0;
    } catch (error) {
      if (!this.#failing) {
        this.#failing = true;
        this.#options.logger.warn(
          { err: error, code: 'upstream_unavailable', channel },
          'slack post pacing falls back to this replica alone: Redis did not answer',
        );
      }
      return 0;
    } finally {
      clearTimeout(timer);
    }
  }
}
