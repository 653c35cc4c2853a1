/**
 * Local Redis topologies for tests, started from the `redis-server` on this machine in a temporary directory and
 * torn down afterwards: a Redis Cluster (masters only) and a Sentinel group (master, replica, sentinels). Ports are
 * given by the caller. `redisServerMissing()` names why a test must skip.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/** Why local topologies cannot start here, or undefined when `redis-server` and `redis-cli` are on the PATH. */
export function redisServerMissing(): string | undefined {
  for (const binary of ['redis-server', 'redis-cli']) {
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore' });
    } catch {
      return `${binary} is not installed (apt-get install redis-server), so no local cluster or sentinels can start`;
    }
  }
  return undefined;
}

export interface LocalServer {
  port: number;
  process: ChildProcess;
}

/** A set of local Redis processes in one temporary directory. */
export class LocalRedisProcesses {
  readonly directory = mkdtempSync(join(tmpdir(), 'deskhand-redis-'));
  readonly servers: LocalServer[] = [];

  /** Starts `redis-server` (or a sentinel) with `lines` as its configuration file; resolves once it answers PING. */
  async start(port: number, lines: string[], options: { sentinel?: boolean } = {}): Promise<LocalServer> {
    const file = join(this.directory, `${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${this.directory}`,
        'save ""',
        'appendonly no',
        `logfile ${join(this.directory, `${port}.log`)}`,
        ...lines,
      ].join('\n'),
    );
    const child = spawn('redis-server', [file, ...(options.sentinel ? ['--sentinel'] : [])], { stdio: 'ignore' });
    const server = { port, process: child };
    this.servers.push(server);
    await waitForPing(port);
    return server;
  }

  /** SIGKILL, as a crashed machine: no shutdown, no last write. */
  kill(server: LocalServer): void {
    server.process.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    for (const server of this.servers) {
      if (server.process.exitCode === null && server.process.signalCode === null) server.process.kill('SIGKILL');
    }
    await Promise.all(
      this.servers.map((server) =>
        server.process.exitCode === null && server.process.signalCode === null
          ? new Promise((resolve) => server.process.once('exit', resolve))
          : undefined,
      ),
    );
    rmSync(this.directory, { recursive: true, force: true });
  }
}

async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis on port ${port} did not answer within ${timeoutMs} ms`);
      await sleep(50);
    } finally {
      probe.disconnect();
    }
  }
}

/** A 3-master cluster (no replicas) on `ports`, created with `redis-cli --cluster create … --cluster-yes`. */
export async function startLocalCluster(ports: number[]): Promise<LocalRedisProcesses> {
  const processes = new LocalRedisProcesses();
  try {
    for (const port of ports) {
      await processes.start(port, [
        'cluster-enabled yes',
        `cluster-config-file nodes-${port}.conf`,
        'cluster-node-timeout 2000',
      ]);
    }
    execFileSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { stdio: 'ignore', timeout: 30_000 },
    );
    await waitForClusterOk(ports[0] as number);
    return processes;
  } catch (error) {
    await processes.stop();
    throw error;
  }
}

async function waitForClusterOk(port: number, timeoutMs = 15_000): Promise<void> {
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const info = String(await client.cluster('INFO'));
      if (info.includes('cluster_state:ok')) return;
      if (Date.now() > deadline) throw new Error(`cluster on port ${port} not ok within ${timeoutMs} ms:\n${info}`);
      await sleep(100);
    }
  } finally {
    client.disconnect();
  }
}

/**
 * A master, one replica and three sentinels monitoring them as `name`, with a quick failover
 * (`down-after-milliseconds` 1000, `failover-timeout` 3000, quorum 2).
 */
export async function startLocalSentinels(options: {
  name: string;
  masterPort: number;
  replicaPort: number;
  sentinelPorts: number[];
}): Promise<{ processes: LocalRedisProcesses; master: LocalServer; replica: LocalServer; sentinels: LocalServer[] }> {
  const processes = new LocalRedisProcesses();
  try {
    const master = await processes.start(options.masterPort, []);
    const replica = await processes.start(options.replicaPort, [`replicaof 127.0.0.1 ${options.masterPort}`]);
    const sentinels: LocalServer[] = [];
    for (const port of options.sentinelPorts) {
      sentinels.push(
        await processes.start(
          port,
          [
            `sentinel monitor ${options.name} 127.0.0.1 ${options.masterPort} 2`,
            `sentinel down-after-milliseconds ${options.name} 1000`,
            `sentinel failover-timeout ${options.name} 3000`,
            `sentinel parallel-syncs ${options.name} 1`,
          ],
          { sentinel: true },
        ),
      );
    }
    await waitForReplication(options.masterPort);
    return { processes, master, replica, sentinels };
  } catch (error) {
    await processes.stop();
    throw error;
  }
}

async function waitForReplication(masterPort: number, timeoutMs = 15_000): Promise<void> {
  const client = new Redis({ port: masterPort, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const info = await client.info('replication');
      if (/connected_slaves:1/.test(info) && /state=online/.test(info)) return;
      if (Date.now() > deadline) throw new Error(`replica of ${masterPort} not online within ${timeoutMs} ms`);
      await sleep(100);
    }
  } finally {
    client.disconnect();
  }
}
