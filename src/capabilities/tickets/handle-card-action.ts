/**
 * The buttons on a ticket card: File, Edit and Discard.
 *
 * Guarantees: the draft is looked up in the clicker's workspace only (the button value is untrusted); an
 * expired or unknown draft, a refusal and a filing failure reach only the clicker, as an ephemeral message in
 * the card's thread; every File click is counted by outcome (when metrics are on), a filed ticket replaces the
 * card, a click while another is filing says nothing; Edit opens the modal only on a draft still in `draft`
 * state, carrying its version for the later compare-and-set; Discard replaces the card only when the store
 * discarded the draft, and a repeated Discard is silent; a ticket filed by this click becomes a labelled example of
 * its workspace (learning from corrections).
 */

import { type TicketActionId, ticketActionIds } from '../../slack-kit/ticket-ids.ts';
import { type FileTicketOutcome, fileTicket } from './file-ticket.ts';
import { recordTicketExample } from './learning/record-ticket-example.ts';
import { buildDiscardedCard, buildFiledCard } from './ticket-card.ts';
import { buildEditModal, type EditModalMetadata } from './ticket-edit-modal.ts';
import type { StoredTicketDraft } from './ticket-store.ts';
import type { TicketWorkflowDependencies } from './ticket-workflow-dependencies.ts';

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

/** One click on an existing draft: the request, the draft, where its card is and how to answer the clicker. */
interface CardClick {
  request: TicketActionRequest;
  draft: StoredTicketDraft;
  card: { channel: string; ts: string };
  ephemeral: (text: string) => Promise<unknown>;
}

/** File / Edit / Discard on a card. */
export async function handleCardAction(
  request: TicketActionRequest,
  dependencies: TicketWorkflowDependencies,
  recordFiling?: (outcome: string) => void,
): Promise<TicketActionOutcome> {
  const { store, messenger } = dependencies;
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
  const click: CardClick = { request, draft, card, ephemeral };

  if (request.actionId === ticketActionIds.file) return fileFromCard(click, dependencies, recordFiling);
  if (request.actionId === ticketActionIds.edit) return openEditModal(click, dependencies);
  return discardFromCard(click, dependencies);
}

async function fileFromCard(
  { request, draft, card, ephemeral }: CardClick,
  dependencies: TicketWorkflowDependencies,
  recordFiling: ((outcome: string) => void) | undefined,
): Promise<TicketActionOutcome> {
  const { store, messenger } = dependencies;
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
      sinks: dependencies.sinks,
      ...(dependencies.logger ? { logger: dependencies.logger } : {}),
      ...(dependencies.now ? { now: dependencies.now } : {}),
    },
  );
  recordFiling?.(outcome.kind === 'filed' && outcome.alreadyFiled ? 'already_filed' : outcome.kind);
  if (outcome.kind === 'filed' && !outcome.alreadyFiled) {
    // A filed ticket is one a person accepted: unchanged, or as they corrected it in the Edit modal.
    await recordTicketExample(
      outcome.draft,
      outcome.draft.editedBy ? 'corrected' : 'filed',
      request.userId,
      dependencies,
    );
  }
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

async function openEditModal(
  { request, draft, card, ephemeral }: CardClick,
  dependencies: TicketWorkflowDependencies,
): Promise<TicketActionOutcome> {
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
  await dependencies.messenger.openView(
    request.triggerId,
    buildEditModal({ ticket: draft.ticket, categories: dependencies.categories, metadata }),
  );
  return { kind: 'modal_opened' };
}

async function discardFromCard(
  { request, draft, card, ephemeral }: CardClick,
  dependencies: TicketWorkflowDependencies,
): Promise<TicketActionOutcome> {
  const discarded = await dependencies.store.discard(request.workspaceId, request.draftId, request.userId);
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
  await dependencies.messenger.update({ ...card, text: gone.text, blocks: gone.blocks });
  return { kind: 'discarded_now' };
}
