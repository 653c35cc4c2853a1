/**
 * Making a ticket draft from a trigger: extraction, the stored draft and its card in the thread.
 *
 * Guarantees: every extraction is counted by trigger and outcome (when metrics are on); a rejection or failure
 * reaches only the requester, as an ephemeral message with the reason, and stores nothing; otherwise the draft
 * is stored before its card is posted, then remembers where the card is (so later clicks and edits update
 * that message).
 */
import { extractTicket, type TicketSourceFile } from './extract-ticket.ts';
import { boundExampleText } from './learning/example-features.ts';
import { buildTicketCard } from './ticket-card.ts';
import { newTicketId, type TicketDraft } from './ticket-store.ts';
import type { TicketWorkflowDependencies } from './ticket-workflow-dependencies.ts';

export type TicketTrigger = 'command' | 'mention' | 'shortcut' | 'reaction';

export interface CreateDraftRequest {
  trigger: TicketTrigger;
  workspaceId: string;
  /** Who asked (clicked the shortcut, reacted, ran the command, mentioned the bot). */
  userId: string;
  /** The message the ticket is about: one ticket per (channel, ts) can ever be filed. For a thread: its root. */
  source: { channelId: string; messageTs: string };
  /** ts the text's relative dates refer to (default `source.messageTs`; for a thread, its latest customer message). */
  textTs?: string;
  text: string;
  files?: readonly TicketSourceFile[];
  /** Where the card goes; `threadTs` keeps it in the source's thread. */
  reply: { channel: string; threadTs?: string };
  timeZone: string;
  /** Slack delivery id, for log correlation. */
  requestId?: string;
}

export type CreateDraftOutcome =
  | { kind: 'carded'; draft: TicketDraft; cardTs: string }
  | { kind: 'rejected' | 'failed'; message: string };

/**
 * Extracts a ticket and posts its card in the thread. Rejections and failures go to the requester as an
 * ephemeral message with the reason.
 */
export async function createDraft(
  request: CreateDraftRequest,
  dependencies: TicketWorkflowDependencies,
  recordExtraction?: (trigger: TicketTrigger, outcome: string) => void,
): Promise<CreateDraftOutcome> {
  const { store, messenger, logger } = dependencies;
  const now = dependencies.now ?? (() => new Date());
  const extraction = await extractTicket(
    {
      text: request.text,
      messageTs: request.textTs ?? request.source.messageTs,
      workspaceId: request.workspaceId,
      channelId: request.source.channelId,
      userId: request.userId,
      timeZone: request.timeZone,
      ...(request.files ? { files: request.files } : {}),
      ...(request.requestId ? { requestId: request.requestId } : {}),
    },
    dependencies.extraction,
  );
  recordExtraction?.(request.trigger, extraction.kind);
  if (extraction.kind === 'rejected' || extraction.kind === 'failed') {
    await messenger.postEphemeral({
      channel: request.reply.channel,
      user: request.userId,
      text: extraction.message,
      ...(request.reply.threadTs ? { threadTs: request.reply.threadTs } : {}),
    });
    return { kind: extraction.kind, message: extraction.message };
  }
  const draft: TicketDraft = {
    id: newTicketId(),
    workspaceId: request.workspaceId,
    channelId: request.source.channelId,
    messageTs: request.source.messageTs,
    requestedBy: request.userId,
    createdAt: now().toISOString(),
    ticket: extraction.ticket,
    flags: extraction.flags,
    mode: extraction.kind === 'degraded' ? 'rules' : 'model',
    sourceText: boundExampleText(extraction.sourceText),
    textTs: request.textTs ?? request.source.messageTs,
    timeZone: request.timeZone,
    ...(request.reply.threadTs ? { threadTs: request.reply.threadTs } : {}),
  };
  await store.create(draft);
  const card = buildTicketCard({ draftId: draft.id, ticket: draft.ticket, flags: draft.flags, mode: draft.mode });
  const posted = await messenger.post({
    channel: request.reply.channel,
    text: card.text,
    blocks: card.blocks,
    ...(request.reply.threadTs ? { threadTs: request.reply.threadTs } : {}),
  });
  const located = await store.update(draft.workspaceId, draft.id, (content) => ({
    ...content,
    card: { channel: posted.channel, ts: posted.ts },
  }));
  logger?.info(
    { trigger: request.trigger, ticketId: draft.id, mode: draft.mode, stored: located.ok },
    'ticket card posted',
  );
  return { kind: 'carded', draft: located.ok ? located.draft : draft, cardTs: posted.ts };
}
