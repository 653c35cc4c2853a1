/**
 * The one place a Redis connection is opened from the configuration (`redis.topology`, redis-config.ts), through
 * ioredis's own support for each topology:
 * - one server: `new Redis(url)`;
 * - Sentinel: `new Redis({ sentinels, name, … })` — ioredis asks the sentinels for the master, follows a failover
 *   (`failoverDetector` subscribes to the sentinels' `+switch-master`), and a command answered `READONLY` by a demoted
 *   master makes it reconnect to the new one and resend the command (`reconnectOnError`);
 * - Cluster: `new Cluster(nodes, …)` — keys are routed by hash slot; multi-key scripts keep one slot by hash tags.
 *
 * During a failover a command waits in ioredis's offline queue for at most `maxRetriesPerRequest` reconnection
 * attempts (spaced by `retryStrategy`), then fails with an error the caller turns into a refusal with a reason. Lua
 * scripts and MULTI are atomic on the server, so a failed one is never half-applied.
 * https://github.com/redis/ioredis#sentinel · https://github.com/redis/ioredis#cluster
 */
import type { ConnectionOptions as QueueConnectionOptions } from 'bullmq';
import { Cluster, type RedisOptions as IORedisOptions, Redis } from 'ioredis';
import type { RedisClient } from '../adapters/redis-client.ts';
import type { Logger } from '../observability/logger.ts';
import type { Configuration } from './config.ts';

export type { RedisClient } from '../adapters/redis-client.ts';

/** ioredis's options without `replyMapping`, which its constructors type without `undefined` (exactOptionalPropertyTypes). */
type RedisOptions = Omit<IORedisOptions, 'replyMapping'>;

export interface CreateRedisOptions {
  /**
   * Reconnection attempts a command may wait through before it fails (ioredis's `maxRetriesPerRequest`); `null`
   * waits forever (BullMQ's blocking connections need it). Default 2: short enough for the 3 s Slack ack.
   */
  maxRetriesPerRequest?: number | null;
  /** Milliseconds to establish a connection. Default 5,000. */
  connectTimeout?: number;
  /** Connect on the first command instead of at once. */
  lazyConnect?: boolean;
  /** Where connection errors are logged (code `upstream_unavailable`); unset, they are not listened to. */
  logger?: Pick<Logger, 'warn'>;
}

/**
 * Delay before reconnection attempt `times` (1, 2, …): 100 ms doubling up to 1 s, so a failover is caught quickly
 * and a command waiting in the offline queue is failed (every `maxRetriesPerRequest` + 1 attempts) within about 2 s.
 */
export function reconnectDelayMs(times: number): number {
  return Math.min(100 * 2 ** (times - 1), 1_000);
}

/** A demoted master answers writes with READONLY: reconnect (to the new master) and resend the command. */
function reconnectOnReadOnly(error: Error): 2 | false {
  return error.message.startsWith('READONLY') ? 2 : false;
}

/** Options shared by every node connection of the topology (credentials, TLS, retry policy). */
function connectionOptions(configuration: Pick<Configuration, 'redis'>, options: CreateRedisOptions): RedisOptions {
  const topology = configuration.redis.topology;
  const common: RedisOptions = {
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 2 : options.maxRetriesPerRequest,
    connectTimeout: options.connectTimeout ?? 5_000,
    retryStrategy: reconnectDelayMs,
    reconnectOnError: reconnectOnReadOnly,
    ...(options.lazyConnect ? { lazyConnect: true } : {}),
  };
  if (topology.kind === 'single') return common;
  return {
    ...common,
    ...(topology.username ? { username: topology.username } : {}),
    ...(topology.password ? { password: topology.password } : {}),
    ...(topology.tls ? { tls: {} } : {}),
  };
}

/** Options for `new Redis(…)` in Sentinel mode. */
function sentinelOptions(configuration: Pick<Configuration, 'redis'>, options: CreateRedisOptions): RedisOptions {
  const topology = configuration.redis.topology;
  if (topology.kind !== 'sentinel') throw new Error('sentinelOptions needs the sentinel topology');
  return {
    ...connectionOptions(configuration, options),
    sentinels: topology.sentinels,
    name: topology.name,
    db: topology.database,
    ...(topology.sentinelPassword ? { sentinelPassword: topology.sentinelPassword } : {}),
    ...(topology.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // Learn of a failover from the sentinels' +switch-master at once, not only when the old master stops answering.
    failoverDetector: true,
    // Ask the sentinels again soon after losing them all, as for the master.
    sentinelRetryStrategy: reconnectDelayMs,
  };
}

/**
 * A connection to the configured Redis: a `Redis` (one server or Sentinel) or a `Cluster`. Close it with `quit()`.
 */
export function createRedis(
  configuration: Pick<Configuration, 'redis'>,
  options: CreateRedisOptions = {},
): RedisClient {
  const topology = configuration.redis.topology;
  let client: RedisClient;
  if (topology.kind === 'single') {
    client = new Redis(topology.url, connectionOptions(configuration, options));
  } else if (topology.kind === 'sentinel') {
    const sentinelClient = new Redis(sentinelOptions(configuration, options));
    // quit() ends the connection to the master but not the failover detector's subscriptions to the sentinels, which
    // would keep a script's process alive: once ended, close those too.
    sentinelClient.once('end', () => sentinelClient.disconnect());
    client = sentinelClient;
  } else {
    const { retryStrategy: _perNode, ...redisOptions } = connectionOptions(configuration, options);
    client = new Cluster(topology.nodes, {
      redisOptions,
      clusterRetryStrategy: reconnectDelayMs,
      ...(options.lazyConnect ? { lazyConnect: true } : {}),
      // Commands wait for the cluster to settle after a failover instead of failing at once.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
    });
  }
  const logger = options.logger;
  if (logger) {
    client.on('error', (error: unknown) => logger.warn({ err: error, code: 'upstream_unavailable' }, 'redis error'));
  }
  return client;
}

/**
 * BullMQ's connection for the configured Redis. One server and Sentinel: options (BullMQ opens and closes its
 * connections itself). Cluster: BullMQ needs a `Cluster` instance, which it does not close — it lives as long as
 * the process. Blocking commands must wait through reconnections, hence `maxRetriesPerRequest: null`.
 */
export function createQueueConnection(configuration: Pick<Configuration, 'redis'>): QueueConnectionOptions {
  const topology = configuration.redis.topology;
  const options: CreateRedisOptions = { maxRetriesPerRequest: null };
  // BullMQ re-declares ioredis's option types with required fields (`host`) ioredis leaves optional: the same
  // object ioredis takes, only typed apart.
  if (topology.kind === 'single') {
    return { url: topology.url, ...connectionOptions(configuration, options) } as QueueConnectionOptions;
  }
  if (topology.kind === 'sentinel') return sentinelOptions(configuration, options) as QueueConnectionOptions;
  return createRedis(configuration, options) as Cluster;
}
