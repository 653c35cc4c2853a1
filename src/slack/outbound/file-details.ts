/**
 * Payloads of Slack's read methods as the port's types, pure functions with no I/O.
 *
 * `toFileDetails`: a `files.info` `file` object as the port's `FileDetails`.
 * - `shares.public`/`shares.private` are flattened to one list of `{ channel, ts, threadTs? }` (a share
 *   without a `ts` is skipped; `threadTs` only when it differs from `ts`);
 * - no download URL for a file Slack does not serve to us (external, tombstoned, hidden by the plan's limit);
 * - empty strings count as absent; a pure function, no I/O.
 */
import type { ConversationSharing, FileDetails } from '../../ports/messenger.ts';

/** `files.info`'s `file` as `FileDetails`; `shares.public`/`shares.private` flattened to one list. */
export function toFileDetails(raw: Record<string, unknown>): FileDetails {
  const shares: FileDetails['shares'] = [];
  const byVisibility =
    typeof raw.shares === 'object' && raw.shares !== null ? (raw.shares as Record<string, unknown>) : {};
  for (const visibility of ['public', 'private']) {
    const channels = byVisibility[visibility];
    if (typeof channels !== 'object' || channels === null) continue;
    for (const [channel, list] of Object.entries(channels as Record<string, unknown>)) {
      if (!Array.isArray(list)) continue;
      for (const share of list as Record<string, unknown>[]) {
        const ts = optionalString(share?.ts);
        if (!ts) continue;
        const threadTs = optionalString(share.thread_ts);
        shares.push({ channel, ts, ...(threadTs && threadTs !== ts ? { threadTs } : {}) });
      }
    }
  }
  const external = raw.is_external === true || raw.mode === 'tombstone' || raw.mode === 'hidden_by_limit';
  const urlPrivate = external
    ? undefined
    : (optionalString(raw.url_private_download) ?? optionalString(raw.url_private));
  const name = optionalString(raw.name);
  const title = optionalString(raw.title);
  const mimetype = optionalString(raw.mimetype);
  const permalink = optionalString(raw.permalink);
  const user = optionalString(raw.user);
  return {
    id: String(raw.id),
    ...(name ? { name } : {}),
    ...(title ? { title } : {}),
    ...(mimetype ? { mimetype } : {}),
    ...(typeof raw.size === 'number' ? { size: raw.size } : {}),
    ...(urlPrivate ? { urlPrivate } : {}),
    ...(permalink ? { permalink } : {}),
    ...(user ? { user } : {}),
    shares,
  };
}

/**
 * `toConversationSharing`: a `conversations.info` `channel` object as the port's `ConversationSharing`; only a
 * boolean `true` sets a flag (absent or malformed flags are false), the id falls back to the one asked about.
 */
export function toConversationSharing(raw: Record<string, unknown>, channel: string): ConversationSharing {
  return {
    id: optionalString(raw.id) ?? channel,
    isShared: raw.is_shared === true,
    isExtShared: raw.is_ext_shared === true,
    isOrgShared: raw.is_org_shared === true,
    isPendingExtShared: raw.is_pending_ext_shared === true,
    isIm: raw.is_im === true,
  };
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
