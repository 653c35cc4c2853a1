/**
 * `SlackApiCaller`: one Web API call with the messenger's retry policy, and its metrics.
 * - A 429 pauses only what it came from, for `Retry-After`: the update budget for `chat.update`, the stream
 *   budget for `chat.*Stream`, the channel's queue for posts (other reads sleep); then the call waits for its
 *   pacing slot again and is retried — Slack did not apply it, so that is safe. After `maxRateLimitRetries`
 *   429s, a Retry-After beyond `maxRetryAfterMs`, or any 429 on a best-effort `status` call, it fails as
 *   `upstream_rate_limited`.
 * - A timeout, network error or 5xx is retried once for idempotent kinds (`read`, `update`, `status`) and
 *   never for `post`, `view` or `stream`, where the outcome is unknown and a retry could apply it twice.
 * - Every failure is logged (structured, with the Slack error) and thrown as a `DeskhandError`
 *   (slack-call-errors.ts); every attempt is counted by method and outcome and timed.
 */
import type { WebAPICallResult, WebClient } from '@slack/web-api';
import type { Counter, Histogram } from 'prom-client';
import type { Logger } from '../../observability/logger.ts';
import { counter, histogram, type Registry } from '../../observability/metrics.ts';
import type { Clock, KeyedPacer, MethodBuckets, TokenBucket, Turn } from './pacer.ts';
import {
  platformError,
  platformErrorCode,
  rateLimitedCode,
  rateLimitedError,
  type SlackCallError,
  unavailableError,
} from './slack-call-errors.ts';

/**
 * `stream`: chat.*Stream calls (a Tier 4 bucket per method; never retried on an unknown outcome: an append could show
 * twice). `status`: best-effort assistant status (one retry; a 429 is not waited out).
 */
export type CallKind = 'post' | 'update' | 'read' | 'view' | 'stream' | 'status';

/** The pacing slot of a call that is not paced (reads, views, status). */
export const noTurn: Turn = async () => {};

export interface SlackApiCallerOptions {
  client: WebClient;
  logger: Logger;
  clock: Clock;
  metrics?: Registry;
  /** Retries after 429s before giving up on a call. */
  maxRateLimitRetries: number;
  /** Longest Retry-After honoured; longer waits fail fast as `upstream_rate_limited`. */
  maxRetryAfterMs: number;
  /** What a 429 pauses: the per-channel post queue, the `chat.update` budget, the `chat.*Stream` method's budget. */
  channels: KeyedPacer;
  updates: TokenBucket;
  streamCalls: MethodBuckets;
}

export class SlackApiCaller {
  #client: WebClient;
  #logger: Logger;
  #clock: Clock;
  #maxRateLimitRetries: number;
  #maxRetryAfterMs: number;
  #channels: KeyedPacer;
  #updates: TokenBucket;
  #streamCalls: MethodBuckets;
  #calls: Counter<'method' | 'outcome'> | undefined;
  #latency: Histogram<'method'> | undefined;

  constructor(options: SlackApiCallerOptions) {
    this.#client = options.client;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#maxRateLimitRetries = options.maxRateLimitRetries;
    this.#maxRetryAfterMs = options.maxRetryAfterMs;
    this.#channels = options.channels;
    this.#updates = options.updates;
    this.#streamCalls = options.streamCalls;
    if (options.metrics) {
      this.#calls = counter(options.metrics, 'deskhand_slack_api_calls_total', 'Slack Web API calls by outcome', [
        'method',
        'outcome',
      ]);
      this.#latency = histogram(options.metrics, 'deskhand_slack_api_seconds', 'Slack Web API call latency', [
        'method',
      ]);
    }
  }

  /**
   * One Web API call with this module's retry policy. `turn` waits for the caller's pacing slot again before
   * a retry (the channel queue for posts, the update bucket for updates).
   */
  async call(
    method: string,
    kind: CallKind,
    channel: string | undefined,
    turn: Turn,
    parameters: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    let rateLimited = 0;
    let failedOnce = false;
    for (;;) {
      const started = this.#clock.now();
      try {
        const result: WebAPICallResult = await this.#client.apiCall(method, parameters);
        this.#observe(method, 'ok', started);
        return result as unknown as Record<string, unknown>;
      } catch (caught) {
        const error = caught as SlackCallError;
        const log = { method, channel, slackError: error.data?.error, statusCode: error.statusCode };
        if (error.code === rateLimitedCode) {
          this.#observe(method, 'rate_limited', started);
          const retryAfterMs = Math.max(1, error.retryAfter ?? 1) * 1000;
          rateLimited += 1;
          if (rateLimited > this.#maxRateLimitRetries || retryAfterMs > this.#maxRetryAfterMs || kind === 'status') {
            this.#logger.warn({ ...log, retryAfterMs }, 'slack rate limit: giving up');
            throw rateLimitedError(method, channel, retryAfterMs, caught);
          }
          this.#logger.info({ ...log, retryAfterMs }, 'slack rate limit: pausing this channel only');
          const until = this.#clock.now() + retryAfterMs;
          if (kind === 'update') this.#updates.pause(until);
          else if (kind === 'stream') this.#streamCalls.bucket(method).pause(until);
          else if (channel !== undefined && kind === 'post') this.#channels.pause(channel, until);
          else await this.#clock.sleep(retryAfterMs);
          await turn();
          continue;
        }
        if (error.code === platformErrorCode) {
          const slackError = error.data?.error ?? 'unknown_error';
          this.#observe(method, 'platform_error', started);
          this.#logger.warn(log, 'slack api error');
          throw platformError(method, channel, slackError, caught);
        }
        // Timeout, network failure or HTTP 5xx: the outcome is unknown.
        this.#observe(method, 'unavailable', started);
        const retrySafe = kind !== 'post' && kind !== 'view' && kind !== 'stream';
        if (retrySafe && !failedOnce) {
          failedOnce = true;
          this.#logger.info(log, 'slack call failed, retrying once');
          continue;
        }
        this.#logger.warn({ ...log, err: error.original ?? caught, outcomeUnknown: !retrySafe }, 'slack call failed');
        throw unavailableError(method, channel, retrySafe, caught);
      }
    }
  }

  #observe(method: string, outcome: string, started: number): void {
    this.#calls?.inc({ method, outcome });
    this.#latency?.observe({ method }, (this.#clock.now() - started) / 1000);
  }
}
