/**
 * docker-compose.ha.yml (issue 17 item 6) cannot be run where it was written (no Docker engine), so it is parsed and
 * checked here: 3 app replicas behind HAProxy's round-robin routed by /readyz, each configured for Redis through
 * the sentinels and for Qdrant (never the embedded index), Redis master with AOF + replica + 3 sentinels agreeing on
 * the master group, a 3-node Qdrant cluster, and every reference (services, volumes, config files) resolving.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import {
  readRepositoryFile,
  readYaml,
  record,
  replicaConfiguration,
  repositoryRoot,
} from '../support/deployment-files.ts';

const compose = record(readYaml('docker-compose.ha.yml')[0], 'docker-compose.ha.yml');
const services = record(compose.services, 'services');
const service = (name: string) => record(services[name], `service ${name}`);
const appReplicas = Object.keys(services).filter((name) => /^app-\d+$/.test(name));
const sentinels = Object.keys(services).filter((name) => /^redis-sentinel-\d+$/.test(name));
const qdrantNodes = Object.keys(services).filter((name) => /^qdrant-\d+$/.test(name));
const haproxyConfig = readRepositoryFile('deploy/haproxy/haproxy.cfg');
const sentinelConfig = readRepositoryFile('deploy/redis/sentinel.conf');

/** The lines of one HAProxy section (`backend name`, `frontend name`), trimmed, comments dropped. */
function haproxySection(kind: string, name: string): string[] {
  const lines = haproxyConfig.split('\n');
  const start = lines.findIndex((line) => line.trim() === `${kind} ${name}`);
  assert.ok(start >= 0, `haproxy.cfg has no ${kind} ${name}`);
  const section: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break;
    const trimmed = line.trim();
    if (trimmed && !trimmed.startsWith('#')) section.push(trimmed);
  }
  return section;
}

function environmentOf(name: string): Record<string, string> {
  const environment = record(service(name).environment, `${name}.environment`);
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, String(value ?? '')]));
}

function commandOf(name: string): string[] {
  const command = service(name).command;
  assert.ok(Array.isArray(command), `${name}.command is a list`);
  return command.map(String);
}

test('three app replicas behind an official HAProxy image doing round-robin, routed by /readyz', () => {
  assert.deepEqual(appReplicas, ['app-1', 'app-2', 'app-3']);
  const haproxy = service('haproxy');
  assert.match(String(haproxy.image), /^haproxy:\d+\.\d+/, 'the official haproxy image');
  assert.ok(
    (haproxy.volumes as string[]).includes('./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'),
    'the configuration is mounted where the official image reads it',
  );
  const backend = haproxySection('backend', 'deskhand_replicas');
  assert.ok(backend.includes('balance roundrobin'));
  assert.ok(backend.includes('option httpchk GET /readyz'), 'readiness decides the rotation');
  const servers = backend.filter((line) => line.startsWith('server ')).map((line) => line.split(/\s+/));
  assert.deepEqual(
    servers.map(([, , address]) => address),
    appReplicas.map((name) => `${name}:3000`),
    'one server per replica, on the port the replicas listen on',
  );
  for (const [, , , check] of servers) assert.equal(check, 'check');
  assert.ok(haproxySection('frontend', 'deskhand').includes('bind :3000'));
  assert.ok((haproxy.ports as string[]).includes('3000:3000'));
  // A 503 from a stopping replica (nothing acknowledged) is sent to another one.
  assert.match(haproxyConfig, /retry-on [^\n]*\b503\b/);
  assert.match(haproxyConfig, /option redispatch/);
});

test('every replica uses Redis through the sentinels and Qdrant, never the embedded index, and its app loads it', () => {
  const monitor = /^sentinel monitor (\S+) (\S+) (\d+) (\d+)$/m.exec(sentinelConfig);
  assert.ok(monitor, 'sentinel.conf monitors a master group');
  const [, groupName, masterHost, masterPort] = monitor;
  const dataVolumes = new Set<string>();
  for (const name of appReplicas) {
    const environment = environmentOf(name);
    assert.equal(environment.REDIS_URL, '', `${name}: REDIS_URL empty, overriding one in .env`);
    assert.deepEqual(
      environment.REDIS_SENTINELS?.split(','),
      sentinels.map((sentinel) => `${sentinel}:26379`),
      `${name}: every sentinel listed`,
    );
    assert.equal(environment.REDIS_SENTINEL_NAME, groupName, `${name}: the group the sentinels monitor`);
    assert.ok(environment.QDRANT_URL, `${name}: QDRANT_URL set (the embedded index takes one replica)`);

    const configuration = replicaConfiguration(environment);
    const topology = configuration.redis.topology;
    assert.equal(topology.kind, 'sentinel', `${name}: Redis under Sentinel`);
    assert.equal(topology.kind === 'sentinel' ? topology.sentinels.length : 0, 3);
    assert.ok(configuration.qdrant.url, `${name}: the app builds a Qdrant index, not the embedded one`);
    const qdrant = new URL(configuration.qdrant.url);
    assert.ok(services[qdrant.hostname], `${name}: QDRANT_URL names a service (${qdrant.hostname})`);
    assert.ok(haproxySection('frontend', 'qdrant').includes(`bind :${qdrant.port}`), 'HAProxy serves that port');

    const volumes = (service(name).volumes as string[]).map((volume) => volume.split(':'));
    const dataVolume = volumes.find(([, target]) => target === configuration.dataDir)?.[0];
    assert.ok(dataVolume, `${name}: DATA_DIR on a volume`);
    assert.ok(!dataVolumes.has(dataVolume), `${name}: DATA_DIR not shared with another replica`);
    dataVolumes.add(dataVolume);

    const healthcheck = record(service(name).healthcheck, `${name}.healthcheck`);
    assert.match(JSON.stringify(healthcheck.test), /\/healthz/, `${name}: liveness on /healthz`);
    assert.ok(String(service(name).stop_grace_period).startsWith('30'), `${name}: time to drain (25 s) before SIGKILL`);
  }
  assert.equal(masterHost, 'redis-master');
  assert.equal(masterPort, '6379');
});

test('Redis: a master with an append-only file fsynced every second, one replica, three sentinels with a majority quorum', () => {
  const master = commandOf('redis-master').join(' ');
  assert.match(master, /--appendonly yes/);
  assert.match(master, /--appendfsync everysec/);
  const replica = commandOf('redis-replica').join(' ');
  assert.match(replica, /--replicaof redis-master 6379/);
  assert.match(replica, /--appendonly yes/);
  assert.match(replica, /--appendfsync everysec/);

  assert.deepEqual(sentinels, ['redis-sentinel-1', 'redis-sentinel-2', 'redis-sentinel-3']);
  const quorum = Number(/^sentinel monitor \S+ \S+ \d+ (\d+)$/m.exec(sentinelConfig)?.[1]);
  assert.equal(quorum, Math.floor(sentinels.length / 2) + 1, 'a majority of the sentinels');
  assert.match(sentinelConfig, /^sentinel resolve-hostnames yes$/m);
  for (const name of sentinels) {
    assert.match(commandOf(name).join(' '), /redis-server \/data\/sentinel\.conf --sentinel/);
    const volumes = service(name).volumes as string[];
    assert.ok(volumes.includes('./deploy/redis/sentinel.conf:/etc/deskhand/sentinel.conf:ro'));
    assert.ok(
      volumes.some((volume) => volume.endsWith(':/data')),
      `${name}: its rewritten config is kept`,
    );
    assert.match(JSON.stringify(service(name).healthcheck), /26379/);
  }
  for (const name of ['redis-master', 'redis-replica']) {
    assert.match(JSON.stringify(service(name).healthcheck), /redis-cli/);
  }
});

test('Qdrant: a 3-node cluster, the first peer giving its URI, the others bootstrapping from it, shards replicated', () => {
  assert.deepEqual(qdrantNodes, ['qdrant-1', 'qdrant-2', 'qdrant-3']);
  const [first, ...others] = qdrantNodes;
  assert.deepEqual(commandOf(String(first)), ['./qdrant', '--uri', 'http://qdrant-1:6335']);
  for (const name of others) {
    assert.deepEqual(commandOf(name), [
      './qdrant',
      '--bootstrap',
      'http://qdrant-1:6335',
      '--uri',
      `http://${name}:6335`,
    ]);
  }
  for (const name of qdrantNodes) {
    const environment = environmentOf(name);
    assert.equal(environment.QDRANT__CLUSTER__ENABLED, 'true');
    assert.ok(Number(environment.QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR) >= 2, `${name}: survives a node`);
    assert.match(JSON.stringify(service(name).healthcheck), /readyz/);
  }
  const servers = haproxySection('backend', 'qdrant_nodes').filter((line) => line.startsWith('server '));
  assert.deepEqual(
    servers.map((line) => line.split(/\s+/)[2]),
    qdrantNodes.map((name) => `${name}:6333`),
  );
  assert.ok(haproxySection('backend', 'qdrant_nodes').includes('option httpchk GET /readyz'));
});

test('every dependency, named volume and mounted file exists', () => {
  const declaredVolumes = new Set(Object.keys(record(compose.volumes, 'volumes')));
  for (const [name, value] of Object.entries(services)) {
    const definition = record(value, name);
    for (const dependency of Object.keys(record(definition.depends_on ?? {}, `${name}.depends_on`))) {
      assert.ok(services[dependency], `${name} depends on unknown service ${dependency}`);
    }
    for (const volume of (definition.volumes as string[] | undefined) ?? []) {
      const [source = ''] = volume.split(':');
      if (source.startsWith('./')) assert.ok(existsSync(new URL(source, repositoryRoot)), `${name}: ${source} missing`);
      else assert.ok(declaredVolumes.has(source), `${name}: volume ${source} is not declared`);
    }
  }
});
