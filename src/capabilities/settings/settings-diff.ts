/**
 * `settingsChanges`: what an admin's save changed, field by field (dotted paths such as `caps.channelDailyUsd`),
 * with the old and new value — the body of the settings audit entry.
 *
 * Guarantees:
 * - Compares the overrides before and after (what was stored), so a field reset to the default shows as a change
 *   to `undefined`.
 * - Values are shown as stored; a secret never reaches the settings (the webhook secret stays in the environment),
 *   and the webhook URL is shown by its origin only, since URLs of hooks often carry a token in their path.
 */
import type { WorkspaceSettingsOverrides } from '../../ports/workspace-settings.ts';

export interface SettingsChange {
  field: string;
  old: unknown;
  new: unknown;
}

const nested = new Set(['caps', 'tickets', 'channels']);

export function settingsChanges(
  before: WorkspaceSettingsOverrides,
  after: WorkspaceSettingsOverrides,
): SettingsChange[] {
  const changes: SettingsChange[] = [];
  const top = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of [...top].sort()) {
    const old = (before as Record<string, unknown>)[key];
    const next = (after as Record<string, unknown>)[key];
    if (nested.has(key)) {
      const oldObject = (old ?? {}) as Record<string, unknown>;
      const nextObject = (next ?? {}) as Record<string, unknown>;
      for (const field of [...new Set([...Object.keys(oldObject), ...Object.keys(nextObject)])].sort()) {
        pushIfChanged(changes, `${key}.${field}`, oldObject[field], nextObject[field]);
      }
    } else pushIfChanged(changes, key, old, next);
  }
  return changes;
}

function pushIfChanged(changes: SettingsChange[], field: string, old: unknown, next: unknown): void {
  if (JSON.stringify(old) === JSON.stringify(next)) return;
  const shown = (value: unknown) => (field === 'tickets.webhookUrl' ? urlOrigin(value) : value);
  changes.push({ field, old: shown(old), new: shown(next) });
}

function urlOrigin(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return `${new URL(value).origin}/…`;
  } catch {
    return '(invalid URL)';
  }
}
