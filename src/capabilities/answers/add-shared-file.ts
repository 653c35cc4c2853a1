/**
 * Adding a shared file to a channel's (or, for admins, the workspace's) documents, by `/docs add` or by sharing
 * it with a mention. The size Slack reports is checked before downloading, the download is bounded by
 * `maxUploadBytes`, and the file goes through the one ingestion pipeline. Every refusal is a `rejected` outcome
 * with a specific, user-facing message; nothing throws for bad input.
 */
import { toDeskhandError } from '../../errors.ts';
import type { DocumentScope } from '../../ports/vector-index.ts';
import { escapeMrkdwn } from '../../slack-kit/mrkdwn.ts';
import type { IngestDocumentResult, IngestionProgress } from '../documents/ingestion/ingest-document.ts';
import type { DocsDependencies, DocsReply, DocsRequester } from './docs-dependencies.ts';
import { type SharedFile, sharedFilesOf } from './shared-files-of.ts';

export type AddFileOutcome =
  | {
      kind: 'added' | 'updated' | 'unchanged';
      documentId: string;
      title: string;
      scope: DocumentScope;
      chunkCount: number;
    }
  | { kind: 'rejected'; code: string; reason?: string; message: string };

/** Text for a progress update while a file is being added. */
export function describeIngestionProgress(fileName: string, progress: IngestionProgress): string {
  const name = escapeMrkdwn(fileName);
  switch (progress.stage) {
    case 'parsing':
      return `:page_facing_up: Reading *${name}*…`;
    case 'chunking':
      return `:scissors: Splitting *${name}* into sections…`;
    case 'embedding':
      return `:brain: Indexing *${name}*: ${progress.done}/${progress.total} chunks embedded…`;
    case 'indexing':
      return `:card_index_dividers: Saving *${name}* to the index…`;
  }
}

/**
 * The document source of a Slack file. The scope is part of it (as a URL fragment, so the permalink still
 * opens the file) because the document id derives from workspace + source: the same file added in two
 * channels must be two documents, or adding it in one channel would move it out of the other.
 */
export function sharedFileSource(file: SharedFile, scope: DocumentScope): string {
  const base = file.permalink ?? `slack-file:${file.id}`;
  return `${base}#deskhand-scope=${encodeURIComponent(scope)}`;
}

/**
 * Adds a shared file to the channel's documents (`scope: 'workspace'` needs an admin). Checks the size Slack
 * reports before downloading, downloads at most `maxUploadBytes`, ingests with progress, records the uploader.
 * Every refusal comes back as `rejected` with a specific, user-facing message; nothing throws for bad input.
 */
export async function addSharedFile(
  request: DocsRequester & {
    file: SharedFile;
    scope: 'channel' | 'workspace';
    onProgress?: (text: string, progress: IngestionProgress) => void;
  },
  dependencies: DocsDependencies,
): Promise<{ outcome: AddFileOutcome; reply: DocsReply }> {
  const { file } = request;
  const name = file.title?.trim() || file.name;
  const reject = (code: string, message: string, reason?: string) => {
    dependencies.logger?.warn({ fileId: file.id, userId: request.userId, code, reason }, 'shared file not added');
    return {
      outcome: { kind: 'rejected' as const, code, ...(reason ? { reason } : {}), message },
      reply: { visibility: 'in_channel' as const, text: `:warning: I did not add *${escapeMrkdwn(name)}*: ${message}` },
    };
  };
  if (request.scope === 'workspace' && !request.isAdmin) {
    return reject(
      'not_authorised',
      'only admins can add documents for every channel. Run `/docs add` without `workspace` to add it to this channel.',
    );
  }
  if (file.size !== undefined && file.size > dependencies.maxUploadBytes) {
    const limit = `${(dependencies.maxUploadBytes / 1024 / 1024).toFixed(1)} MB`;
    return reject(
      'input_too_large',
      `it is ${(file.size / 1024 / 1024).toFixed(1)} MB and the limit is ${limit}.`,
      'too_large',
    );
  }
  const scope: DocumentScope = request.scope === 'workspace' ? 'workspace' : `channel:${request.access.channelId}`;
  let bytes: Uint8Array;
  try {
    bytes = await dependencies.fetchFile(file.urlPrivate, dependencies.maxUploadBytes);
  } catch (error) {
    const coded = toDeskhandError(error, 'upstream_unavailable');
    return reject(
      coded.code,
      // A size limit or a refused host is final: trying again would end the same way.
      coded.code === 'input_too_large' || coded.code === 'unsupported_input'
        ? coded.userMessage
        : `I could not download it from Slack (${coded.userMessage}) Please try again.`,
    );
  }
  let result: IngestDocumentResult;
  try {
    result = await dependencies.ingest(
      {
        workspaceId: request.access.workspaceId,
        scope,
        source: sharedFileSource(file, scope),
        fileName: file.name,
        ...(file.title?.trim() ? { title: file.title.trim() } : {}),
        ...(file.mimetype ? { mimeType: file.mimetype } : {}),
        bytes,
      },
      (progress) => request.onProgress?.(describeIngestionProgress(name, progress), progress),
    );
  } catch (error) {
    const coded = toDeskhandError(error);
    const reason = typeof coded.details.reason === 'string' ? coded.details.reason : undefined;
    if (coded.code === 'internal') dependencies.logger?.error({ err: error, fileId: file.id }, 'ingestion failed');
    return reject(coded.code, coded.userMessage, reason);
  }
  if (result.kind === 'indexed') {
    await dependencies.uploaders.recordFirst(request.access.workspaceId, result.documentId, request.userId);
  }
  const where = scope === 'workspace' ? 'every channel’s documents' : 'this channel’s documents';
  const kind = result.kind === 'indexed' ? 'added' : result.kind === 'replaced' ? 'updated' : 'unchanged';
  const text =
    kind === 'unchanged'
      ? `*${escapeMrkdwn(name)}* is already in ${where} and has not changed.`
      : `:white_check_mark: ${kind === 'added' ? 'Added' : 'Updated'} *${escapeMrkdwn(name)}* in ${where} (${result.chunkCount} sections). Ask about it with \`/ask\`.`;
  return {
    outcome: { kind, documentId: result.documentId, title: name, scope, chunkCount: result.chunkCount },
    reply: { visibility: 'in_channel', text },
  };
}

/**
 * A file shared with a mention of Deskhand: adds every file of the message (at most `maxFiles`, default 5) to
 * the channel's documents, one after the other, and returns one reply per file. Call it from the `message`
 * listener when `event.subtype === 'file_share'` and the text mentions the bot (`<@BOT_USER_ID>`); files shared
 * without a mention are ignored (Deskhand stays quiet where not invited).
 */
export async function addFilesSharedWithMention(
  request: DocsRequester & {
    event: unknown;
    botUserId: string;
    onProgress?: (text: string, progress: IngestionProgress) => void;
    maxFiles?: number;
  },
  dependencies: DocsDependencies,
): Promise<DocsReply[]> {
  const text = (request.event as { text?: unknown } | null)?.text;
  if (typeof text !== 'string' || !text.includes(`<@${request.botUserId}>`)) return [];
  const files = sharedFilesOf(request.event);
  const maxFiles = request.maxFiles ?? 5;
  const replies: DocsReply[] = [];
  for (const file of files.slice(0, maxFiles)) {
    const { onProgress } = request;
    const { reply } = await addSharedFile(
      { ...request, file, scope: 'channel', ...(onProgress ? { onProgress } : {}) },
      dependencies,
    );
    replies.push(reply);
  }
  if (files.length > maxFiles) {
    replies.push({
      visibility: 'in_channel',
      text: `I added the first ${maxFiles} files; share the other ${files.length - maxFiles} in another message.`,
    });
  }
  return replies;
}
