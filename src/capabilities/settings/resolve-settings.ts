/**
 * `resolveSettings`: the settings in force for a workspace — its stored overrides over the environment's defaults.
 *
 * Guarantees:
 * - Top-level fields an admin set replace the default; `caps`, `tickets` and `channels` merge field by field, so
 *   changing one cap keeps the others' defaults.
 * - Never mutates its arguments; the result shares no arrays or objects with them (callers may keep it in a cache).
 * - A field the overrides leave out keeps the default; an override cannot remove an optional default (e.g. the
 *   triage channel set in the environment) — it can only replace it.
 */
import type { WorkspaceSettings, WorkspaceSettingsOverrides } from '../../ports/workspace-settings.ts';

export function resolveSettings(defaults: WorkspaceSettings, overrides: WorkspaceSettingsOverrides): WorkspaceSettings {
  const merged: WorkspaceSettings = {
    ...defaults,
    ...definedOnly(overrides),
    caps: { ...defaults.caps, ...definedOnly(overrides.caps ?? {}) },
    tickets: { ...defaults.tickets, ...definedOnly(overrides.tickets ?? {}) },
    channels: { ...defaults.channels, ...definedOnly(overrides.channels ?? {}) },
  };
  return structuredClone(merged);
}

/** The object without its `undefined` fields, so an absent override never hides a default. */
function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
