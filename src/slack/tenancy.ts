/**
 * Which tenant a request belongs to. In Slack Connect and Enterprise Grid the envelope's `team_id` can be
 * another organisation's, so the tenant comes from `context_team_id` / `context_enterprise_id` when present,
 * then from the installation the request was authorised for (for a modal, `view.app_installed_team_id`: one opened
 * from a Slack Connect channel is submitted with the submitter's own `team`), and only then from the envelope
 * (docs/platform-facts.md, "Tenancy"). An org-wide install is one tenant: the enterprise.
 */

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

/** The tenant id used for budgets, caches and document access; undefined when the payload carries none. */
export function tenantOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const fields = body as TenantFields;
  const installation = fields.authorizations?.[0];
  const enterpriseInstall = fields.is_enterprise_install === true || installation?.is_enterprise_install === true;
  const enterpriseId =
    fields.context_enterprise_id ??
    installation?.enterprise_id ??
    fields.enterprise_id ??
    fields.enterprise?.id ??
    fields.team?.enterprise_id ??
    undefined;
  if (enterpriseInstall && enterpriseId) return enterpriseId;
  const teamId =
    fields.context_team_id ??
    installation?.team_id ??
    fields.view?.app_installed_team_id ??
    fields.team_id ??
    fields.team?.id ??
    fields.user?.team_id;
  return teamId ?? enterpriseId ?? undefined;
}
