/**
 * `ConfigExportFollower`: keeps a replica's local export (the ledger files) holding the caps and settings snapshot its
 * workspaces run on, so a restore after Redis lost everything (config stream included) finds the settings too.
 *
 * Cap changes are exported by the replica that makes them (`BudgetStore.setChannelCap`). A settings save is written
 * to the config stream by the settings store's own script; a replica notices it when a workspace's budget policy
 * (default caps and admins, read before every reservation) differs from the last one it saw — on its first
 * reservation after a start too — and then appends the stream's newest snapshot to its export, off the caller's
 * path. Every replica thus exports what it enforces, even on its own disk. A settings change that leaves caps and
 * admins alone is exported with the next one that does not, or the next restore.
 */
import type { RedisClient } from '../adapters/redis-client.ts';
import { workspaceRecordKeys } from './budget-keys.ts';
import { exportedConfig } from './budget-restore.ts';
import type { SpendExport } from './budget-types.ts';
import { readConfigRecord } from './spend-record.ts';

/** Workspaces remembered per replica (the least recently seen go first). */
const maxRemembered = 10_000;

export class ConfigExportFollower {
  readonly #redis: RedisClient;
  readonly #keyPrefix: string;
  readonly #spendExport: SpendExport;
  readonly #onError: (workspaceId: string, error: unknown) => void;
  readonly #seen = new Map<string, string>();

  constructor(
    redis: RedisClient,
    keyPrefix: string,
    spendExport: SpendExport,
    onError: (workspaceId: string, error: unknown) => void,
  ) {
    this.#redis = redis;
    this.#keyPrefix = keyPrefix;
    this.#spendExport = spendExport;
    this.#onError = onError;
  }

  /** Notes the policy a reservation runs on; exports the workspace's snapshot when it changed (in the background). */
  observe(workspaceId: string, policy: unknown): void {
    const fingerprint = JSON.stringify(policy);
    if (this.#seen.get(workspaceId) === fingerprint) return;
    this.#seen.delete(workspaceId);
    this.#seen.set(workspaceId, fingerprint);
    if (this.#seen.size > maxRemembered) this.#seen.delete(this.#seen.keys().next().value ?? '');
    this.#export(workspaceId).catch((error: unknown) => {
      this.#seen.delete(workspaceId); // try again with the next reservation
      this.#onError(workspaceId, error);
    });
  }

  async #export(workspaceId: string): Promise<void> {
    const snapshot = await readConfigRecord(this.#redis, workspaceRecordKeys(this.#keyPrefix, workspaceId).config);
    if (snapshot) await this.#spendExport.appendConfig(workspaceId, exportedConfig(snapshot));
  }
}
