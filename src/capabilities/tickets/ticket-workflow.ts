/**
 * The ticket capability's entry points for the Slack listeners: each trigger (`/ticket`, a mention in a
 * thread, the "Create ticket" message shortcut, the ticket reaction) calls `createDraft`; the card's buttons
 * call `handleAction`; the Edit modal's submission calls `handleEditSubmission`. Listeners ack first, then call
 * these; every outcome is rendered here through the Messenger port, and each method returns what happened.
 *
 * This facade holds the dependencies and the metrics and delegates to the parts, which import only lower
 * modules: the route (handle-routed-request), making a draft and its card (create-draft), the card's buttons
 * (handle-card-action), the Edit modal's submission (save-edit); customer-text-from-thread reads a thread.
 */

import { DeskhandError } from '../../errors.ts';
import { counter } from '../../observability/metrics.ts';
import type { CapabilityOutcome, Reply } from '../../ports/capability.ts';
import { isTicketActionId } from '../../slack-kit/ticket-ids.ts';
import { type CreateDraftOutcome, type CreateDraftRequest, createDraft, type TicketTrigger } from './create-draft.ts';
import { type HandOverClick, handOver } from './hand-over.ts';
import { handleCardAction, type TicketActionOutcome, type TicketActionRequest } from './handle-card-action.ts';
import { handleRoutedRequest, type RoutedTicketRequest } from './handle-routed-request.ts';
import { type EditSubmissionOutcome, type EditSubmissionRequest, saveEdit, showDraftCard } from './save-edit.ts';
import type { ViewStateValues } from './ticket-edit-modal.ts';
import type { StoredTicketDraft } from './ticket-store.ts';
import type { TicketWorkflowDependencies } from './ticket-workflow-dependencies.ts';

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
  createDraft(request: CreateDraftRequest): Promise<CreateDraftOutcome> {
    return createDraft(request, this.#dependencies, this.#extractions);
  }

  /** File / Edit / Discard on a card. */
  handleAction(request: TicketActionRequest): Promise<TicketActionOutcome> {
    return handleCardAction(request, this.#dependencies, this.#filings);
  }

  /**
   * Validates and saves an Edit modal submission, fast enough to run before the view's ack (one Redis read and
   * one compare-and-set). Invalid input and refusals come back as `response_action: "errors"`, which the listener
   * passes to `ack()` so Slack shows them inside the modal; after a save the listener acks with nothing and calls
   * `showDraftCard`.
   */
  saveEdit(request: EditSubmissionRequest): Promise<EditSubmissionOutcome> {
    return saveEdit(request, this.#dependencies);
  }

  /** Re-renders a draft's card where it was posted (after an edit). */
  showDraftCard(draft: StoredTicketDraft): Promise<void> {
    return showDraftCard(draft, this.#dependencies);
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
   * people's messages), the "Create ticket" shortcut and the ticket reaction. Posts the card where `reply` says
   * (or tells the requester why there is none) and returns `posted`.
   */
  handleRoutedRequest(request: RoutedTicketRequest, reply: Reply): Promise<{ kind: 'posted' }> {
    return handleRoutedRequest(request, reply, this.#dependencies, (draftRequest) => this.createDraft(draftRequest));
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

  /**
   * The "Get a human" button on an answer or agent run (src/capabilities/tickets/hand-over.ts): files the stored
   * hand-over once, to this workspace's sinks, and tells the clicker what happened.
   */
  async handleHandOver(click: HandOverClick): Promise<CapabilityOutcome> {
    const { handOvers, ...rest } = this.#dependencies;
    if (!handOvers) {
      throw new DeskhandError('not_available_yet', 'hand-over store not configured', {
        userMessage: 'Handing over to a human is not set up here yet. Use /ticket instead.',
      });
    }
    return handOver(click, {
      ...rest,
      handOvers,
      tickets: rest.store,
      teamLanguage: rest.extraction.configuration.teamLanguage,
    });
  }
}
