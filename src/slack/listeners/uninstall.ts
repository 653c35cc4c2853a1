/**
 * `app_uninstalled` and `tokens_revoked` (bot tokens) in OAuth mode: the workspace's installation is deleted at
 * once — so no token of that workspace is used again, even by work already queued — and the deletion of its data
 * is recorded in Redis before the ack (workspace-purge.ts), so it happens even if this process dies now. The work
 * side, which owns the vector index, deletes the data and writes the audit entry. A revocation of user tokens only
 * (`tokens.oauth`) concerns no data Deskhand keeps and is ignored. Bolt does not authorise these two events (the
 * installation may be gone), so the tenant comes from the envelope (tenancy.ts) — and for an org-wide (Enterprise
 * Grid) install, whose envelope names a workspace of the org but whose tenant is the org, from the installation
 * that exists: the org's, when the workspace has none of its own. (An org-wide app removed from one workspace gets
 * `app_uninstalled_team` instead, which deletes nothing: the org keeps the app.)
 */
import type { App } from '@slack/bolt';
import type { Logger } from '../../observability/logger.ts';
import type { RedisInstallationStore } from '../installations/redis-installation-store.ts';
import type { PurgeReason } from '../installations/workspace-purge.ts';
import { tenantOf } from '../tenancy.ts';

export interface UninstallListenerDependencies {
  /** Records that the workspace's data must be deleted (`requestPurge` on the app's Redis). */
  requestPurge: (workspaceId: string, reason: PurgeReason) => Promise<void>;
  installations: Pick<RedisInstallationStore, 'deleteTenant' | 'hasTenant'>;
  logger: Logger;
}

export function register(app: App, dependencies: UninstallListenerDependencies): void {
  app.event('app_uninstalled', async ({ body }) => {
    await forget(body, 'app_uninstalled', dependencies);
  });
  app.event('tokens_revoked', async ({ event, body }) => {
    const bots = event.tokens.bot ?? [];
    if (bots.length === 0) {
      dependencies.logger.info({ tenant: tenantOf(body), code: 'ok' }, 'user tokens revoked; nothing to delete');
      return;
    }
    await forget(body, 'tokens_revoked', dependencies);
  });
}

async function forget(body: unknown, reason: PurgeReason, dependencies: UninstallListenerDependencies): Promise<void> {
  const { requestPurge, installations, logger } = dependencies;
  const workspaceId = await installedTenantOf(body, installations);
  if (!workspaceId) {
    logger.warn({ reason, code: 'invalid_input' }, 'uninstall event without a workspace; nothing deleted');
    return;
  }
  const removed = await installations.deleteTenant(workspaceId);
  // Stored before the ack: if this throws, Slack is not acknowledged and retries the event.
  await requestPurge(workspaceId, reason);
  logger.info({ workspaceId, reason, installationRemoved: removed, code: 'ok' }, 'workspace data deletion requested');
}

/** The envelope's tenant, or its org when only the org has an installation (an org-wide install). */
async function installedTenantOf(
  body: unknown,
  installations: Pick<RedisInstallationStore, 'hasTenant'>,
): Promise<string | undefined> {
  const tenant = tenantOf(body);
  const enterpriseId = (body as { enterprise_id?: unknown }).enterprise_id;
  if (typeof enterpriseId !== 'string' || !enterpriseId || tenant === enterpriseId) return tenant;
  if (tenant && (await installations.hasTenant(tenant))) return tenant;
  return (await installations.hasTenant(enterpriseId)) ? enterpriseId : tenant;
}
