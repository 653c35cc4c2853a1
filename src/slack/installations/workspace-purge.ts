/**
 * What happens to a workspace's data when it uninstalls Deskhand or revokes its bot token (`app_uninstalled`,
 * `tokens_revoked`): its installation, documents, response-cache entries, budgets, approvals and agent runs,
 * tickets, feedback, thread memory, recent file shares and embedding cache are deleted, an audit log entry lists
 * how much of each went, and no other workspace's data is touched.
 *
 * Two halves, because the ingress receives the event but the work side owns the vector index:
 * - the listener (src/slack/listeners/uninstall.ts) deletes the installation at once (no token of that workspace
 *   is used again) and records the purge in a Redis sorted set before the ack (`requestPurge`), so it survives a
 *   crash like any durable work;
 * - the work side's `WorkspacePurger` polls that set, claims each entry with a lease (one replica purges it; a
 *   purger that dies leaves it due again), deletes everything, then removes the entry.
 * A poll needs no change to the work protocol, and an uninstall is rare enough that a second's delay costs nothing.
 *
 * Keys are found in one SCAN of the key prefix and classified by the prefixes listed in `workspaceKeyPrefixes`,
 * the one list of where per-workspace data lives (add a store's prefix here when adding a store). Feedback records
 * carry no workspace in their key, so their value is read. The spend ledger on disk is kept: it is the record of
 * money already spent, not workspace content.
 */

import type { RedisClient } from '../../adapters/redis-client.ts';
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { VectorIndex } from '../../ports/vector-index.ts';
import { escapeGlob } from './redis-installation-store.ts';

/** Tenant ids are Slack ids (`T…`, `E…`); anything else is refused before a key pattern is built from it. */
const tenantIdPattern = /^[TE][A-Z0-9]{1,40}$/;

/** Where each kind of per-workspace data lives, as key prefixes under `REDIS_KEY_PREFIX` (see the header). */
export function workspaceKeyPrefixes(workspaceId: string): { label: string; prefix: string; exact?: boolean }[] {
  return [
    { label: 'response_cache', prefix: `{${workspaceId}}:cache:` },
    { label: 'budgets', prefix: `{${workspaceId}}:budget:` },
    { label: 'settings', prefix: `{${workspaceId}}:settings` },
    { label: 'channel_sharing', prefix: `{${workspaceId}}:channel-sharing:` },
    { label: 'assistant_threads', prefix: `{${workspaceId}}:assistant:` },
    { label: 'weekly_report_activity', prefix: `{${workspaceId}}:report:` },
    { label: 'hand_overs', prefix: `{${workspaceId}}:handover:` },
    { label: 'answer_feedback', prefix: `{${workspaceId}}:answers:` },
    { label: 'other_workspace_keys', prefix: `{${workspaceId}}:` },
    { label: 'approvals_and_agent_runs', prefix: `agent:{${workspaceId}}:` },
    { label: 'ticket_examples', prefix: `ticket-examples:{${workspaceId}}:` },
    { label: 'tickets', prefix: `ticket:{${workspaceId}}:` },
    { label: 'thread_memory', prefix: `thread:${workspaceId}:` },
    { label: 'recent_file_shares', prefix: `docs:recent-file:${workspaceId}:` },
    { label: 'document_uploaders', prefix: `docs:uploader:${workspaceId}`, exact: true },
    { label: 'embedding_cache', prefix: `embedding:${workspaceId}:` },
    { label: 'index_version', prefix: `index-version:${workspaceId}`, exact: true },
  ];
}

// One hash tag for both: a request writes them in one MULTI, which a Redis Cluster accepts only within one slot.
const pendingKey = (keyPrefix: string) => `${keyPrefix}{workspace-purge}:pending`;
const reasonKey = (keyPrefix: string) => `${keyPrefix}{workspace-purge}:reason`;

/** Claims an entry that is due by pushing its score a lease ahead; 1 when this caller got it. */
const claimScript = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`;

export type PurgeReason = 'app_uninstalled' | 'tokens_revoked';

/** Records that a workspace's data must be deleted (called by the listener before the ack). */
export async function requestPurge(
  redis: RedisClient,
  keyPrefix: string,
  workspaceId: string,
  reason: PurgeReason,
): Promise<void> {
  assertTenantId(workspaceId);
  await redis
    .multi()
    .zadd(pendingKey(keyPrefix), 'NX', Date.now(), workspaceId)
    .hset(reasonKey(keyPrefix), workspaceId, reason)
    .exec();
}

export interface WorkspacePurgerOptions {
  redis: RedisClient;
  keyPrefix: string;
  vectorIndex: VectorIndex;
  logger: Logger;
  /** Deletes the installation (again: idempotent) so a purge requested by hand also stops the token's use. */
  deleteInstallation: (workspaceId: string) => Promise<boolean>;
  /** Drops what the work side keeps in memory for the workspace (cached token, its messenger). */
  forgetInMemory?: (workspaceId: string) => Promise<void>;
  /** How often pending purges are looked for (default 1 s). */
  pollIntervalMs?: number;
  /** How long a claimed purge is reserved before another replica may take it over (default 5 min). */
  leaseMs?: number;
}

export type PurgeReport = Record<string, number> & { documents: number; installation: number };

export class WorkspacePurger {
  readonly #options: WorkspacePurgerOptions;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(options: WorkspacePurgerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'workspace-purge' });
  }

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      this.#running = this.runDue()
        .then(() => undefined)
        .catch((error: unknown) => this.#logger.error({ err: error, code: 'internal' }, 'workspace purge poll failed'))
        .finally(() => {
          this.#running = undefined;
          if (this.#timer) this.#timer = setTimeout(tick, this.#options.pollIntervalMs ?? 1_000).unref();
        });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Purges every due workspace this replica can claim; returns the workspaces purged. */
  async runDue(now = Date.now()): Promise<string[]> {
    const { redis, keyPrefix } = this.#options;
    const due = await redis.zrangebyscore(pendingKey(keyPrefix), '-inf', now, 'LIMIT', 0, 10);
    const purged: string[] = [];
    for (const workspaceId of due) {
      const lease = now + (this.#options.leaseMs ?? 300_000);
      const claimed = await redis.eval(claimScript, 1, pendingKey(keyPrefix), workspaceId, now, lease);
      if (Number(claimed) !== 1) continue;
      const reason = (await redis.hget(reasonKey(keyPrefix), workspaceId)) ?? 'requested';
      await this.purge(workspaceId, reason);
      await redis.multi().zrem(pendingKey(keyPrefix), workspaceId).hdel(reasonKey(keyPrefix), workspaceId).exec();
      purged.push(workspaceId);
    }
    return purged;
  }

  /** Deletes one workspace's data now and writes the audit entry; returns how much of each kind went. */
  async purge(workspaceId: string, reason: string): Promise<PurgeReport> {
    assertTenantId(workspaceId);
    const { vectorIndex, deleteInstallation, forgetInMemory } = this.#options;
    const installation = (await deleteInstallation(workspaceId)) ? 1 : 0;
    await forgetInMemory?.(workspaceId);
    const documentIds = await vectorIndex.deleteWorkspace(workspaceId);
    const keys = await this.#deleteKeys(workspaceId);
    const feedback = await this.#deleteFeedback(workspaceId);
    const approvalsExpiring = await this.#deleteExpiringApprovals(workspaceId);
    const report = { installation, documents: documentIds.length, ...keys, feedback, approvalsExpiring };
    this.#logger.info(
      { audit: 'workspace_data_deleted', workspaceId, reason, deleted: report, documentIds, code: 'ok' },
      'workspace uninstalled: its data was deleted',
    );
    return report;
  }

  async #deleteKeys(workspaceId: string): Promise<Record<string, number>> {
    const { redis, keyPrefix } = this.#options;
    const kinds = workspaceKeyPrefixes(workspaceId).map((kind) => ({ ...kind, prefix: `${keyPrefix}${kind.prefix}` }));
    const counts: Record<string, number> = Object.fromEntries(kinds.map((kind) => [kind.label, 0]));
    for await (const keys of scanKeys(redis, `${escapeGlob(keyPrefix)}*`)) {
      const doomed: string[] = [];
      for (const key of keys) {
        // The first matching kind counts it: specific prefixes come before the catch-all of their hash tag.
        const kind = kinds.find((candidate) =>
          candidate.exact ? key === candidate.prefix : key.startsWith(candidate.prefix),
        );
        if (!kind) continue;
        counts[kind.label] = (counts[kind.label] ?? 0) + 1;
        doomed.push(key);
      }
      // One DEL per key: keys of different hash tags may live in different cluster slots.
      for (const key of doomed) await redis.del(key);
    }
    return counts;
  }

  /**
   * Feedback recorded before its keys carried the workspace's hash tag (`answers:answer:<id>`, now
   * `{T…}:answers:…`, deleted with the workspace's other keys) names its workspace only in its value.
   */
  async #deleteFeedback(workspaceId: string): Promise<number> {
    const { redis, keyPrefix } = this.#options;
    const answerPrefix = `${keyPrefix}answers:answer:`;
    let deleted = 0;
    for await (const keys of scanKeys(redis, `${escapeGlob(answerPrefix)}*`)) {
      for (const key of keys) {
        const raw = await redis.get(key);
        if (!raw || workspaceOf(raw) !== workspaceId) continue;
        const answerId = key.slice(answerPrefix.length);
        await redis.del(key);
        await redis.del(`${keyPrefix}answers:votes:${answerId}`);
        await redis.zrem(`${keyPrefix}answers:voted`, answerId);
        deleted += 1;
      }
    }
    return deleted;
  }

  /** The approval expiry index is shared; its members are `workspace|request`. */
  async #deleteExpiringApprovals(workspaceId: string): Promise<number> {
    const { redis, keyPrefix } = this.#options;
    const key = `${keyPrefix}agent:approvals:expiring`;
    const members = (await redis.zrange(key, '0', '-1')).filter((member) => member.startsWith(`${workspaceId}|`));
    if (members.length > 0) await redis.zrem(key, ...members);
    return members.length;
  }
}

/** SCAN of every master: a Redis Cluster's SCAN sees only the node it is sent to. */
async function* scanKeys(redis: RedisClient, match: string): AsyncGenerator<string[]> {
  const nodes = 'nodes' in redis ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

function workspaceOf(raw: string): string | undefined {
  try {
    const parsed = JSON.parse(raw) as { workspaceId?: unknown };
    return typeof parsed.workspaceId === 'string' ? parsed.workspaceId : undefined;
  } catch {
    return undefined;
  }
}

function assertTenantId(workspaceId: string): void {
  if (tenantIdPattern.test(workspaceId)) return;
  throw new DeskhandError('invalid_input', 'refused to purge a workspace id that is not a Slack team or org id', {
    userMessage: 'That is not a Slack workspace id, so no data was deleted.',
    details: { workspaceId: workspaceId.slice(0, 64) },
  });
}
