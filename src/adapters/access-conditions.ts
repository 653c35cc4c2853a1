/**
 * The Qdrant filter conditions every read and delete is built from. `accessConditions` is the access rule:
 * workspace AND scope ∈ {workspace, channel:C}, so a read sees the asking workspace's workspace-scoped points and
 * the asking channel's channel-scoped points, nothing else; a `channelOnly` scope drops `workspace` from the set, so
 * an externally shared channel's reads never match workspace-wide points (the index-version metadata point has no `scope`, so it
 * never matches). `documentConditions` selects one document of one workspace, whatever its scope.
 */
import type { AccessScope } from '../ports/vector-index.ts';

export type Filter = Record<string, unknown>;

export function accessConditions(access: AccessScope): Filter[] {
  return [
    { key: 'workspaceId', match: { value: access.workspaceId } },
    { key: 'scope', match: { any: visibleScopes(access) } },
  ];
}

/** The document scopes a reader may see: its channel's, and the workspace's unless the scope is channel-only. */
export function visibleScopes(access: AccessScope): string[] {
  const channel = `channel:${access.channelId}`;
  return access.channelOnly === true ? [channel] : ['workspace', channel];
}

export function documentConditions(workspaceId: string, documentId: string): Filter[] {
  return [
    { key: 'workspaceId', match: { value: workspaceId } },
    { key: 'documentId', match: { value: documentId } },
  ];
}
