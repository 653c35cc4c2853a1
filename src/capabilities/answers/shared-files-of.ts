/**
 * Reading shared files from Slack payloads. The payload is untrusted: `sharedFilesOf` keeps only files with a
 * private URL that are neither external nor tombstoned/hidden, and `newestFileSharedBy` keeps only files with a
 * private URL; both return `SharedFile`s and never throw.
 */
import { z } from 'zod';
import type { ThreadMessage } from '../../ports/messenger.ts';

/** A file shared in Slack, as the event or `files.info` describes it. */
export interface SharedFile {
  id: string;
  name: string;
  title?: string;
  mimetype?: string;
  /** Bytes, as Slack reports it (checked before downloading). */
  size?: number;
  urlPrivate: string;
  /** Permalink shown as the document's link in sources. */
  permalink?: string;
}

const slackFileSchema = z.object({
  id: z.string().min(1),
  name: z.string().optional(),
  title: z.string().optional(),
  mimetype: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  url_private: z.url().optional(),
  url_private_download: z.url().optional(),
  permalink: z.url().optional(),
  mode: z.string().optional(),
  is_external: z.boolean().optional(),
});

/**
 * The files of a Slack `message` event (`subtype: file_share`), as `SharedFile`s. The payload is untrusted: a
 * file without a private URL, an external file (Google Drive etc.) or a tombstoned/hidden one is skipped.
 * The download URL is preferred over the view URL.
 */
export function sharedFilesOf(event: unknown): SharedFile[] {
  if (typeof event !== 'object' || event === null || !Array.isArray((event as { files?: unknown }).files)) return [];
  const files: SharedFile[] = [];
  for (const raw of (event as { files: unknown[] }).files) {
    const parsed = slackFileSchema.safeParse(raw);
    if (!parsed.success) continue;
    const file = parsed.data;
    const url = file.url_private_download ?? file.url_private;
    if (!url || file.is_external || file.mode === 'tombstone' || file.mode === 'hidden_by_limit') continue;
    files.push({
      id: file.id,
      name: file.name ?? file.title ?? file.id,
      ...(file.title ? { title: file.title } : {}),
      ...(file.mimetype ? { mimetype: file.mimetype } : {}),
      ...(file.size !== undefined ? { size: file.size } : {}),
      urlPrivate: url,
      ...(file.permalink ? { permalink: file.permalink } : {}),
    });
  }
  return files;
}

/**
 * The file `/docs add` means: the newest file `userId` shared among `messages` (a thread, or the channel's
 * recent history as the Messenger returns it, oldest first).
 */
export function newestFileSharedBy(messages: readonly ThreadMessage[], userId: string): SharedFile | undefined {
  for (let index = messages.length - 1; index >= 0; index -= 1) {
    const message = messages[index] as ThreadMessage;
    if (message.user !== userId || !message.files) continue;
    for (let fileIndex = message.files.length - 1; fileIndex >= 0; fileIndex -= 1) {
      const file = message.files[fileIndex];
      if (!file?.urlPrivate) continue;
      return {
        id: file.id,
        name: file.name ?? file.id,
        ...(file.mimetype ? { mimetype: file.mimetype } : {}),
        ...(file.size !== undefined ? { size: file.size } : {}),
        urlPrivate: file.urlPrivate,
      };
    }
  }
  return undefined;
}
