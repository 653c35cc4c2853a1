/**
 * Bolt's `InstallationStore` in Redis, for OAuth distribution (many workspaces). Each installation is one string
 * key holding a sealed record (token-cipher.ts): the whole `Installation` object, tokens included, is encrypted
 * with AES-256-GCM, so nothing in Redis reveals a token, a team name or a user id.
 *
 * Keys (under `REDIS_KEY_PREFIX`): `installation:team:{T…}` for a workspace install, `installation:enterprise:{E…}`
 * for an org-wide (Enterprise Grid) install, which serves every workspace of the org — Bolt asks with
 * `isEnterpriseInstall: true` and the enterprise id, and Deskhand's tenant for such a request is the enterprise
 * (tenancy.ts). A workspace query that finds no workspace install falls back to its org's org-wide install.
 *
 * Rotation: a record read with a key other than the ring's first is rewritten with the first key (only if it is
 * still the record read, so a concurrent reinstall is never overwritten); `reencryptAll` does the same for every
 * installation at once. Reads never return a half-trusted value: a record that does not decrypt fails closed.
 */
import type { Installation, InstallationQuery, InstallationStore } from '@slack/bolt';
import type { RedisClient } from '../../adapters/redis-client.ts';
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { isSealedRecord, type KeyRing, open, type SealedRecord, seal } from './token-cipher.ts';

/** Replaces the record only if it is still the one read (rotation must not overwrite a newer install). */
const replaceIfUnchanged = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

export interface InstallationKey {
  kind: 'team' | 'enterprise';
  id: string;
}

export interface RedisInstallationStoreOptions {
  redis: RedisClient;
  keyPrefix: string;
  keys: KeyRing;
  logger: Logger;
}

export class RedisInstallationStore implements InstallationStore {
  readonly #redis: RedisClient;
  readonly #prefix: string;
  readonly #keys: KeyRing;
  readonly #logger: Logger;

  constructor(options: RedisInstallationStoreOptions) {
    this.#redis = options.redis;
    this.#prefix = `${options.keyPrefix}installation:`;
    this.#keys = options.keys;
    this.#logger = options.logger.child({ component: 'installation-store' });
  }

  /** The Redis key of an installation (also the additional authenticated data of its record). */
  redisKey(key: InstallationKey): string {
    return `${this.#prefix}${key.kind}:${key.id}`;
  }

  async storeInstallation<AuthVersion extends 'v1' | 'v2'>(
    installation: Installation<AuthVersion, boolean>,
  ): Promise<void> {
    const key = keyOfInstallation(installation);
    const redisKey = this.redisKey(key);
    await this.#redis.set(redisKey, JSON.stringify(seal(this.#keys, JSON.stringify(installation), redisKey)));
    this.#logger.info({ installation: key, keyId: this.#keys.primaryKeyId, code: 'ok' }, 'installation stored');
  }

  async fetchInstallation(query: InstallationQuery<boolean>): Promise<Installation<'v1' | 'v2', boolean>> {
    for (const key of keysToTry(query)) {
      const installation = await this.#read(key);
      if (installation) return installation;
    }
    const tenant = query.isEnterpriseInstall ? query.enterpriseId : (query.teamId ?? query.enterpriseId);
    this.#logger.warn({ tenant, code: 'not_authorised' }, 'no installation for this workspace');
    throw new DeskhandError('not_authorised', `no installation for ${tenant ?? 'an unknown workspace'}`, {
      userMessage: 'Deskhand is not installed in this workspace. An admin has to install it again.',
      details: { tenant },
    });
  }

  async deleteInstallation(query: InstallationQuery<boolean>): Promise<void> {
    const key = query.isEnterpriseInstall ? enterpriseKey(query.enterpriseId) : teamKey(query.teamId);
    if (!key) return;
    const removed = await this.#redis.del(this.redisKey(key));
    this.#logger.info({ installation: key, removed, code: 'ok' }, 'installation deleted');
  }

  /** The installation of a tenant id (`T…` workspace or `E…` org-wide), or undefined when there is none. */
  async installationOf(tenantId: string): Promise<Installation | undefined> {
    const key: InstallationKey = tenantId.startsWith('E')
      ? { kind: 'enterprise', id: tenantId }
      : { kind: 'team', id: tenantId };
    return this.#read(key);
  }

  /** Whether a tenant (`T…` or `E…`) has an installation, without reading it. */
  async hasTenant(tenantId: string): Promise<boolean> {
    const kind = tenantId.startsWith('E') ? 'enterprise' : 'team';
    return (await this.#redis.exists(this.redisKey({ kind, id: tenantId }))) > 0;
  }

  /** Deletes a tenant's installation (`T…` or `E…`); returns whether one existed. */
  async deleteTenant(tenantId: string): Promise<boolean> {
    const kind = tenantId.startsWith('E') ? 'enterprise' : 'team';
    return (await this.#redis.del(this.redisKey({ kind, id: tenantId }))) > 0;
  }

  /**
   * Rewrites every installation not sealed with the first key. Records no key in the ring opens are listed, not
   * thrown: one lost key must not stop the others from moving to the new key.
   */
  async reencryptAll(): Promise<{ rewritten: number; unreadable: string[] }> {
    let rewritten = 0;
    const unreadable: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${escapeGlob(this.#prefix)}*`, 'COUNT', 200);
      cursor = next;
      for (const redisKey of keys) {
        const raw = await this.#redis.get(redisKey);
        if (!raw) continue;
        try {
          if (await this.#rotateIfNeeded(redisKey, raw, parseRecord(raw, redisKey))) rewritten += 1;
        } catch {
          unreadable.push(redisKey);
        }
      }
    } while (cursor !== '0');
    const level = unreadable.length > 0 ? 'warn' : 'info';
    this.#logger[level]({ rewritten, unreadable, keyId: this.#keys.primaryKeyId }, 'installations re-encrypted');
    return { rewritten, unreadable };
  }

  async #read(key: InstallationKey): Promise<Installation | undefined> {
    const redisKey = this.redisKey(key);
    const raw = await this.#redis.get(redisKey);
    if (raw === null) return undefined;
    const record = parseRecord(raw, redisKey);
    let plaintext: string;
    try {
      plaintext = open(this.#keys, record, redisKey);
    } catch (error) {
      this.#logger.error({ installation: key, keyId: record.kid, code: 'configuration' }, 'installation unreadable');
      throw error;
    }
    await this.#rotateIfNeeded(redisKey, raw, record, plaintext);
    return JSON.parse(plaintext) as Installation;
  }

  /** Re-seals a record written with an older key; true when it was rewritten. */
  async #rotateIfNeeded(redisKey: string, raw: string, record: SealedRecord, plaintext?: string): Promise<boolean> {
    if (record.kid === this.#keys.primaryKeyId) return false;
    const text = plaintext ?? open(this.#keys, record, redisKey);
    const resealed = JSON.stringify(seal(this.#keys, text, redisKey));
    const replaced = Number(await this.#redis.eval(replaceIfUnchanged, 1, redisKey, raw, resealed)) === 1;
    if (replaced) {
      this.#logger.info({ redisKey, from: record.kid, to: this.#keys.primaryKeyId }, 'installation re-encrypted');
    }
    return replaced;
  }
}

/** Where an installation is kept: by enterprise for an org-wide install, else by workspace. */
export function keyOfInstallation(installation: Installation): InstallationKey {
  if (installation.isEnterpriseInstall && installation.enterprise?.id) {
    return { kind: 'enterprise', id: installation.enterprise.id };
  }
  if (installation.team?.id) return { kind: 'team', id: installation.team.id };
  throw new DeskhandError('invalid_input', 'installation has neither a team id nor an org-wide enterprise id', {
    userMessage: 'Slack returned an installation without a workspace or organisation id, so it was not saved.',
  });
}

function keysToTry(query: InstallationQuery<boolean>): InstallationKey[] {
  if (query.isEnterpriseInstall) return [enterpriseKey(query.enterpriseId)].filter(isKey);
  return [teamKey(query.teamId), enterpriseKey(query.enterpriseId)].filter(isKey);
}

function teamKey(id: string | undefined): InstallationKey | undefined {
  return id ? { kind: 'team', id } : undefined;
}

function enterpriseKey(id: string | undefined): InstallationKey | undefined {
  return id ? { kind: 'enterprise', id } : undefined;
}

function isKey(key: InstallationKey | undefined): key is InstallationKey {
  return key !== undefined;
}

function parseRecord(raw: string, redisKey: string): SealedRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (!isSealedRecord(parsed)) {
    throw new DeskhandError('configuration', `installation record at ${redisKey} is not a sealed record`, {
      userMessage:
        'Deskhand cannot read this workspace’s installation: its stored record is not encrypted. An admin has to reinstall the app.',
    });
  }
  return parsed;
}

/** Escapes Redis glob characters so a prefix matches literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`);
}
