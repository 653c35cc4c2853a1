/**
 * "Save to Deskhand docs" (issue 16): a message shortcut turns its thread into a document of that channel's
 * scope, through the one ingestion pipeline.
 *
 * Guarantees:
 * - the thread is read fresh from Slack (a re-save after a new reply sees it) and rendered by `thread-document.ts`
 *   within its bounds; a thread over `maxMessages` messages, one with nothing a person wrote, a direct message and
 *   a thread Slack will not give are refused with a specific reason, logged, and nothing is ingested;
 * - the document's source is `thread:<channel>:<thread ts>` (`threadDocumentSource`), so its id is stable per
 *   thread and workspace: saving again replaces the document in one `replaceDocument` call, or changes nothing
 *   when the thread has not changed; its scope is `channel:<channel>`, so other channels never see it;
 * - the Markdown's size is checked against `maxUploadBytes` before ingestion, which runs under the workspace's
 *   ingestion slots (composition's `ingest`) and the bounded parse;
 * - the first saver is recorded as the document's uploader, so they (or an admin) can forget it;
 * - the saver gets one reply naming the title and how many messages were saved (and what was left out).
 */
import { toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { CapabilityHandler, CapabilityOutcome, CapabilityRequest } from '../../ports/capability.ts';
import type { Messenger, ThreadMessage } from '../../ports/messenger.ts';
import type { DocumentScope } from '../../ports/vector-index.ts';
import { escapeMrkdwn } from '../../slack-kit/mrkdwn.ts';
import type { DocsDependencies } from './docs-dependencies.ts';
import { renderThreadDocument, type ThreadDocumentLimits } from './thread-document.ts';
import type { UploaderStore } from './uploader-store.ts';

export interface SaveThreadDependencies {
  /** Reads the thread (fresh) and its permalink. */
  messenger: Pick<Messenger, 'threadMessages' | 'permalink'>;
  ingest: DocsDependencies['ingest'];
  uploaders: Pick<UploaderStore, 'recordFirst'>;
  maxUploadBytes: number;
  /** Deskhand's bot user id in the current workspace (undefined before it is known). */
  botUserId: () => string | undefined;
  logger?: Logger;
  limits?: Partial<ThreadDocumentLimits>;
}

export interface SaveThreadRequest {
  workspaceId: string;
  channelId: string;
  userId: string;
  /** The thread's root (the shortcut's message when it is not a reply). */
  threadTs: string | undefined;
  requestId: string;
}

export type SaveThreadOutcome =
  | {
      kind: 'saved' | 'updated' | 'unchanged';
      documentId: string;
      title: string;
      savedMessages: number;
      leftOutReplies: number;
    }
  | { kind: 'refused'; code: string };

/**
 * The `docs` route with thread saving: the "Save to Deskhand docs" shortcut (the only shortcut routed to `docs`)
 * saves its thread and tells the saver alone; every other request goes to `docs` (`/docs …`).
 */
export function withThreadSaving(docs: CapabilityHandler, dependencies: SaveThreadDependencies): CapabilityHandler {
  return async (request, reply) => {
    if (request.origin !== 'shortcut') return docs(request, reply);
    return saveThreadOutcome(request, dependencies);
  };
}

async function saveThreadOutcome(
  request: CapabilityRequest,
  dependencies: SaveThreadDependencies,
): Promise<CapabilityOutcome> {
  const { text } = await saveThread(
    {
      workspaceId: request.workspaceId,
      channelId: request.channelId,
      userId: request.userId,
      threadTs: request.threadTs ?? request.messageTs,
      requestId: request.requestId,
    },
    dependencies,
  );
  return { kind: 'reply', text, visibility: 'ephemeral' };
}

/** The document source of a saved thread: stable per channel and thread root. */
export function threadDocumentSource(channelId: string, threadTs: string): string {
  return `thread:${channelId}:${threadTs}`;
}

export async function saveThread(
  request: SaveThreadRequest,
  dependencies: SaveThreadDependencies,
): Promise<{ outcome: SaveThreadOutcome; text: string }> {
  const logger = dependencies.logger?.child({ requestId: request.requestId, channelId: request.channelId });
  const refuse = (code: string, text: string, details: Record<string, unknown> = {}) => {
    logger?.info({ code, userId: request.userId, ...details }, 'thread not saved');
    return { outcome: { kind: 'refused' as const, code }, text: `:warning: I did not save this thread: ${text}` };
  };
  if (request.channelId.startsWith('D')) {
    return refuse(
      'invalid_input',
      'I save threads from channels only. A direct message is private to the people in it, and a document saved from it could only be asked about here.',
      { reason: 'direct_message' },
    );
  }
  const { threadTs } = request;
  if (threadTs === undefined) return refuse('invalid_input', 'Slack did not say which message this is.');

  let messages: ThreadMessage[];
  try {
    messages = await dependencies.messenger.threadMessages(request.channelId, threadTs, { fresh: true });
  } catch (error) {
    const coded = toDeskhandError(error, 'upstream_unavailable');
    return refuse(coded.code, `I could not read it from Slack (${coded.userMessage}) Is Deskhand in this channel?`);
  }
  const permalink = await dependencies.messenger.permalink(request.channelId, threadTs).catch(() => undefined);
  const botUserId = dependencies.botUserId();
  const rendered = renderThreadDocument({
    channelId: request.channelId,
    threadTs,
    ...(permalink ? { permalink } : {}),
    messages,
    isDeskhand: (message) => botUserId !== undefined && message.user === botUserId,
    ...(dependencies.limits ? { limits: dependencies.limits } : {}),
  });
  if (rendered.kind === 'too_long') {
    return refuse(
      'input_too_large',
      `it has ${rendered.messageCount >= 1000 ? 'over 1,000' : rendered.messageCount.toLocaleString('en-US')} messages and I save threads of up to ${rendered.maxMessages.toLocaleString('en-US')}. Start a summary thread and save that instead.`,
      { reason: 'too_many_messages', messages: rendered.messageCount },
    );
  }
  if (rendered.kind === 'empty') {
    return refuse(
      'invalid_input',
      'it has no messages written by people (only bots or system messages), so there is nothing to save.',
      { reason: 'empty_thread', skipped: rendered.skippedMessages },
    );
  }
  const bytes = new TextEncoder().encode(rendered.markdown);
  if (bytes.byteLength > dependencies.maxUploadBytes) {
    return refuse('input_too_large', 'it is larger than the largest document I accept.', { bytes: bytes.byteLength });
  }
  const scope: DocumentScope = `channel:${request.channelId}`;
  let result: Awaited<ReturnType<DocsDependencies['ingest']>>;
  try {
    result = await dependencies.ingest(
      {
        workspaceId: request.workspaceId,
        scope,
        source: threadDocumentSource(request.channelId, threadTs),
        fileName: `slack-thread-${threadTs}.md`,
        title: rendered.title,
        mimeType: 'text/markdown',
        bytes,
      },
      () => undefined,
    );
  } catch (error) {
    const coded = toDeskhandError(error);
    if (coded.code === 'internal') logger?.error({ err: error }, 'saving a thread failed');
    return refuse(coded.code, coded.userMessage);
  }
  if (result.kind === 'indexed') {
    await dependencies.uploaders.recordFirst(request.workspaceId, result.documentId, request.userId);
  }
  const kind = result.kind === 'indexed' ? 'saved' : result.kind === 'replaced' ? 'updated' : 'unchanged';
  logger?.info(
    { code: 'ok', kind, documentId: result.documentId, messages: rendered.savedMessages, userId: request.userId },
    'thread saved',
  );
  const outcome = {
    kind,
    documentId: result.documentId,
    title: rendered.title,
    savedMessages: rendered.savedMessages,
    leftOutReplies: rendered.leftOutReplies,
  } as const;
  return { outcome, text: confirmation(outcome, rendered.skippedMessages) };
}

function confirmation(outcome: Extract<SaveThreadOutcome, { title: string }>, skipped: number): string {
  const title = `*${escapeMrkdwn(outcome.title)}*`;
  if (outcome.kind === 'unchanged')
    return `${title} is already in this channel’s documents and the thread has not changed.`;
  const count = `${outcome.savedMessages} ${outcome.savedMessages === 1 ? 'message' : 'messages'}`;
  const verb = outcome.kind === 'saved' ? 'Saved' : 'Updated';
  const notes = [
    ...(outcome.leftOutReplies > 0
      ? [`${outcome.leftOutReplies} earlier replies were left out to keep the document within its size limit.`]
      : []),
    ...(skipped > 0 ? [`${skipped} bot or system ${skipped === 1 ? 'message was' : 'messages were'} left out.`] : []),
  ];
  return `:white_check_mark: ${verb} ${title} in this channel’s documents (${count}). ${notes.join(' ')}${notes.length > 0 ? ' ' : ''}Ask about it here with \`/ask\`; \`/docs forget <title>\` removes it.`;
}
