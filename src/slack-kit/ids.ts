/**
 * Every Slack identifier Deskhand answers to, in one place. The manifest test checks that each one has a
 * registered listener and appears in `manifests/deskhand.manifest.json` (commands, shortcut callbacks), and
 * that no listener is registered for an id that is not here.
 */

import { agentActionIds } from './agent-ids.ts';
import { answerActionIds, answerReasonModalCallbackId } from './answer-ids.ts';
import { handOverActionId } from './hand-over-ids.ts';
import { homeActionIds } from './home-ids.ts';
import { settingsActionIds, settingsModalCallbackId } from './settings-ids.ts';
import { ticketActionIds, ticketEditModalCallbackId } from './ticket-ids.ts';

/** Slash commands, as declared in the manifest. */
export const commands = {
  ask: '/ask',
  ticket: '/ticket',
  agent: '/agent',
  budget: '/budget',
  docs: '/docs',
} as const;

/** Message shortcuts (callback ids). */
export const messageShortcuts = {
  createTicket: 'create_ticket',
  /** "Save to Deskhand docs": the thread becomes a document of its channel (the `docs` route). */
  saveThreadToDocs: 'save_thread_to_docs',
} as const;

/**
 * Block Kit action ids of buttons Deskhand posts. Each capability owns its ids (it builds the blocks); they are
 * gathered here so the app registers a listener for every one.
 */
export const actions = {
  /** Approve / reject a pending agent action (the agent authorises the clicker); stop a run. */
  approvalApprove: agentActionIds.approve,
  approvalReject: agentActionIds.reject,
  agentStop: agentActionIds.stop,
  /** File, edit or discard a ticket draft. */
  ticketConfirm: ticketActionIds.file,
  ticketEdit: ticketActionIds.edit,
  ticketDiscard: ticketActionIds.discard,
  /** Feedback on an answer. */
  answerHelpful: answerActionIds.helpful,
  answerNotHelpful: answerActionIds.notHelpful,
  /** Reopen the 👎 reason picker (the voter only, checked on the work side). */
  answerFeedbackReason: answerActionIds.reason,
  /** "Get a human" on an answer or agent run (the tickets capability files the stored hand-over once). */
  handOver: handOverActionId,
  /** Forget a document from the App Home (admin or uploader, checked on the work side). */
  homeForgetDocument: homeActionIds.forgetDocument,
  /** Open the workspace settings modal (admins only, checked on the work side). */
  settingsOpen: settingsActionIds.open,
} as const;

/** Modal callback ids. */
export const views = {
  /** The ticket review/edit modal. */
  ticketReview: ticketEditModalCallbackId,
  /** The workspace settings modal. */
  settingsEdit: settingsModalCallbackId,
  /** Why an answer was not helpful (the 👎 reason picker). */
  answerFeedbackReason: answerReasonModalCallbackId,
} as const;

export type CommandName = (typeof commands)[keyof typeof commands];
export type ActionId = (typeof actions)[keyof typeof actions];
export type ViewCallbackId = (typeof views)[keyof typeof views];
