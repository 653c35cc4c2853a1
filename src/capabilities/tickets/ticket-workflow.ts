/**
 * The ticket capability's entry points for the Slack listeners: each trigger (`/ticket`, a mention in a
 * thread, the "Create ticket" message shortcut, the ticket reaction) calls `createDraft`; the card's buttons
 * call `handleAction`; the Edit modal's submission calls `handleEditSubmission`. Listeners ack first, then call
 * these; every outcome is rendered here through the Messenger port, and each method returns what happened.
 */
import type { Logger } from '../../observability/logger.ts';
import type { Messenger, ThreadMessage } from '../../ports/messenger.ts';
import { type ExtractTicketDependencies, extractTicket, type TicketSourceFile } from './extract-ticket.ts';
import { type FileTicketOutcome, fileTicket } from './file-ticket.ts';
import type { TicketSink } from './sinks/ticket-sink.ts';
import {
  buildDiscardedCard,
  buildEditModal,
  buildFiledCard,
  buildTicketCard,
  type EditModalMetadata,
  parseEditSubmission,
  type ViewStateValues,
} from './ticket-card.ts';
import { type TicketActionId, ticketActionIds } from './ticket-ids.ts';
import { newTicketId, type StoredTicketDraft, type TicketDraft, type TicketStore } from './ticket-store.ts';

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
}

export type CreateDraftOutcome =
  | { kind: 'carded'; draft: TicketDraft; cardTs: string }
  | { kind: 'rejected' | 'failed'; message: string };

export interface TicketWorkflowDependencies {
  extraction: ExtractTicketDependencies;
  store: TicketStore;
  messenger: Messenger;
  sinks: readonly TicketSink[];
  categories: readonly string[];
  logger?: Logger;
  now?: () => Date;
}

export interface TicketActionRequest {
  actionId: TicketActionId;
  workspaceId: string;
  userId: string;
  /** The button's value. */
  draftId: string;
  /** Needed by Edit (views.open within 3 s). */
  triggerId?: string;
  /** The card message (body.container). */
  channel: string;
  messageTs: string;
}

export type TicketActionOutcome =
  | FileTicketOutcome
  | { kind: 'modal_opened' }
  | { kind: 'discarded_now' }
  | { kind: 'refused'; message: string };

export interface EditSubmissionRequest {
  workspaceId: string;
  userId: string;
  privateMetadata: string;
  values: ViewStateValues;
}

export type EditSubmissionOutcome =
  | { kind: 'saved'; draft: StoredTicketDraft }
  | { kind: 'invalid'; response: { response_action: 'errors'; errors: Record<string, string> } }
  | { kind: 'refused'; response: { response_action: 'errors'; errors: Record<string, string> } };

/**
 * Customer text of a thread for the mention trigger: people's messages (no bots, no Deskhand messages, no
 * edits or joins), without the mention that asked for the ticket. Returns the text and the latest ts.
 */
export function customerTextFromThread(
  messages: readonly ThreadMessage[],
  options: { excludeTs?: string; botUserId?: string } = {},
): { text: string; latestTs: string | undefined; files: TicketSourceFile[] } {
  const kept = messages.filter(
    (message) =>
      message.ts !== options.excludeTs &&
      !message.botId &&
      (message.subtype === undefined || message.subtype === 'file_share' || message.subtype === 'thread_broadcast') &&
      (options.botUserId === undefined || message.user !== options.botUserId),
  );
  return {
    text: kept
      .map((message) => message.text.trim())
      .filter(Boolean)
      .join('\n\n'),
    latestTs: kept.at(-1)?.ts,
    files: kept.flatMap((message) => message.files ?? []),
  };
}

export class TicketWorkflow {
  readonly #dependencies: TicketWorkflowDependencies;

  constructor(dependencies: TicketWorkflowDependencies) {
    this.#dependencies = dependencies;
  }

  /**
   * Extracts a ticket and posts its card in the thread. Rejections and failures go to the requester as an
   * ephemeral message with the reason.
   */
  async createDraft(request: CreateDraftRequest): Promise<CreateDraftOutcome> {
    const { store, messenger, logger } = this.#dependencies;
    const now = this.#dependencies.now ?? (() => new Date());
    const extraction = await extractTicket(
      {
        text: request.text,
        messageTs: request.textTs ?? request.source.messageTs,
        workspaceId: request.workspaceId,
        channelId: request.source.channelId,
        userId: request.userId,
        timeZone: request.timeZone,
        ...(request.files ? { files: request.files } : {}),
      },
      this.#dependencies.extraction,
    );
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

  /** File / Edit / Discard on a card. */
  async handleAction(request: TicketActionRequest): Promise<TicketActionOutcome> {
    const { store, messenger } = this.#dependencies;
    const ephemeral = (text: string) =>
      messenger.postEphemeral({ channel: request.channel, user: request.userId, text, threadTs: request.messageTs });
    const draft = await store.get(request.workspaceId, request.draftId);
    if (!draft) {
      const message = 'This ticket draft has expired or does not exist. Create the ticket again.';
      await ephemeral(message);
      return { kind: 'refused', message };
    }
    const card = { channel: draft.card?.channel ?? request.channel, ts: draft.card?.ts ?? request.messageTs };

    if (request.actionId === ticketActionIds.file) {
      const permalink = await messenger.permalink(draft.channelId, draft.messageTs).catch(() => undefined);
      const outcome = await fileTicket(
        {
          workspaceId: request.workspaceId,
          draftId: request.draftId,
          userId: request.userId,
          ...(permalink ? { sourcePermalink: permalink } : {}),
        },
        {
          store,
          sinks: this.#dependencies.sinks,
          ...(this.#dependencies.logger ? { logger: this.#dependencies.logger } : {}),
          ...(this.#dependencies.now ? { now: this.#dependencies.now } : {}),
        },
      );
      if (outcome.kind === 'filed') {
        const filed = buildFiledCard({
          ticket: outcome.draft.ticket,
          filedBy: outcome.draft.filed?.by ?? request.userId,
          reference: outcome.reference,
          links: outcome.links,
          mode: outcome.draft.mode,
        });
        await messenger.update({ ...card, text: filed.text, blocks: filed.blocks });
      } else if (outcome.kind !== 'in_progress') {
        await ephemeral(outcome.message);
      }
      return outcome;
    }

    if (request.actionId === ticketActionIds.edit) {
      if (draft.status !== 'draft') {
        const message =
          draft.status === 'filed'
            ? 'This ticket is already filed; it can no longer be edited.'
            : 'This draft was discarded.';
        await ephemeral(message);
        return { kind: 'refused', message };
      }
      if (!request.triggerId) return { kind: 'refused', message: 'Edit needs a trigger id.' };
      const metadata: EditModalMetadata = {
        workspaceId: request.workspaceId,
        draftId: draft.id,
        version: draft.version,
        ...card,
      };
      await messenger.openView(
        request.triggerId,
        buildEditModal({ ticket: draft.ticket, categories: this.#dependencies.categories, metadata }),
      );
      return { kind: 'modal_opened' };
    }

    const discarded = await store.discard(request.workspaceId, request.draftId, request.userId);
    if (!discarded.ok) {
      const message =
        discarded.reason === 'filed'
          ? 'This ticket is already filed; it cannot be discarded.'
          : discarded.reason === 'filing' || discarded.reason === 'delivered'
            ? 'This ticket is being filed (or already reached a destination), so it cannot be discarded.'
            : discarded.reason === 'discarded'
              ? 'This draft was already discarded.'
              : 'This ticket draft has expired or does not exist.';
      if (discarded.reason !== 'discarded') await ephemeral(message);
      return { kind: 'refused', message };
    }
    const gone = buildDiscardedCard({ ticket: draft.ticket, discardedBy: request.userId });
    await messenger.update({ ...card, text: gone.text, blocks: gone.blocks });
    return { kind: 'discarded_now' };
  }

  /**
   * The Edit modal's submission. Invalid input comes back as `response_action: "errors"` for the listener to
   * return in its ack; a valid one updates the draft (refusing a save over a newer version) and its card.
   */
  async handleEditSubmission(request: EditSubmissionRequest): Promise<EditSubmissionOutcome> {
    const { store, messenger } = this.#dependencies;
    let metadata: EditModalMetadata;
    try {
      metadata = JSON.parse(request.privateMetadata) as EditModalMetadata;
    } catch {
      return {
        kind: 'refused',
        response: {
          response_action: 'errors',
          errors: { ticket_summary: 'This form is damaged; close it and click Edit again.' },
        },
      };
    }
    // Tenant comes from the request context, never from the modal's metadata.
    const draft = await store.get(request.workspaceId, metadata.draftId);
    if (draft?.status !== 'draft') {
      const reason = !draft
        ? 'This draft has expired.'
        : draft.status === 'filed'
          ? 'This ticket was filed meanwhile; it can no longer be edited.'
          : 'This draft was discarded.';
      return { kind: 'refused', response: { response_action: 'errors', errors: { ticket_summary: reason } } };
    }
    const parsed = parseEditSubmission(request.values, draft.ticket, this.#dependencies.categories);
    if (!parsed.ok) return { kind: 'invalid', response: parsed.response };
    const saved = await store.update(
      request.workspaceId,
      draft.id,
      (content) => ({
        ...content,
        ticket: parsed.ticket,
        // Values a person typed are theirs: earlier grounding flags no longer describe the ticket.
        flags: content.flags.filter(
          (flag) => flag.kind === 'extracted_without_model' || flag.kind === 'input_truncated',
        ),
        editedBy: request.userId,
      }),
      metadata.version,
    );
    if (!saved.ok) {
      const reason =
        saved.reason === 'version_conflict'
          ? 'Someone changed this ticket while you were editing. Close this form and click Edit again.'
          : 'This ticket can no longer be edited (it is being filed, filed or discarded).';
      return { kind: 'refused', response: { response_action: 'errors', errors: { ticket_summary: reason } } };
    }
    const card = buildTicketCard({
      draftId: saved.draft.id,
      ticket: saved.draft.ticket,
      flags: saved.draft.flags,
      mode: saved.draft.mode,
      editedBy: request.userId,
    });
    const location =
      saved.draft.card ??
      (metadata.channel && metadata.ts ? { channel: metadata.channel, ts: metadata.ts } : undefined);
    if (location) await messenger.update({ ...location, text: card.text, blocks: card.blocks });
    return { kind: 'saved', draft: saved.draft };
  }
}
