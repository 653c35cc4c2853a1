/**
 * Turning a ticket a person accepted into a labelled example of its workspace: called when the Edit modal saves
 * (`corrected`) and when a card is filed (`filed`, or `corrected` when it was edited before).
 *
 * Guarantees: one example per draft (its id), so editing twice and then filing leaves the last accepted fields;
 * a draft without its source text (made before drafts kept it) records nothing; a failure is logged and never
 * reaches the person who clicked — learning is a side effect, not part of the save or the filing.
 */
import { toDeskhandError } from '../../../errors.ts';
import type { Logger } from '../../../observability/logger.ts';
import type { TicketDraft } from '../ticket-store.ts';
import { type TicketExampleOrigin, ticketExampleOf } from './ticket-example.ts';
import type { TicketExampleStore } from './ticket-example-store.ts';

export async function recordTicketExample(
  draft: TicketDraft,
  origin: TicketExampleOrigin,
  recordedBy: string,
  dependencies: { ticketExamples?: Pick<TicketExampleStore, 'record'>; logger?: Logger; now?: () => Date },
): Promise<boolean> {
  const { ticketExamples, logger } = dependencies;
  if (!ticketExamples || !draft.sourceText) return false;
  const now = dependencies.now ?? (() => new Date());
  try {
    const evicted = await ticketExamples.record(
      draft.workspaceId,
      ticketExampleOf({
        id: draft.id,
        text: draft.sourceText,
        ticket: draft.ticket,
        messageTs: draft.textTs ?? draft.messageTs,
        timeZone: draft.timeZone ?? 'UTC',
        origin,
        recordedBy,
        recordedAt: now().toISOString(),
      }),
    );
    logger?.info(
      { workspaceId: draft.workspaceId, ticketId: draft.id, origin, category: draft.ticket.category, evicted },
      'ticket example recorded',
    );
    return true;
  } catch (thrown) {
    const error = toDeskhandError(thrown);
    logger?.warn(
      { workspaceId: draft.workspaceId, ticketId: draft.id, code: error.code, err: error },
      'ticket example not recorded',
    );
    return false;
  }
}
