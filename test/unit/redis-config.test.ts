/**
 * The Redis topology chosen from the environment (src/composition/redis-config.ts): one server, Sentinel or Cluster,
 * never two; each mistake named with how to fix it. create-redis.ts's options for each topology are checked too.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createQueueConnection, createRedis, reconnectDelayMs } from '../../src/composition/create-redis.ts';
import { parseRedisAddresses } from '../../src/composition/redis-config.ts';

const minimal = { SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'secret-123456' };

function problemsOf(environment: Record<string, string>): string[] {
  const result = loadConfiguration({ ...minimal, ...environment });
  assert.equal(result.ok, false, 'expected the configuration to be refused');
  return result.ok ? [] : result.problems;
}

function topologyOf(environment: Record<string, string>) {
  const result = loadConfiguration({ ...minimal, ...environment });
  assert.ok(result.ok, result.ok ? '' : result.problems.join('\n'));
  return result.configuration.redis;
}

describe('Redis topology', () => {
  test('one server by default, REDIS_PASSWORD and REDIS_TLS applied to its URL', () => {
    assert.deepEqual(topologyOf({}).topology, { kind: 'single', url: 'redis://127.0.0.1:6379' });
    const secured = topologyOf({ REDIS_URL: 'redis://cache.internal:6380/2', REDIS_PASSWORD: 'p@ss', REDIS_TLS: '1' });
    assert.deepEqual(secured.topology, { kind: 'single', url: 'rediss://:p%40ss@cache.internal:6380/2' });
    assert.equal(secured.url, 'rediss://:p%40ss@cache.internal:6380/2');
  });

  test('Sentinel: sentinels, master name, both passwords, database and TLS from the URL', () => {
    const redis = topologyOf({
      REDIS_SENTINELS: '10.0.0.1:26379, sentinel-b:26380,[::1]:26381',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_URL: 'rediss://app:master%20secret@sentinel/3',
    });
    assert.deepEqual(redis.topology, {
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-b', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'mymaster',
      sentinelPassword: 'sentinel-secret',
      username: 'app',
      password: 'master secret',
      database: 3,
      tls: true,
    });
  });

  test('Cluster: seed nodes, REDIS_PASSWORD and REDIS_TLS', () => {
    const redis = topologyOf({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_PASSWORD: 'x', REDIS_TLS: 'true' });
    assert.deepEqual(redis.topology, {
      kind: 'cluster',
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
      username: undefined,
      password: 'x',
      tls: true,
    });
  });

  test('Sentinel and Cluster together are refused', () => {
    const problems = problemsOf({
      REDIS_SENTINELS: 'a:26379',
      REDIS_SENTINEL_NAME: 'm',
      REDIS_CLUSTER_NODES: 'b:7000',
    });
    assert.ok(
      problems.some((problem) => /^REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set/.test(problem)),
      problems.join('\n'),
    );
  });

  test('REDIS_SENTINELS needs REDIS_SENTINEL_NAME; sentinel settings alone are refused', () => {
    assert.match(
      problemsOf({ REDIS_SENTINELS: 'a:26379' }).join('\n'),
      /^REDIS_SENTINEL_NAME is required with REDIS_SENTINELS/m,
    );
    const stray = problemsOf({ REDIS_SENTINEL_NAME: 'm', REDIS_SENTINEL_PASSWORD: 'p' }).join('\n');
    assert.match(stray, /^REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not/m);
    assert.match(stray, /^REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not/m);
  });

  test('a REDIS_URL naming a server is refused with Sentinel or Cluster, not silently ignored', () => {
    const sentinel = problemsOf({
      REDIS_SENTINELS: 'a:26379',
      REDIS_SENTINEL_NAME: 'm',
      REDIS_URL: 'redis://10.0.0.9:6379',
    });
    assert.match(sentinel.join('\n'), /REDIS_URL names the server 10\.0\.0\.9:6379 but REDIS_SENTINELS is set/);
    const cluster = problemsOf({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_URL: 'redis://sentinel' });
    assert.match(
      cluster.join('\n'),
      /REDIS_URL names the server sentinel but REDIS_CLUSTER_NODES is set .* host "cluster"/,
    );
  });

  test('Cluster has only database 0; two master passwords are refused', () => {
    assert.match(
      problemsOf({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_URL: 'redis://cluster/1' }).join('\n'),
      /Redis Cluster has only database 0/,
    );
    assert.match(
      problemsOf({ REDIS_URL: 'redis://:one@localhost:6379', REDIS_PASSWORD: 'two' }).join('\n'),
      /REDIS_PASSWORD and REDIS_URL’s password are both set/,
    );
  });

  test('malformed address lists and URLs name the variable and the fix', () => {
    const problems = problemsOf({ REDIS_CLUSTER_NODES: 'n1:7000,n2', REDIS_URL: 'http://localhost:6379' }).join('\n');
    assert.match(
      problems,
      /^REDIS_CLUSTER_NODES is invalid: "n2" is not host:port .* — set it to some of the cluster/m,
    );
    assert.match(problems, /^REDIS_URL is invalid: must start with redis:\/\/ or rediss:\/\//m);
    assert.deepEqual(parseRedisAddresses(' , '), { ok: false, problem: 'lists no host:port' });
    assert.equal(parseRedisAddresses('h:70000').ok, false);
  });
});

describe('createRedis options per topology (lazy: nothing connects)', () => {
  const open = (environment: Record<string, string>) => {
    const result = loadConfiguration({ ...minimal, ...environment });
    assert.ok(result.ok, result.ok ? '' : result.problems.join('\n'));
    return createRedis(result.configuration, { lazyConnect: true });
  };

  test('Sentinel: sentinels, master name, both passwords, database, TLS to both, failover detection', async () => {
    const client = open({
      REDIS_SENTINELS: 's1:26379,s2:26380',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_URL: 'rediss://app:master-secret@sentinel/2',
    });
    assert.ok(client instanceof Redis);
    const { options } = client;
    assert.deepEqual(options.sentinels, [
      { host: 's1', port: 26379 },
      { host: 's2', port: 26380 },
    ]);
    assert.equal(options.name, 'mymaster');
    assert.equal(options.sentinelPassword, 'sentinel-secret');
    assert.equal(options.username, 'app');
    assert.equal(options.password, 'master-secret');
    assert.equal(options.db, 2);
    assert.deepEqual([options.tls, options.sentinelTLS, options.enableTLSForSentinelMode], [{}, {}, true]);
    assert.equal(options.failoverDetector, true);
    assert.equal(options.maxRetriesPerRequest, 2);
    assert.equal(options.reconnectOnError?.(new Error('READONLY You can’t write against a read only replica.')), 2);
    assert.equal(options.reconnectOnError?.(new Error('ERR wrong number of arguments')), false);
    client.disconnect();
  });

  test('Cluster: the seed nodes, and credentials and TLS for every node', async () => {
    const client = open({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_PASSWORD: 'secret', REDIS_TLS: '1' });
    assert.ok(client instanceof Cluster);
    assert.deepEqual(
      (client as unknown as { startupNodes: unknown[] }).startupNodes.map((node) => JSON.stringify(node)),
      [JSON.stringify({ host: 'n1', port: 7000 }), JSON.stringify({ host: 'n2', port: 7001 })],
    );
    assert.equal(client.options.redisOptions?.password, 'secret');
    assert.deepEqual(client.options.redisOptions?.tls, {});
    client.disconnect();
  });

  test('BullMQ gets the same topology: options for one server and Sentinel, waiting through reconnections', () => {
    const single = loadConfiguration({ ...minimal, REDIS_URL: 'redis://cache:6380/1' });
    assert.ok(single.ok);
    assert.deepEqual(
      {
        ...(createQueueConnection(single.configuration) as Record<string, unknown>),
        retryStrategy: 'f',
        reconnectOnError: 'f',
      },
      {
        url: 'redis://cache:6380/1',
        maxRetriesPerRequest: null,
        connectTimeout: 5_000,
        retryStrategy: 'f',
        reconnectOnError: 'f',
      },
    );
    const sentinel = loadConfiguration({ ...minimal, REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'm' });
    assert.ok(sentinel.ok);
    const options = createQueueConnection(sentinel.configuration) as Record<string, unknown>;
    assert.deepEqual([options.name, options.maxRetriesPerRequest], ['m', null]);
  });
});

describe('createRedis reconnection', () => {
  test('reconnects quickly at first and never waits more than 1 s between attempts', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 20].map(reconnectDelayMs), [100, 200, 400, 800, 1000, 1000]);
  });
});
