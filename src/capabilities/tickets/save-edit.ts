/**
 * The Edit modal's submission: validating and saving it, and re-rendering the card after a save.
 *
 * Guarantees: fast enough to run before the view's ack (one Redis read, one compare-and-set and one script that
 * records the saved ticket as a labelled example of the workspace, whose failure is only logged); the tenant
 * comes from the request context, never from the modal's metadata; a save only lands on the version the modal
 * was opened on, on a draft still in `draft` state, and drops the grounding flags (values a person typed are
 * theirs); every refusal comes back as `response_action: "errors"` for Slack to show inside the modal.
 */

import { ticketEditBlockIds } from '../../slack-kit/ticket-ids.ts';
import { recordTicketExample } from './learning/record-ticket-example.ts';
import { buildTicketCard } from './ticket-card.ts';
import { type EditModalMetadata, parseEditSubmission, type ViewStateValues } from './ticket-edit-modal.ts';
import type { StoredTicketDraft } from './ticket-store.ts';
import type { TicketWorkflowDependencies } from './ticket-workflow-dependencies.ts';

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
 * Validates and saves an Edit modal submission, fast enough to run before the view's ack (one Redis read and
 * one compare-and-set). Invalid input and refusals come back as `response_action: "errors"`, which the listener
 * passes to `ack()` so Slack shows them inside the modal; after a save the listener acks with nothing and calls
 * `showDraftCard`.
 */
export async function saveEdit(
  request: EditSubmissionRequest,
  dependencies: Pick<TicketWorkflowDependencies, 'store' | 'categories' | 'ticketExamples' | 'logger' | 'now'>,
): Promise<EditSubmissionOutcome> {
  const { store } = dependencies;
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
  const parsed = parseEditSubmission(request.values, draft.ticket, dependencies.categories);
  if (!parsed.ok) return { kind: 'invalid', response: parsed.response };
  const saved = await store.update(
    request.workspaceId,
    draft.id,
    (content) => ({
      ...content,
      ticket: parsed.ticket,
      // Values a person typed are theirs: earlier grounding flags no longer describe the ticket.
      flags: content.flags.filter((flag) => flag.kind === 'extracted_without_model' || flag.kind === 'input_truncated'),
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
  // What a person saved is what the next similar extraction in this workspace should come close to.
  await recordTicketExample(saved.draft, 'corrected', request.userId, dependencies);
  return { kind: 'saved', draft: saved.draft };
}

/** Re-renders a draft's card where it was posted (after an edit). */
export async function showDraftCard(
  draft: StoredTicketDraft,
  dependencies: Pick<TicketWorkflowDependencies, 'messenger'>,
): Promise<void> {
  if (!draft.card) return;
  const card = buildTicketCard({
    draftId: draft.id,
    ticket: draft.ticket,
    flags: draft.flags,
    mode: draft.mode,
    ...(draft.editedBy ? { editedBy: draft.editedBy } : {}),
  });
  await dependencies.messenger.update({ ...draft.card, text: card.text, blocks: card.blocks });
}
