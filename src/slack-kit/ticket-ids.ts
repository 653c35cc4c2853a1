/**
 * Every Slack id the ticket capability puts on a surface, in one place, so listeners, builders and the app
 * manifest agree. Action ids are unique within their block (Slack's rule); values carry only the draft id,
 * never data a listener should trust.
 */

/** Slash command that starts an extraction from its text. */
export const ticketCommand = '/ticket';

/** Message shortcut "Create ticket" (manifest `shortcuts[].callback_id`, type `message`). */
export const ticketMessageShortcutCallbackId = 'create_ticket';

/**
 * Buttons on the ticket card; the button `value` is the draft id. The values match `src/slack-kit/ids.ts`
 * (`actions.ticketConfirm`, `actions.ticketDiscard`; a test checks it); `ticket_edit` is new there.
 */
export const ticketActionIds = {
  file: 'ticket_confirm',
  edit: 'ticket_edit',
  discard: 'ticket_discard',
} as const;

export type TicketActionId = (typeof ticketActionIds)[keyof typeof ticketActionIds];

/** Block id of the card's button row. */
export const ticketActionsBlockId = 'ticket_actions';

/** The Edit modal (`views.ticketReview` in src/slack-kit/ids.ts); `private_metadata` carries the draft id and the card's location. */
export const ticketEditModalCallbackId = 'ticket_review';

/** Input blocks of the Edit modal; each holds one element whose action id is `ticketEditInputActionId`. */
export const ticketEditBlockIds = {
  summary: 'ticket_summary',
  category: 'ticket_category',
  urgency: 'ticket_urgency',
  urgencyReason: 'ticket_urgency_reason',
  orderIds: 'ticket_order_ids',
  customerName: 'ticket_customer_name',
  customerEmail: 'ticket_customer_email',
  product: 'ticket_product',
  deadline: 'ticket_deadline',
  frequency: 'ticket_frequency',
  language: 'ticket_language',
  questionsToAsk: 'ticket_questions',
} as const;

export type TicketEditField = keyof typeof ticketEditBlockIds;

export const ticketEditInputActionId = 'input';

/** True when an action id belongs to the ticket card (for a single `app.action(/^ticket_/)` registration). */
export function isTicketActionId(actionId: string): actionId is TicketActionId {
  return (Object.values(ticketActionIds) as string[]).includes(actionId);
}
