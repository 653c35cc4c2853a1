/**
 * Grounding: after the schema has validated a ticket, every fact that must come from the customer's text is
 * checked against that text. Order ids, emails and the customer's name must occur in it (normalised
 * comparison: case, `#`, dashes and spaces do not matter, but a digit more or less does); the deadline must
 * not lie before the message's day nor absurdly far after it. Anything that fails is removed and listed as a
 * flag for the card, so an invented value never reaches a ticket silently.
 */
import { DateTime } from 'luxon';
import { findEmails, normaliseIdentifier } from './rule-based-extractor.ts';
import type { Ticket } from './ticket-schema.ts';

export type TicketFlag =
  | { kind: 'ungrounded_order_id'; value: string; message: string }
  | { kind: 'ungrounded_email'; value: string; message: string }
  | { kind: 'ungrounded_name'; value: string; message: string }
  | { kind: 'deadline_before_message'; value: string; message: string }
  | { kind: 'deadline_too_far'; value: string; message: string }
  | { kind: 'deadline_invalid'; value: string; message: string }
  | { kind: 'input_truncated'; value: string; message: string }
  | { kind: 'extracted_without_model'; value: string; message: string }
  | { kind: 'repaired_output'; value: string; message: string };

export interface GroundingContext {
  /** The plain text the ticket was extracted from (what the model saw). */
  sourceText: string;
  messageTs: string;
  timeZone: string;
  /** Deadlines further out than this are treated as mistakes. Default 366. */
  maxDeadlineDays?: number;
}

export interface GroundingResult {
  ticket: Ticket;
  flags: TicketFlag[];
}

/** Runs of 1–3 adjacent source tokens, normalised: "ORD 123" in the text grounds "ORD-123". */
function identifierWindows(text: string): Set<string> {
  const tokens = text
    .split(/[\s,;:()[\]{}<>"'!?|]+/u)
    .map(normaliseIdentifier)
    .filter((token) => token.length > 0);
  const windows = new Set<string>();
  for (let start = 0; start < tokens.length; start += 1) {
    let joined = '';
    for (let length = 0; length < 3 && start + length < tokens.length; length += 1) {
      joined += tokens[start + length];
      windows.add(joined);
    }
  }
  return windows;
}

function normaliseName(value: string): string {
  return value
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Removes every value the source text does not support and says why. Pure: returns a new ticket. */
export function groundTicket(ticket: Ticket, context: GroundingContext): GroundingResult {
  const flags: TicketFlag[] = [];
  const windows = identifierWindows(context.sourceText);

  const orderIds: string[] = [];
  for (const orderId of ticket.orderIds) {
    const key = normaliseIdentifier(orderId);
    if (key.length > 0 && windows.has(key)) {
      if (!orderIds.some((kept) => normaliseIdentifier(kept) === key)) orderIds.push(orderId);
    } else {
      flags.push({
        kind: 'ungrounded_order_id',
        value: orderId,
        message: `Removed order id "${orderId}": it does not appear in the message.`,
      });
    }
  }

  let customerEmail = ticket.customerEmail;
  if (customerEmail !== null) {
    const sourceEmails = new Set(findEmails(context.sourceText).map((email) => email.toLowerCase()));
    if (!sourceEmails.has(customerEmail.trim().toLowerCase())) {
      flags.push({
        kind: 'ungrounded_email',
        value: customerEmail,
        message: `Removed email "${customerEmail}": it does not appear in the message.`,
      });
      customerEmail = null;
    }
  }

  let customerName = ticket.customerName;
  if (customerName !== null) {
    const source = ` ${normaliseName(context.sourceText)} `;
    const name = normaliseName(customerName);
    // Scripts written without spaces (Japanese, Chinese) cannot use word boundaries.
    const unspaced = /[^\p{Script=Latin}\p{Script=Cyrillic}\p{Script=Greek}\s\p{N}]/u.test(name);
    if (name.length === 0 || !(source.includes(` ${name} `) || (unspaced && source.includes(name)))) {
      flags.push({
        kind: 'ungrounded_name',
        value: customerName,
        message: `Removed customer name "${customerName}": it does not appear in the message.`,
      });
      customerName = null;
    }
  }

  let deadline = ticket.deadline;
  if (deadline !== null) {
    const messageDay = DateTime.fromMillis(Math.round(Number(context.messageTs) * 1000), {
      zone: context.timeZone,
    }).startOf('day');
    const date = DateTime.fromISO(deadline, { zone: context.timeZone });
    const maxDays = context.maxDeadlineDays ?? 366;
    if (!date.isValid) {
      flags.push({ kind: 'deadline_invalid', value: deadline, message: `Removed deadline "${deadline}": not a date.` });
      deadline = null;
    } else if (date < messageDay) {
      flags.push({
        kind: 'deadline_before_message',
        value: deadline,
        message: `Removed deadline ${deadline}: it is before the message was sent (${messageDay.toISODate()}).`,
      });
      deadline = null;
    } else if (date.diff(messageDay, 'days').days > maxDays) {
      flags.push({
        kind: 'deadline_too_far',
        value: deadline,
        message: `Removed deadline ${deadline}: more than ${maxDays} days after the message.`,
      });
      deadline = null;
    }
  }

  return { ticket: { ...ticket, orderIds, customerEmail, customerName, deadline }, flags };
}
