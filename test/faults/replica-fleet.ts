/**
 * The app replicas of the fault test: `node src/main.ts` processes (test/e2e/main-process-support.ts) with one
 * environment but for the port, the data directory and the Slack URL (each replica talks to the fake Slack
 * through its own tap, slack-tap.ts). A replica can be killed with SIGKILL and started again on its port. While
 * the fleet runs, every replica's `/readyz` is polled every 250 ms and each change recorded, so the report can
 * say how long each replica was not ready and why.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exited, freePort, type MainProcess, startMain, waitUntilReady } from '../e2e/main-process-support.ts';
import { SlackTap, type TappedCall } from './slack-tap.ts';

export interface Replica {
  name: string;
  port: number;
  dataDir: string;
  tap: SlackTap;
  main: MainProcess;
  /** Output of earlier processes of this replica (before a kill). */
  earlierOutput: string[];
}

export interface ReadinessChange {
  replica: string;
  at: number;
  /** HTTP status of `/readyz`, 0 when nothing answered. */
  status: number;
  /** The body's failing checks or reason, as the app states them. */
  reason: string;
}

export class ReplicaFleet {
  readonly replicas: Replica[] = [];
  readonly egress: TappedCall[] = [];
  readonly readiness: ReadinessChange[] = [];
  #environment: (replica: { port: number; dataDir: string; slackUrl: string }) => Record<string, string>;
  #polling = false;
  #poller: Promise<void> | undefined;

  constructor(environment: (replica: { port: number; dataDir: string; slackUrl: string }) => Record<string, string>) {
    this.#environment = environment;
  }

  /** Starts `count` replicas side by side and waits until each answers `/readyz` 200. */
  async start(count: number, slackUrl: string, readyTimeoutMs = 90_000): Promise<void> {
    for (let index = 0; index < count; index += 1) {
      const name = `r${index + 1}`;
      const tap = await SlackTap.start(name, slackUrl, this.egress);
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), `deskhand-faults-${name}-`));
      const main = startMain(this.#environment({ port, dataDir, slackUrl: tap.url }));
      this.replicas.push({ name, port, dataDir, tap, main, earlierOutput: [] });
    }
    await Promise.all(this.replicas.map((replica) => waitUntilReady(replica.port, replica.main, readyTimeoutMs)));
  }

  replica(name: string): Replica {
    const replica = this.replicas.find((candidate) => candidate.name === name);
    if (!replica) throw new Error(`no replica ${name}`);
    return replica;
  }

  /** SIGKILL: no shutdown hook runs, nothing is drained. Resolves once the process has exited. */
  async kill(name: string): Promise<void> {
    const replica = this.replica(name);
    replica.main.child.kill('SIGKILL');
    await exited(replica.main.child);
  }

  /** Starts the replica again on its port and data directory; resolves once `/readyz` answers 200. */
  async restart(name: string, readyTimeoutMs = 90_000): Promise<number> {
    const replica = this.replica(name);
    replica.earlierOutput.push(replica.main.output());
    const started = Date.now();
    replica.main = startMain(
      this.#environment({ port: replica.port, dataDir: replica.dataDir, slackUrl: replica.tap.url }),
    );
    await waitUntilReady(replica.port, replica.main, readyTimeoutMs);
    return Date.now() - started;
  }

  /** Every line any process of the replica wrote. */
  output(name: string): string {
    const replica = this.replica(name);
    return [...replica.earlierOutput, replica.main.output()].join('\n');
  }

  /** Writes every replica's output (all its processes) to `<directory>/<name>.log`, and the taps' calls. */
  saveLogs(directory: string): void {
    for (const replica of this.replicas)
      writeFileSync(join(directory, `${replica.name}.log`), this.output(replica.name));
    writeFileSync(join(directory, 'slack-egress.jsonl'), this.egress.map((call) => JSON.stringify(call)).join('\n'));
  }

  /** Polls every replica's `/readyz` every 250 ms until `stopPolling`, recording each change of status. */
  startPolling(): void {
    this.#polling = true;
    const last = new Map<string, string>();
    this.#poller = (async () => {
      while (this.#polling) {
        await Promise.all(
          this.replicas.map(async (replica) => {
            const change = await probe(replica);
            const key = `${change.status} ${change.reason}`;
            if (last.get(replica.name) !== key) {
              last.set(replica.name, key);
              this.readiness.push(change);
            }
          }),
        );
        await sleep(250);
      }
    })();
  }

  async stopPolling(): Promise<void> {
    this.#polling = false;
    await this.#poller;
  }

  /** SIGTERM to every running replica (SIGKILL after 20 s), then the taps and data directories. */
  async stop(): Promise<void> {
    await this.stopPolling();
    await Promise.all(
      this.replicas.map(async (replica) => {
        const child = replica.main.child;
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited(child);
        clearTimeout(timer);
      }),
    );
    for (const replica of this.replicas) {
      await replica.tap.close();
      rmSync(replica.dataDir, { recursive: true, force: true });
    }
  }
}

async function probe(replica: Replica): Promise<ReadinessChange> {
  const at = Date.now();
  try {
    const response = await fetch(`http://127.0.0.1:${replica.port}/readyz`, { signal: AbortSignal.timeout(2_000) });
    const body = await response.text();
    return { replica: replica.name, at, status: response.status, reason: response.status === 200 ? '' : body };
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    return { replica: replica.name, at, status: 0, reason: code };
  }
}
