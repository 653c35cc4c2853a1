/**
 * The ticket capability's entry points for the Slack listeners: each trigger (`/ticket`, a mention in a
 * thread, the "Create ticket" message shortcut, the ticket reaction) calls `createDraft`; the card's buttons
 * call `handleAction`; the Edit modal's submission calls `handleEditSubmission`. Listeners ack first, then call
 * these; every outcome is rendered here through the Messenger port, and each method returns what happened.
 */
import type { Logger } from '../../observability/logger.ts';
import { counter, type Registry } from '../../observability/metrics.ts';
import type { Messenger, ThreadMessage } from '../../ports/messenger.ts';
import { type ExtractTicketDependencies, extractTicket, type TicketSourceFile } from './extract-ticket.ts';
import { type FileTicketOutcome, fileTicket } from './file-ticket.ts';
import type { TicketSink } from './sinks/ticket-sink.ts';
import { buildDiscardedCard, buildFiledCard, buildTicketCard } from './ticket-card.ts';
import {
  buildEditModal,
  type EditModalMetadata,
  parseEditSubmission,
  type ViewStateValues,
} from './ticket-edit-modal.ts';
import { isTicketActionId, type TicketActionId, ticketActionIds, ticketEditBlockIds } from './ticket-ids.ts';
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
  /** Slack delivery id, for log correlation. */
  requestId?: string;
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
  /** Workspace time zone (`TIME_ZONE`) for relative dates. */
  timeZone: string;
  logger?: Logger;
  /** When given: `deskhand_ticket_extractions_total{trigger,outcome}` and `deskhand_ticket_filings_total{outcome}`. */
  metrics?: Registry;
  now?: () => Date;
}

/**
 * What the router hands the ticket capability: structurally a subset of `CapabilityRequest`
 * (src/router/types.ts), so `ticket: (request) => workflow.handleRoutedRequest(request)` wires it.
 */
export interface RoutedTicketRequest {
  origin: 'mention' | 'thread_follow_up' | 'command' | 'shortcut' | 'reaction';
  workspaceId: string;
  channelId: string;
  userId: string;
  /** Command text, mention text without the "ticket" keyword, or the shortcut/reaction target's text. */
  text: string;
  /** The triggering message (mention) or the target message (shortcut, reaction). */
  messageTs?: string;
  threadTs?: string;
  replyThreadTs?: string;
  requestId: string;
  /** Earlier messages of the thread, oldest first (the triggering message excluded). */
  threadContext?: readonly { ts: string; author: 'deskhand' | 'user' | 'other_bot'; userId?: string; text: string }[];
}

/** A button click as the actions listener passes it (structurally `ActionRequest` in src/slack/listeners). */
export interface TicketButtonRequest {
  actionId: string;
  /** The button value (the draft id): untrusted, only used as a key inside the clicker's workspace. */
  value: string | undefined;
  workspaceId: string;
  userId: string;
  channelId: string | undefined;
  messageTs: string | undefined;
  triggerId: string | undefined;
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
  readonly #extractions: ((trigger: TicketTrigger, outcome: string) => void) | undefined;
  readonly #filings: ((outcome: string) => void) | undefined;

  constructor(dependencies: TicketWorkflowDependencies) {
    this.#dependencies = dependencies;
    const registry = dependencies.metrics;
    if (registry) {
      const extractions = counter(
        registry,
        'deskhand_ticket_extractions_total',
        'Ticket extractions by trigger and outcome',
        ['trigger', 'outcome'],
      );
      const filings = counter(registry, 'deskhand_ticket_filings_total', 'File clicks by outcome', ['outcome']);
      this.#extractions = (trigger, outcome) => extractions.inc({ trigger, outcome });
      this.#filings = (outcome) => filings.inc({ outcome });
    }
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
        ...(request.requestId ? { requestId: request.requestId } : {}),
      },
      this.#dependencies.extraction,
    );
    this.#extractions?.(request.trigger, extraction.kind);
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
    const draft = await store.get(request.workspaceId, request.draftId);
    // Ephemeral replies go where the card is: its thread when it has one (thread_ts must be the thread root).
    const ephemeral = (text: string) =>
      messenger.postEphemeral({
        channel: request.channel,
        user: request.userId,
        text,
        ...(draft?.threadTs ? { threadTs: draft.threadTs } : {}),
      });
    if (!draft) {
      const message = 'This ticket draft has expired or does not exist. Create the ticket again.';
      await ephemeral(message);
      return { kind: 'refused', message };
    }
    const card = { channel: draft.card?.channel ?? request.channel, ts: draft.card?.ts ?? request.messageTs };

    if (request.actionId === ticketActionIds.file) {
      // A /ticket command has no source message (its key is `command:<request id>`), so no permalink.
      const permalink = /^\d+\.\d+$/.test(draft.messageTs)
        ? await messenger.permalink(draft.channelId, draft.messageTs).catch(() => undefined)
        : undefined;
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
      this.#filings?.(outcome.kind === 'filed' && outcome.alreadyFiled ? 'already_filed' : outcome.kind);
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
   * Validates and saves an Edit modal submission, fast enough to run before the view's ack (one Redis read and
   * one compare-and-set). Invalid input and refusals come back as `response_action: "errors"`, which the listener
   * passes to `ack()` so Slack shows them inside the modal; after a save the listener acks with nothing and calls
   * `showDraftCard`.
   */
  async saveEdit(request: EditSubmissionRequest): Promise<EditSubmissionOutcome> {
    const { store } = this.#dependencies;
    const refuse = (message: string): EditSubmissionOutcome => ({
      kind: 'refused',
      response: { response_action: 'errors', errors: { [ticketEditBlockIds.summary]: message } },
    });
    let metadata: EditModalMetadata;
    try {
      metadata = JSON.parse(request.privateMetadata) as EditModalMetadata;
    } catch {
      return refuse('This form is damaged; close it and click Edit again.');
    }
    if (typeof metadata?.draftId !== 'string' || typeof metadata.version !== 'number') {
      return refuse('This form is damaged; close it and click Edit again.');
    }
    // Tenant comes from the request context, never from the modal's metadata.
    const draft = await store.get(request.workspaceId, metadata.draftId);
    if (draft?.status !== 'draft') {
      return refuse(
        !draft
          ? 'This draft has expired.'
          : draft.status === 'filed'
            ? 'This ticket was filed meanwhile; it can no longer be edited.'
            : 'This draft was discarded.',
      );
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
      return refuse(
        saved.reason === 'version_conflict'
          ? 'Someone changed this ticket while you were editing. Close this form and click Edit again.'
          : 'This ticket can no longer be edited (it is being filed, filed or discarded).',
      );
    }
    return { kind: 'saved', draft: saved.draft };
  }

  /** Re-renders a draft's card where it was posted (after an edit). */
  async showDraftCard(draft: StoredTicketDraft): Promise<void> {
    if (!draft.card) return;
    const card = buildTicketCard({
      draftId: draft.id,
      ticket: draft.ticket,
      flags: draft.flags,
      mode: draft.mode,
      ...(draft.editedBy ? { editedBy: draft.editedBy } : {}),
    });
    await this.#dependencies.messenger.update({ ...draft.card, text: card.text, blocks: card.blocks });
  }

  /**
   * The Edit modal's submission in the shape of the views listener's `ViewHandler` (src/slack/listeners):
   * validation and the save run before the ack; errors go back as the ack's `response_action: "errors"` (Slack
   * shows them in the modal); after a save the modal closes and `afterAck` re-renders the card.
   */
  async handleViewSubmission(request: {
    workspaceId: string;
    userId: string;
    privateMetadata: string;
    values: Record<string, Record<string, unknown>>;
  }): Promise<{
    response?: { response_action: 'errors'; errors: Record<string, string> };
    afterAck?: () => Promise<void>;
  }> {
    const outcome = await this.saveEdit({
      workspaceId: request.workspaceId,
      userId: request.userId,
      privateMetadata: request.privateMetadata,
      values: request.values as ViewStateValues,
    });
    if (outcome.kind !== 'saved') return { response: outcome.response };
    return { afterAck: () => this.showDraftCard(outcome.draft) };
  }

  /** `saveEdit` then `showDraftCard`, for callers that may take their time (tests, Socket Mode). */
  async handleEditSubmission(request: EditSubmissionRequest): Promise<EditSubmissionOutcome> {
    const outcome = await this.saveEdit(request);
    if (outcome.kind === 'saved') await this.showDraftCard(outcome.draft);
    return outcome;
  }

  /**
   * The ticket route: `/ticket <text>`, a mention ("@Deskhand ticket this" in a thread reads the thread's
   * people's messages), the "Create ticket" shortcut and the ticket reaction. Posts the card (or tells the
   * requester why there is none) and returns `posted`.
   */
  async handleRoutedRequest(request: RoutedTicketRequest): Promise<{ kind: 'posted'; threadTs?: string }> {
    const now = this.#dependencies.now ?? (() => new Date());
    const nowTs = (now().getTime() / 1000).toFixed(6);
    let text = request.text;
    let textTs = request.messageTs ?? nowTs;
    let source = { channelId: request.channelId, messageTs: request.messageTs ?? `command:${request.requestId}` };
    let files: TicketSourceFile[] | undefined;
    const replyThreadTs =
      request.replyThreadTs ?? request.threadTs ?? (request.origin === 'command' ? undefined : request.messageTs);

    const conversational = request.origin === 'mention' || request.origin === 'thread_follow_up';
    // "ticket this", "make a ticket of it": words that point at the conversation rather than describe a problem.
    const substance = request.text
      .replace(
        /^\s*(?:please\s+)?(?:make\s+|create\s+|file\s+|open\s+)?(?:a\s+)?(?:ticket\s*)?(?:this|that|it|of this|of it|from this|for this)?[\s.!]*$/i,
        '',
      )
      .trim();
    if (conversational && request.threadTs) {
      const people = (request.threadContext ?? []).filter((message) => message.author === 'user');
      const customers = people.filter((message) => message.userId !== request.userId);
      const chosen = customers.length > 0 ? customers : people;
      const parts = chosen.map((message) => message.text.trim()).filter(Boolean);
      if (substance) parts.push(substance);
      text = parts.join('\n\n');
      source = { channelId: request.channelId, messageTs: request.threadTs };
      textTs = chosen.at(-1)?.ts ?? textTs;
    }
    if (conversational && !substance && (!request.threadTs || !text.trim())) {
      const message =
        'There is nothing to make a ticket from here. Mention me with "ticket this" in the customer’s thread, use the *Create ticket* message shortcut, or `/ticket <what the customer wrote>`.';
      await this.#dependencies.messenger.postEphemeral({
        channel: request.channelId,
        user: request.userId,
        text: message,
        ...(replyThreadTs ? { threadTs: replyThreadTs } : {}),
      });
      this.#dependencies.logger?.info(
        { origin: request.origin, code: 'invalid_input' },
        'ticket mention without content',
      );
      return { kind: 'posted', ...(replyThreadTs ? { threadTs: replyThreadTs } : {}) };
    }
    if ((request.origin === 'shortcut' || request.origin === 'reaction') && request.messageTs && !text.trim()) {
      // The target message has no text: find out whether it holds files, to say so precisely.
      const target = await this.#dependencies.messenger
        .message(request.channelId, request.messageTs)
        .catch(() => undefined);
      files = target?.files?.map((file) => ({
        ...(file.name ? { name: file.name } : {}),
        ...(file.mimetype ? { mimetype: file.mimetype } : {}),
      }));
    }
    const trigger: TicketTrigger =
      request.origin === 'command'
        ? 'command'
        : request.origin === 'shortcut'
          ? 'shortcut'
          : request.origin === 'reaction'
            ? 'reaction'
            : 'mention';
    await this.createDraft({
      trigger,
      workspaceId: request.workspaceId,
      userId: request.userId,
      source,
      textTs,
      text,
      ...(files ? { files } : {}),
      reply: { channel: request.channelId, ...(replyThreadTs ? { threadTs: replyThreadTs } : {}) },
      timeZone: this.#dependencies.timeZone,
      requestId: request.requestId,
    });
    return { kind: 'posted', ...(replyThreadTs ? { threadTs: replyThreadTs } : {}) };
  }

  /**
   * A card button as the actions listener passes it (File, Edit, Discard). Posts its own results; returns
   * nothing for the listener to add.
   */
  async handleButton(request: TicketButtonRequest): Promise<undefined> {
    if (!isTicketActionId(request.actionId) || !request.value || !request.channelId || !request.messageTs) {
      this.#dependencies.logger?.warn(
        { actionId: request.actionId, code: 'invalid_input' },
        'ticket button without draft or message',
      );
      return undefined;
    }
    await this.handleAction({
      actionId: request.actionId,
      workspaceId: request.workspaceId,
      userId: request.userId,
      draftId: request.value,
      channel: request.channelId,
      messageTs: request.messageTs,
      ...(request.triggerId ? { triggerId: request.triggerId } : {}),
    });
    return undefined;
  }
}
