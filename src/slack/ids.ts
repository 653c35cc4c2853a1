/**
 * Every Slack identifier Deskhand answers to, in one place. The manifest test checks that each one has a
 * registered listener and appears in `manifests/deskhand.manifest.json` (commands, shortcut callbacks), and
 * that no listener is registered for an id that is not here.
 */

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
} as const;

/** Block Kit action ids of buttons Deskhand posts. */
export const actions = {
  /** Approve a pending agent action (the agent capability authorises the clicker). */
  approvalApprove: 'approval_approve',
  /** Reject a pending agent action. */
  approvalReject: 'approval_reject',
  /** "Create ticket" on a ticket draft. */
  ticketConfirm: 'ticket_confirm',
  /** "Discard" on a ticket draft. */
  ticketDiscard: 'ticket_discard',
} as const;

/** Modal callback ids. */
export const views = {
  /** The ticket review/edit modal. */
  ticketReview: 'ticket_review',
} as const;

export type CommandName = (typeof commands)[keyof typeof commands];
export type ActionId = (typeof actions)[keyof typeof actions];
export type ViewCallbackId = (typeof views)[keyof typeof views];
