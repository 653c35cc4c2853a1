/**
 * The Redis connection every store takes: one server or Sentinel (an ioredis `Redis`), or a Redis Cluster (an
 * ioredis `Cluster`). Both speak the same commands, `defineCommand`, `multi` and `pipeline`; on a Cluster every
 * multi-key script and transaction must keep its keys in one hash slot (a `{…}` hash tag), which
 * test/integration/redis-cluster-slots.test.ts checks store by store. Built only by src/composition/create-redis.ts.
 */
import type { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;
