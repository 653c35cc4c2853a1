/**
 * `/docs` and files shared with a mention: list the documents a channel can see, add a shared file to the
 * channel's scope (or the workspace, for admins), forget a document (admins or its uploader). Everything goes
 * through the one ingestion pipeline (`ingestDocument`), so a file added from Slack is parsed, checked,
 * chunked and indexed exactly like one added from the CLI, and every refusal has its specific reason.
 *
 * Slack-side wiring stays small: the listener resolves which file `/docs add` means (the file shared in the
 * thread, or the newest one the user shared in the channel), injects `fetchFile` (a download with the bot
 * token, bounded by `maxBytes`) and posts the returned replies.
 */

import { z } from 'zod';
import { toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Block, ThreadMessage } from '../../ports/messenger.ts';
import type { AccessScope, DocumentScope, DocumentSummary, VectorIndex } from '../../ports/vector-index.ts';
import type {
  IngestDocumentInput,
  IngestDocumentResult,
  IngestionProgress,
} from '../documents/ingestion/ingest-document.ts';
import { escapeMrkdwn, linkTarget } from './citations.ts';

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

/** Who asks and where. `isAdmin` comes from configuration (ADMIN_USER_IDS), never from the request. */
export interface DocsRequester {
  access: AccessScope;
  userId: string;
  isAdmin: boolean;
}

/** The Redis commands the uploader record uses (an ioredis `Redis` instance fits). */
export interface UploaderRedis {
  hsetnx(key: string, field: string, value: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  hdel(key: string, ...fields: string[]): Promise<number>;
}

/** Who uploaded each document (per workspace), so `/docs forget` can authorise the uploader. */
export class UploaderStore {
  readonly #redis: UploaderRedis;
  readonly #prefix: string;

  constructor(redis: UploaderRedis, options: { keyPrefix: string }) {
    this.#redis = redis;
    this.#prefix = `${options.keyPrefix}docs:uploader:`;
  }

  /** Records the first uploader of a document; a later re-upload by someone else does not take it over. */
  async recordFirst(workspaceId: string, documentId: string, userId: string): Promise<void> {
    await this.#redis.hsetnx(`${this.#prefix}${workspaceId}`, documentId, userId);
  }

  async uploaderOf(workspaceId: string, documentId: string): Promise<string | undefined> {
    return (await this.#redis.hget(`${this.#prefix}${workspaceId}`, documentId)) ?? undefined;
  }

  async forget(workspaceId: string, documentId: string): Promise<void> {
    await this.#redis.hdel(`${this.#prefix}${workspaceId}`, documentId);
  }
}

export interface DocsDependencies {
  index: Pick<VectorIndex, 'listDocuments' | 'deleteDocument'>;
  uploaders: UploaderStore;
  /** The ingestion pipeline with its dependencies bound (index, embedder, cache, call scope, progress). */
  ingest: (
    input: IngestDocumentInput,
    onProgress: (progress: IngestionProgress) => void,
  ) => Promise<IngestDocumentResult>;
  /** Downloads a Slack file with the bot token; must refuse (throw) beyond `maxBytes`. */
  fetchFile: (urlPrivate: string, maxBytes: number) => Promise<Uint8Array>;
  maxUploadBytes: number;
  logger?: Logger;
}

/** What to post: `ephemeral` replies go to the requester only. */
export interface DocsReply {
  visibility: 'ephemeral' | 'in_channel';
  text: string;
  blocks?: Block[];
}

export type DocsCommand =
  | { action: 'list' }
  | { action: 'add'; scope: 'channel' | 'workspace' }
  | { action: 'forget'; target: string }
  | { action: 'help'; problem?: string };

const usage = [
  '*`/docs`* — list the documents this channel can see',
  '*`/docs add`* — add the file you just shared here to this channel’s documents (`/docs add workspace`: to every channel; admins only)',
  '*`/docs forget <title or id>`* — remove a document (admins or whoever added it)',
  'You can also share a file and mention me in the same message to add it.',
].join('\n');

/** Parses the text after `/docs`. */
export function parseDocsCommand(text: string): DocsCommand {
  const trimmed = text.trim();
  if (trimmed === '' || /^(list|ls)$/i.test(trimmed)) return { action: 'list' };
  const [word = '', ...rest] = trimmed.split(/\s+/);
  const argument = rest.join(' ').trim();
  switch (word.toLowerCase()) {
    case 'help':
      return { action: 'help' };
    case 'add':
      if (argument === '' || /^channel$/i.test(argument)) return { action: 'add', scope: 'channel' };
      if (/^workspace$/i.test(argument)) return { action: 'add', scope: 'workspace' };
      return { action: 'help', problem: `\`/docs add\` takes \`channel\` or \`workspace\`, not “${argument}”.` };
    case 'forget':
    case 'remove':
    case 'delete':
      if (!argument) return { action: 'help', problem: 'Say which document to forget: `/docs forget <title or id>`.' };
      return { action: 'forget', target: argument.replace(/^["“”']|["“”']$/g, '') };
    default:
      return { action: 'help', problem: `I don’t know \`/docs ${word}\`.` };
  }
}

/** A user mention built only from a well-formed Slack user id (anything else is shown as plain text). */
function mentionOf(userId: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : 'Someone';
}

function scopeLabel(scope: DocumentScope, access: AccessScope): string {
  if (scope === 'workspace') return 'all channels';
  return scope === `channel:${access.channelId}` ? 'this channel' : 'another channel';
}

function documentLink(document: Pick<DocumentSummary, 'title' | 'source'>): string {
  const title = escapeMrkdwn(document.title || 'Untitled document').replace(/\|/g, '¦');
  const target = linkTarget(document.source);
  return target ? `<${target}|${title}>` : `*${title}*`;
}

/** `/docs`: the documents visible from the channel, newest first, within Slack's block limits. */
export async function listDocuments(requester: DocsRequester, dependencies: DocsDependencies): Promise<DocsReply> {
  const documents = await dependencies.index.listDocuments(requester.access);
  if (documents.length === 0) {
    return {
      visibility: 'ephemeral',
      text: 'This channel has no documents yet. Share a file here and run `/docs add`, or mention me when you share it.',
    };
  }
  const sorted = [...documents].sort((left, right) => right.ingestedAt.localeCompare(left.ingestedAt));
  const shown = sorted.slice(0, 40);
  const lines = shown.map(
    (document) =>
      `• ${documentLink(document)} — ${scopeLabel(document.scope, requester.access)}, ${document.chunkCount} chunks, added ${document.ingestedAt.slice(0, 10)} · id \`${document.documentId}\``,
  );
  if (sorted.length > shown.length) lines.push(`_…and ${sorted.length - shown.length} more._`);
  const blocks: Block[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*Documents this channel can see (${documents.length})*` } },
  ];
  let current: string[] = [];
  let length = 0;
  for (const line of lines) {
    if (length + line.length + 1 > 2900 && current.length > 0) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: current.join('\n') } });
      current = [];
      length = 0;
    }
    current.push(line);
    length += line.length + 1;
  }
  if (current.length > 0) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: current.join('\n') } });
  return { visibility: 'ephemeral', text: `${documents.length} documents visible in this channel.`, blocks };
}

export type ForgetOutcome =
  | { kind: 'forgotten'; document: DocumentSummary }
  | { kind: 'not_found' }
  | { kind: 'ambiguous'; candidates: DocumentSummary[] }
  | { kind: 'not_authorised'; document: DocumentSummary };

/**
 * `/docs forget <doc>`: finds the document among those visible from the channel (by id, exact title, or a
 * unique title prefix; case-insensitive) and removes it when the requester is an admin or its uploader.
 * Removing bumps the index version, so cached answers built on it are no longer served.
 */
export async function forgetDocument(
  requester: DocsRequester,
  target: string,
  dependencies: DocsDependencies,
): Promise<{ outcome: ForgetOutcome; reply: DocsReply }> {
  const documents = await dependencies.index.listDocuments(requester.access);
  const wanted = target.trim().toLowerCase();
  let matches = documents.filter((document) => document.documentId.toLowerCase() === wanted);
  if (matches.length === 0) matches = documents.filter((document) => document.title.toLowerCase() === wanted);
  if (matches.length === 0) {
    matches = documents.filter((document) => document.title.toLowerCase().startsWith(wanted));
  }
  if (matches.length === 0) {
    return {
      outcome: { kind: 'not_found' },
      reply: {
        visibility: 'ephemeral',
        text: `No document called “${escapeMrkdwn(target)}” is visible in this channel. \`/docs\` lists them with their ids.`,
      },
    };
  }
  if (matches.length > 1) {
    const list = matches
      .slice(0, 10)
      .map((document) => `• ${documentLink(document)} · id \`${document.documentId}\``)
      .join('\n');
    return {
      outcome: { kind: 'ambiguous', candidates: matches },
      reply: {
        visibility: 'ephemeral',
        text: `Several documents match “${escapeMrkdwn(target)}”. Forget one by its id:\n${list}`,
      },
    };
  }
  const document = matches[0] as DocumentSummary;
  const uploader = await dependencies.uploaders.uploaderOf(document.workspaceId, document.documentId);
  if (!requester.isAdmin && uploader !== requester.userId) {
    dependencies.logger?.warn(
      { userId: requester.userId, documentId: document.documentId, uploader },
      'docs forget refused: not an admin or the uploader',
    );
    return {
      outcome: { kind: 'not_authorised', document },
      reply: {
        visibility: 'ephemeral',
        text: `Only an admin or the person who added ${documentLink(document)} can remove it.`,
      },
    };
  }
  await dependencies.index.deleteDocument(document.workspaceId, document.documentId);
  await dependencies.uploaders.forget(document.workspaceId, document.documentId);
  dependencies.logger?.info(
    { userId: requester.userId, documentId: document.documentId, workspaceId: document.workspaceId },
    'document forgotten',
  );
  return {
    outcome: { kind: 'forgotten', document },
    reply: {
      visibility: 'in_channel',
      text: `${mentionOf(requester.userId)} removed ${documentLink(document)}; I will no longer answer from it.`,
    },
  };
}

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
      coded.code === 'input_too_large'
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
 * The whole `/docs` command. `file` is the shared file `/docs add` refers to, resolved by the listener (absent
 * when there is none). Never throws for user input; index or Redis failures propagate as `DeskhandError`.
 */
export async function handleDocsCommand(
  request: DocsRequester & {
    text: string;
    file?: SharedFile;
    onProgress?: (text: string, progress: IngestionProgress) => void;
  },
  dependencies: DocsDependencies,
): Promise<DocsReply> {
  const command = parseDocsCommand(request.text);
  switch (command.action) {
    case 'list':
      return listDocuments(request, dependencies);
    case 'forget':
      return (await forgetDocument(request, command.target, dependencies)).reply;
    case 'add': {
      if (!request.file) {
        return {
          visibility: 'ephemeral',
          text: 'I found no file to add. Share the file in this channel first (or run `/docs add` in the thread where it was shared).',
        };
      }
      const { file, onProgress } = request;
      return (
        await addSharedFile(
          { ...request, file, scope: command.scope, ...(onProgress ? { onProgress } : {}) },
          dependencies,
        )
      ).reply;
    }
    case 'help':
      return { visibility: 'ephemeral', text: command.problem ? `${command.problem}\n\n${usage}` : usage };
  }
}

// --- reading shared files from Slack payloads ------------------------------------------------------------------

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
