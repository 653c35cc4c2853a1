/**
 * Each workspace's bot credentials, read from the encrypted installation store on the work side itself (not
 * sent along with each request from the ingress): a token then never crosses the thread boundary or sits in a
 * durable work item in Redis in clear, and work re-run later by the sweeper uses the token valid at that time,
 * not the one current when Slack delivered the event. Decrypted credentials are kept in memory for a short time
 * (default 60 s) so a busy workspace does not cost a Redis read and a decryption per Slack call; `forget` drops
 * them at once when the workspace uninstalls. Tokens are never logged.
 */
import { DeskhandError } from '../../errors.ts';
import type { RedisInstallationStore } from './redis-installation-store.ts';

export interface BotCredentials {
  token: string;
  botUserId: string | undefined;
  botId: string | undefined;
}

export class InstallationTokens {
  readonly #store: Pick<RedisInstallationStore, 'installationOf'>;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { credentials: Promise<BotCredentials>; expiresAt: number }>();
  /** The last credentials read per tenant, for synchronous readers of the bot ids. */
  readonly #known = new Map<string, BotCredentials>();

  constructor(options: { store: Pick<RedisInstallationStore, 'installationOf'>; ttlMs?: number }) {
    this.#store = options.store;
    this.#ttlMs = options.ttlMs ?? 60_000;
  }

  /** The bot credentials of a tenant (`T…` or `E…`); `not_authorised` when it has no installation with a bot. */
  botOf(tenantId: string): Promise<BotCredentials> {
    const cached = this.#cache.get(tenantId);
    if (cached && cached.expiresAt > Date.now()) return cached.credentials;
    const credentials = this.#load(tenantId);
    this.#cache.set(tenantId, { credentials, expiresAt: Date.now() + this.#ttlMs });
    // A failed read is not cached: the next call asks the store again.
    credentials.catch(() => this.#cache.delete(tenantId));
    return credentials;
  }

  /** Drops a tenant's cached credentials (after an uninstall or a token revocation). */
  forget(tenantId: string): void {
    this.#cache.delete(tenantId);
    this.#known.delete(tenantId);
  }

  /**
   * The tenant's bot ids if its credentials were read already (any Slack call of the request reads them first),
   * e.g. to tell Deskhand's own messages in a thread; never the token.
   */
  botIdsOf(tenantId: string): { botUserId?: string; botId?: string } | undefined {
    const known = this.#known.get(tenantId);
    if (!known) return undefined;
    return {
      ...(known.botUserId ? { botUserId: known.botUserId } : {}),
      ...(known.botId ? { botId: known.botId } : {}),
    };
  }

  async #load(tenantId: string): Promise<BotCredentials> {
    const installation = await this.#store.installationOf(tenantId);
    if (!installation?.bot?.token) {
      throw new DeskhandError('not_authorised', `no bot installation for ${tenantId}`, {
        userMessage: 'Deskhand is not installed in this workspace any more. An admin has to install it again.',
        details: { tenant: tenantId },
      });
    }
    const credentials = {
      token: installation.bot.token,
      botUserId: installation.bot.userId,
      botId: installation.bot.id,
    };
    this.#known.set(tenantId, credentials);
    return credentials;
  }
}
