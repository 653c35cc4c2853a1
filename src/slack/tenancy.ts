/**
 * Which tenant a request belongs to. In Slack Connect and Enterprise Grid the envelope's `team_id` can be
 * another organisation's, so the tenant comes from `context_team_id` / `context_enterprise_id` when present,
 * then from the installation the request was authorised for (for a modal, `view.app_installed_team_id`: one opened
 * from a Slack Connect channel is submitted with the submitter's own `team`), then from the installation the app
 * runs as (single-token mode: the team or enterprise `auth.test` named at start, passed in by the caller), and only
 * then from the envelope (docs/platform-facts.md, "Tenancy"). Button clicks, slash commands and shortcuts carry no
 * `authorizations` and no `context_*` fields: their `team` / `team_id` is the clicking user's workspace, so without
 * the installation a guest from another organisation would select that organisation's budgets, cache entries and
 * documents. An org-wide install is one tenant: the enterprise. Pure: no I/O.
 */

/** The installation the app runs as, from `auth.test` at start (single-token mode); unknown fields left out. */
export interface InstallationTenant {
  teamId?: string | undefined;
  enterpriseId?: string | undefined;
  isEnterpriseInstall?: boolean | undefined;
}

interface TenantFields {
  context_team_id?: string | null;
  context_enterprise_id?: string | null;
  is_enterprise_install?: boolean;
  team_id?: string | null;
  enterprise_id?: string | null;
  team?: { id?: string | null; enterprise_id?: string | null } | null;
  enterprise?: { id?: string | null } | null;
  user?: { team_id?: string | null } | null;
  view?: { app_installed_team_id?: string | null } | null;
  authorizations?: { team_id?: string | null; enterprise_id?: string | null; is_enterprise_install?: boolean }[];
}

/**
 * The tenant id used for budgets, caches and document access; undefined when neither the payload nor the
 * installation names one. `installation` is the app's own installation when it is known (single-token mode).
 */
export function tenantOf(body: unknown, installation?: InstallationTenant): string | undefined {
  if (typeof body !== 'object' || body === null) return installationTenant(installation);
  const fields = body as TenantFields;
  const authorized = fields.authorizations?.[0];
  const enterpriseInstall =
    fields.is_enterprise_install === true ||
    authorized?.is_enterprise_install === true ||
    installation?.isEnterpriseInstall === true;
  const enterpriseId =
    fields.context_enterprise_id ??
    authorized?.enterprise_id ??
    (installation?.isEnterpriseInstall ? installation.enterpriseId : undefined) ??
    fields.enterprise_id ??
    fields.enterprise?.id ??
    fields.team?.enterprise_id ??
    undefined;
  if (enterpriseInstall && enterpriseId) return enterpriseId;
  const teamId =
    fields.context_team_id ??
    authorized?.team_id ??
    fields.view?.app_installed_team_id ??
    installation?.teamId ??
    fields.team_id ??
    fields.team?.id ??
    fields.user?.team_id;
  return teamId ?? enterpriseId ?? undefined;
}

function installationTenant(installation: InstallationTenant | undefined): string | undefined {
  if (installation?.isEnterpriseInstall && installation.enterpriseId) return installation.enterpriseId;
  return installation?.teamId;
}

/** The fields of `auth.test`'s answer that name a bot and its installation. */
interface AuthTestFields {
  user_id?: string | undefined;
  bot_id?: string | undefined;
  team_id?: string | undefined;
  enterprise_id?: string | undefined;
  is_enterprise_install?: boolean | undefined;
}

/**
 * The bot and its installation from `auth.test` (single-token mode, learnt once at start). Keeping the team and
 * enterprise is what lets a Slack Connect guest's click be charged to the host installation (`tenantOf`).
 */
export function identityFromAuthTest(result: AuthTestFields): {
  botUserId?: string | undefined;
  botId?: string | undefined;
} & InstallationTenant {
  return {
    botUserId: result.user_id,
    botId: result.bot_id,
    teamId: result.team_id,
    enterpriseId: result.enterprise_id,
    isEnterpriseInstall: result.is_enterprise_install,
  };
}

/** What Bolt's `authorize` put in a request's context: the installation it found for the request (OAuth mode). */
interface AuthorizedContext {
  teamId?: string | undefined;
  enterpriseId?: string | undefined;
  isEnterpriseInstall?: boolean | undefined;
}

/**
 * The installation a request was authorised for: Bolt's context when `authorize` found one (OAuth mode, where
 * the identity learnt at start is empty because every workspace has its own bot), else the app's one installation
 * (single-token mode). Either way it is an installation's team, never a guest's.
 */
export function installationOf(
  context: AuthorizedContext | undefined,
  fallback: InstallationTenant,
): InstallationTenant {
  if (context?.teamId || context?.enterpriseId) {
    return {
      teamId: context.teamId,
      enterpriseId: context.enterpriseId,
      isEnterpriseInstall: context.isEnterpriseInstall,
    };
  }
  return fallback;
}
