/**
 * The settings modal's two handlers on the work side: `open` (the `settings_open` button) and `submit` (the
 * `settings_edit` view submission).
 *
 * Guarantees:
 * - Admin-only, decided here on the work side from the workspace's settings (`admins`, default `ADMIN_USER_IDS`),
 *   both when opening and on submit; never from the button's value or the modal's metadata. A refused person sees a
 *   modal saying why (who the admins are, or how to set `ADMIN_USER_IDS` when there are none), and the refusal is
 *   logged (`settings_refused`).
 * - The modal's metadata must name the submitter's own workspace; a modal opened in one workspace cannot save
 *   another's.
 * - `submit` validates and saves before the ack (one Redis read and one script): invalid input comes back as
 *   field errors (`response_action: errors`); a save over someone else's newer one is refused the same way.
 * - After a save, `onSettingsChanged(workspaceId, userId)` runs after the ack (e.g. the App Home is published again).
 */
import type { Logger } from '../../observability/logger.ts';
import type { CapabilityOutcome } from '../../ports/capability.ts';
import type { Messenger } from '../../ports/messenger.ts';
import { settingsBlockIds } from '../../slack-kit/settings-ids.ts';
import { buildSettingsModal, type SettingsModalMetadata } from './settings-modal.ts';
import { parseSettingsSubmission, type SettingsViewValues } from './settings-submission.ts';
import type { WorkspaceSettingsService } from './workspace-settings-service.ts';

export interface SettingsHandlerDependencies {
  settings: WorkspaceSettingsService;
  messenger: Pick<Messenger, 'openView'>;
  logger: Logger;
  /** Why a model cannot be used (no price: budgets could not hold it), or undefined. */
  modelProblem: (model: string) => string | undefined;
  /** Whether `TICKET_WEBHOOK_SECRET` is set (a webhook URL is refused without it). */
  webhookSecretConfigured: boolean;
  onSettingsChanged?: (workspaceId: string, userId: string) => Promise<void>;
}

/** A click on `settings_open` (structurally the work side's `ActionRequest`). */
export interface SettingsOpenRequest {
  workspaceId: string;
  userId: string;
  triggerId: string | undefined;
}

/** A submission of the settings modal (structurally the work side's `ViewRequest`). */
export interface SettingsSubmitRequest {
  workspaceId: string;
  userId: string;
  privateMetadata: string;
  values: Record<string, Record<string, unknown>>;
}

export type SettingsSubmitResult = {
  response?: Record<string, unknown> & { response_action: 'errors' | 'update' };
  afterAck?: () => Promise<void>;
};

const noAdminsText =
  'No Deskhand admins are set for this workspace, so nobody can change its settings from Slack. Set ADMIN_USER_IDS ' +
  '(comma-separated Slack user ids, e.g. U0123ABCD) in Deskhand’s configuration and restart it; those people can then ' +
  'open the settings.';

/** A modal that only says `text`. */
export function settingsMessageModal(text: string): Record<string, unknown> {
  return {
    type: 'modal',
    title: { type: 'plain_text', text: 'Deskhand settings' },
    close: { type: 'plain_text', text: 'Close' },
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 3000) } }],
  };
}

export function createSettingsHandlers(dependencies: SettingsHandlerDependencies): {
  open: (request: SettingsOpenRequest) => Promise<CapabilityOutcome | undefined>;
  submit: (request: SettingsSubmitRequest) => Promise<SettingsSubmitResult>;
} {
  const { settings, messenger, logger } = dependencies;

  /** Undefined for an admin; else what the person is told (and the refusal is logged). */
  const refusal = async (workspaceId: string, userId: string, action: 'open' | 'save') => {
    const { admins } = await settings.get(workspaceId);
    if (admins.includes(userId)) return undefined;
    logger.warn(
      {
        code: 'not_authorised',
        event: 'settings_refused',
        workspaceId,
        userId,
        action,
        adminsConfigured: admins.length,
      },
      'workspace settings refused: not an admin',
    );
    if (admins.length === 0) return noAdminsText;
    const names = admins
      .slice(0, 20)
      .map((id) => `<@${id}>`)
      .join(', ');
    return `Only this workspace’s Deskhand admins can change its settings. Ask ${names}.`;
  };

  return {
    async open(request) {
      const refused = await refusal(request.workspaceId, request.userId, 'open');
      if (!request.triggerId) {
        return {
          kind: 'reply',
          visibility: 'ephemeral',
          text: refused ?? 'Open the settings again from the App Home.',
        };
      }
      if (refused) {
        await messenger.openView(request.triggerId, settingsMessageModal(refused));
        return undefined;
      }
      const current = await settings.current(request.workspaceId);
      const metadata: SettingsModalMetadata = { workspaceId: request.workspaceId, version: current.version };
      await messenger.openView(
        request.triggerId,
        buildSettingsModal({ settings: current.settings, defaults: settings.defaults, metadata }),
      );
      return undefined;
    },

    async submit(request) {
      const refused = await refusal(request.workspaceId, request.userId, 'save');
      if (refused) return { response: { response_action: 'update', view: settingsMessageModal(refused) } };
      const metadata = parseMetadata(request.privateMetadata);
      if (!metadata || metadata.workspaceId !== request.workspaceId) {
        logger.warn(
          {
            code: 'invalid_input',
            event: 'settings_refused',
            workspaceId: request.workspaceId,
            userId: request.userId,
          },
          'settings modal metadata does not match the submitter’s workspace',
        );
        const text = 'These settings belong to another workspace or the form is damaged. Open them again.';
        return { response: { response_action: 'update', view: settingsMessageModal(text) } };
      }
      const current = await settings.current(request.workspaceId);
      const parsed = parseSettingsSubmission(request.values as SettingsViewValues, {
        defaults: settings.defaults,
        current: current.overrides,
        modelProblem: dependencies.modelProblem,
        webhookSecretConfigured: dependencies.webhookSecretConfigured,
      });
      if (parsed.kind === 'invalid') {
        logger.info(
          {
            code: 'invalid_input',
            workspaceId: request.workspaceId,
            userId: request.userId,
            fields: Object.keys(parsed.errors),
          },
          'settings submission has invalid fields',
        );
        return { response: { response_action: 'errors', errors: parsed.errors } };
      }
      const saved = await settings.save({
        workspaceId: request.workspaceId,
        userId: request.userId,
        overrides: parsed.overrides,
        expectedVersion: metadata.version,
      });
      if (saved.kind === 'stale') {
        const text =
          'Someone saved these settings after you opened them. Close this form and open the settings again to see their changes.';
        return { response: { response_action: 'errors', errors: { [settingsBlockIds.admins]: text } } };
      }
      const changed = dependencies.onSettingsChanged;
      return changed && saved.kind === 'saved' ? { afterAck: () => changed(request.workspaceId, request.userId) } : {};
    },
  };
}

function parseMetadata(raw: string): SettingsModalMetadata | undefined {
  if (raw.length > 3000) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<SettingsModalMetadata>;
    if (typeof value.workspaceId !== 'string' || typeof value.version !== 'number') return undefined;
    return { workspaceId: value.workspaceId, version: value.version };
  } catch {
    return undefined;
  }
}
