/**
 * The Redis side of the scale-out fault test: a master, one replica and three sentinels (`redis-server
 * --sentinel`, quorum 2, `down-after-milliseconds` 1000) started from this machine's `redis-server` in a temporary
 * directory (test/integration/local-redis-topology.ts), and the faults done to it:
 * - `killMaster()`: SIGKILL of the master the sentinels name, then `waitForFailover()` until they name another
 *   one (the killed server is started again, empty, and the sentinels turn it into a replica of the new master);
 * - `restartMasterWithoutPersistence()`: SIGKILL of the current master and an immediate start of an empty server on
 *   the same port (no RDB, no AOF) — quicker than `down-after-milliseconds`, so the sentinels do not fail over, and
 *   the replica resynchronises from the empty master: every key is gone, as after a restart without persistence;
 * - `stop()`: every process killed and the directory removed (called from `after`, so also when the test fails).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  type LocalRedisProcesses,
  type LocalServer,
  startLocalSentinels,
} from '../integration/local-redis-topology.ts';

export interface SentinelGroupPorts {
  masterPort: number;
  replicaPort: number;
  sentinelPorts: number[];
}

export class SentinelGroup {
  readonly name: string;
  readonly ports: SentinelGroupPorts;
  #processes: LocalRedisProcesses;
  #servers = new Map<number, LocalServer>();
  #restarts = 0;

  private constructor(name: string, ports: SentinelGroupPorts, processes: LocalRedisProcesses) {
    this.name = name;
    this.ports = ports;
    this.#processes = processes;
  }

  static async start(name: string, ports: SentinelGroupPorts): Promise<SentinelGroup> {
    const started = await startLocalSentinels({ name, ...ports });
    const group = new SentinelGroup(name, ports, started.processes);
    group.#servers.set(ports.masterPort, started.master);
    group.#servers.set(ports.replicaPort, started.replica);
    return group;
  }

  /** `host:port,…` of the sentinels, as `REDIS_SENTINELS` takes it. */
  get sentinelList(): string {
    return this.ports.sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',');
  }

  /** The port of the master the sentinels name now (asked of the first sentinel that answers). */
  async masterPort(): Promise<number> {
    for (const port of this.ports.sentinelPorts) {
      const sentinel = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
      sentinel.on('error', () => {});
      try {
        const [, masterPort] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name)) as [
          string,
          string,
        ];
        return Number(masterPort);
      } catch {
        // the next sentinel
      } finally {
        sentinel.disconnect();
      }
    }
    throw new Error('no sentinel answered GET-MASTER-ADDR-BY-NAME');
  }

  /** A plain client of the server on `port` (the caller disconnects it). */
  client(port: number): Redis {
    const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 2 });
    client.on('error', () => {});
    return client;
  }

  /** A client of whichever server the sentinels name as master (follows failovers; the caller disconnects it). */
  masterClient(): Redis {
    const client = new Redis({
      sentinels: this.ports.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      name: this.name,
      failoverDetector: true,
      maxRetriesPerRequest: 5,
    });
    client.on('error', () => {});
    return client;
  }

  /** SIGKILL of the current master; resolves with its port once it has exited. */
  async killMaster(): Promise<number> {
    const port = await this.masterPort();
    await this.#kill(port);
    return port;
  }

  /** Waits until the sentinels name a master other than `oldPort` that answers as master; returns its port. */
  async waitForFailover(oldPort: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const port = await this.masterPort().catch(() => oldPort);
      if (port !== oldPort && (await this.#role(port)) === 'master') return port;
      await sleep(50);
    }
    throw new Error(`the sentinels did not fail over from ${oldPort} within ${timeoutMs} ms`);
  }

  /** Starts an empty server on a port whose server was killed (the sentinels reconfigure it as a replica). */
  async startAgain(port: number): Promise<void> {
    // A file name of its own: the servers share one directory, and a replica keeps the RDB its master sent it for
    // the full sync under the configured name, which a restart would otherwise load (a restart WITH data).
    this.#restarts += 1;
    const file = `never-saved-${port}-${this.#restarts}.rdb`;
    this.#servers.set(port, await this.#processes.start(port, [`dbfilename ${file}`]));
  }

  /** Waits until the master on `masterPort` has an online replica. */
  async waitForReplica(masterPort: number, timeoutMs = 30_000): Promise<void> {
    const client = this.client(masterPort);
    const deadline = Date.now() + timeoutMs;
    try {
      while (Date.now() < deadline) {
        const info = await client.info('replication').catch(() => '');
        if (/connected_slaves:1/.test(info) && /state=online/.test(info)) return;
        await sleep(100);
      }
      throw new Error(`no replica of ${masterPort} came online within ${timeoutMs} ms`);
    } finally {
      client.disconnect();
    }
  }

  /**
   * SIGKILL of the current master and an empty server started at once on its port. Returns the port and the
   * number of keys before and after (the second read waits until the replica has resynchronised).
   */
  async restartMasterWithoutPersistence(): Promise<{ port: number; keysBefore: number; keysAfter: number }> {
    const port = await this.masterPort();
    const before = this.client(port);
    const keysBefore = await before.dbsize().finally(() => before.disconnect());
    await this.#kill(port);
    await this.startAgain(port);
    const after = this.client(port);
    const keysAfter = await after.dbsize().finally(() => after.disconnect());
    return { port, keysBefore, keysAfter };
  }

  async stop(): Promise<void> {
    await this.#processes.stop();
  }

  async #kill(port: number): Promise<void> {
    const server = this.#servers.get(port);
    if (!server) throw new Error(`no server of this group on port ${port}`);
    if (server.process.exitCode !== null || server.process.signalCode !== null) return;
    const exited = new Promise((resolve) => server.process.once('exit', resolve));
    this.#processes.kill(server);
    await exited;
  }

  async #role(port: number): Promise<string | undefined> {
    const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      const role = (await client.call('ROLE')) as [string, ...unknown[]];
      return role[0];
    } catch {
      return undefined;
    } finally {
      client.disconnect();
    }
  }
}
