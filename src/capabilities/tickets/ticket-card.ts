/**
 * Block Kit for tickets: the draft card (fields, confidence, what is missing, flags, the "extracted without
 * the model" note with its reason, File / Edit / Discard), the filed and discarded cards, and the
 * triage-channel message. The Edit modal and its validation are in `ticket-edit-modal.ts`.
 *
 * Everything shown comes from a customer or a model, so it is untrusted: `&`, `<`, `>` are escaped (no
 * `<!channel>` or fake links can be injected) and every text is cut to Slack's limits (section text ≤ 3000,
 * field ≤ 2000, ≤ 50 blocks, action ids unique within a block).
 * https://api.slack.com/reference/block-kit/blocks
 */
import type { Block } from '../../ports/messenger.ts';
import { context, section } from '../../slack-kit/blocks.ts';
import { escapeMrkdwn, truncate } from '../../slack-kit/mrkdwn.ts';
import { ticketActionIds, ticketActionsBlockId } from '../../slack-kit/ticket-ids.ts';
import type { TicketFlag } from './grounding.ts';
import { type Ticket, ticketFieldLabels, type UrgencyLevel } from './ticket-schema.ts';

export const slackLimits = {
  blocksPerMessage: 50,
  sectionText: 3000,
  sectionField: 2000,
  fieldsPerSection: 10,
  contextElements: 10,
  headerText: 150,
  buttonText: 75,
  optionText: 75,
  modalTitle: 24,
  privateMetadata: 3000,
  plainTextInitialValue: 3000,
} as const;

export interface CardMessage {
  text: string;
  blocks: Block[];
}

const urgencyEmoji: Record<UrgencyLevel, string> = {
  low: ':large_blue_circle:',
  medium: ':large_yellow_circle:',
  high: ':large_orange_circle:',
  critical: ':red_circle:',
};

export function humanise(value: string): string {
  return value.replace(/_/g, ' ');
}

function field(label: string, value: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: truncate(`*${label}*\n${value}`, slackLimits.sectionField) };
}

const none = '_not in the message_';

function ticketFieldsBlock(ticket: Ticket): Block {
  const text = (value: string | null) => (value === null ? none : escapeMrkdwn(value));
  return {
    type: 'section',
    fields: [
      field(ticketFieldLabels.category, humanise(escapeMrkdwn(ticket.category))),
      field(
        ticketFieldLabels.urgency,
        `${urgencyEmoji[ticket.urgency]} ${ticket.urgency}${ticket.urgencyReason ? ` — ${escapeMrkdwn(ticket.urgencyReason)}` : ''}`,
      ),
      field(
        ticketFieldLabels.orderIds,
        ticket.orderIds.length > 0 ? ticket.orderIds.map(escapeMrkdwn).join(', ') : none,
      ),
      field(ticketFieldLabels.customerName, text(ticket.customerName)),
      field(ticketFieldLabels.customerEmail, text(ticket.customerEmail)),
      field(ticketFieldLabels.product, text(ticket.product)),
      field(ticketFieldLabels.deadline, text(ticket.deadline)),
      field(ticketFieldLabels.frequency, text(ticket.frequency)),
      field(ticketFieldLabels.language, escapeMrkdwn(ticket.language)),
      field(ticketFieldLabels.confidence, `${Math.round(ticket.confidence * 100)} %`),
    ],
  };
}

/** Fields a human should still fill in or ask for. */
export function missingFields(ticket: Ticket): string[] {
  const missing: string[] = [];
  if (ticket.orderIds.length === 0) missing.push(ticketFieldLabels.orderIds);
  if (ticket.customerName === null) missing.push(ticketFieldLabels.customerName);
  if (ticket.customerEmail === null) missing.push(ticketFieldLabels.customerEmail);
  if (ticket.product === null) missing.push(ticketFieldLabels.product);
  return missing;
}

function summaryBlock(title: string, ticket: Ticket): Block {
  return section(`*${title}*\n${escapeMrkdwn(ticket.summary)}`);
}

function contextBlock(lines: string[]): Block {
  return context(lines.map((line) => truncate(line, slackLimits.sectionField)));
}

function missingBlock(ticket: Ticket): Block | undefined {
  const missing = missingFields(ticket);
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`*Missing:* ${missing.join(', ')}`);
  if (ticket.questionsToAsk.length > 0) {
    parts.push(
      `*${ticketFieldLabels.questionsToAsk}:*\n${ticket.questionsToAsk.map((question) => `• ${escapeMrkdwn(question)}`).join('\n')}`,
    );
  }
  if (parts.length === 0) return undefined;
  return section(parts.join('\n'));
}

export interface DraftCardInput {
  draftId: string;
  ticket: Ticket;
  flags: readonly TicketFlag[];
  /** `rules`: the card says it was extracted without the model. */
  mode: 'model' | 'rules';
  editedBy?: string;
}

/** Says the ticket was extracted without the model; on every card made in degraded mode. */
export const withoutModelNote =
  ':warning: *Extracted without the model* — rule-based, so only order ids, emails, dates and urgency words were picked up. Check the fields before filing.';

/** The draft card posted in the thread: fields, missing info, flags and the File / Edit / Discard buttons. */
export function buildTicketCard(input: DraftCardInput): CardMessage {
  const { ticket } = input;
  const blocks: Block[] = [summaryBlock('Ticket draft', ticket)];
  if (input.mode === 'rules') {
    // The reason (no model configured, model down, budget spent, invalid model output) is part of the note.
    const reason = input.flags.find((flag) => flag.kind === 'extracted_without_model');
    blocks.push(contextBlock(reason ? [withoutModelNote, `Why: ${escapeMrkdwn(reason.message)}`] : [withoutModelNote]));
  }
  blocks.push(ticketFieldsBlock(ticket));
  const missing = missingBlock(ticket);
  if (missing) blocks.push(missing);
  const flagLines = input.flags
    .filter((flag) => flag.kind !== 'extracted_without_model')
    .map((flag) => `:triangular_flag_on_post: ${escapeMrkdwn(flag.message)}`);
  if (flagLines.length > 0) blocks.push(contextBlock(flagLines));
  if (input.editedBy) blocks.push(contextBlock([`Edited by <@${input.editedBy}>`]));
  blocks.push({
    type: 'actions',
    block_id: ticketActionsBlockId,
    elements: [
      {
        type: 'button',
        action_id: ticketActionIds.file,
        text: { type: 'plain_text', text: 'File' },
        style: 'primary',
        value: input.draftId,
      },
      {
        type: 'button',
        action_id: ticketActionIds.edit,
        text: { type: 'plain_text', text: 'Edit' },
        value: input.draftId,
      },
      {
        type: 'button',
        action_id: ticketActionIds.discard,
        text: { type: 'plain_text', text: 'Discard' },
        style: 'danger',
        value: input.draftId,
        confirm: {
          title: { type: 'plain_text', text: 'Discard this ticket?' },
          text: { type: 'plain_text', text: 'The draft is thrown away; nothing is filed.' },
          confirm: { type: 'plain_text', text: 'Discard' },
          deny: { type: 'plain_text', text: 'Keep' },
        },
      },
    ],
  });
  const label = input.mode === 'rules' ? 'Ticket draft (extracted without the model)' : 'Ticket draft';
  return { text: truncate(`${label}: ${ticket.summary}`, 3000), blocks };
}

export interface FiledCardInput {
  ticket: Ticket;
  filedBy: string;
  reference: string;
  links?: readonly string[];
  mode: 'model' | 'rules';
}

/** The card after filing: no buttons, "Filed by <@U…> — reference …". */
export function buildFiledCard(input: FiledCardInput): CardMessage {
  const reference = escapeMrkdwn(input.reference);
  const blocks: Block[] = [
    summaryBlock(`:white_check_mark: Filed by <@${input.filedBy}> — reference ${reference}`, input.ticket),
    ticketFieldsBlock(input.ticket),
  ];
  const notes: string[] = [];
  if (input.mode === 'rules') notes.push('Extracted without the model.');
  for (const link of input.links ?? []) notes.push(`<${link}|View in triage>`);
  if (notes.length > 0) blocks.push(contextBlock(notes));
  return { text: `Filed by <@${input.filedBy}> — reference ${reference}`, blocks };
}

/** The card after Discard. */
export function buildDiscardedCard(input: { ticket: Ticket; discardedBy: string }): CardMessage {
  const text = `Ticket draft discarded by <@${input.discardedBy}>.`;
  return {
    text,
    blocks: [section(`:wastebasket: ${text}\n~${escapeMrkdwn(input.ticket.summary)}~`)],
  };
}

/** The message a triage channel receives for a filed ticket. */
export function buildTriageMessage(input: {
  ticketId: string;
  ticket: Ticket;
  filedBy: string;
  sourcePermalink?: string;
  mode: 'model' | 'rules';
}): CardMessage {
  const title = `${urgencyEmoji[input.ticket.urgency]} Ticket ${escapeMrkdwn(input.ticketId)} — filed by <@${input.filedBy}>`;
  const blocks: Block[] = [summaryBlock(title, input.ticket), ticketFieldsBlock(input.ticket)];
  const missing = missingBlock(input.ticket);
  if (missing) blocks.push(missing);
  const notes: string[] = [];
  if (input.sourcePermalink) notes.push(`<${input.sourcePermalink}|Source message>`);
  if (input.mode === 'rules') notes.push('Extracted without the model.');
  if (notes.length > 0) blocks.push(contextBlock(notes));
  return { text: truncate(`Ticket ${input.ticketId}: ${input.ticket.summary}`, 3000), blocks };
}
