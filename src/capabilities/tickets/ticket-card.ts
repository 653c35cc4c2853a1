/**
 * Block Kit for tickets: the draft card (fields, confidence, what is missing, flags, the "extracted without
 * the model" note, File / Edit / Discard), the pre-filled Edit modal and the validation of its submission,
 * the filed and discarded cards, and the triage-channel message.
 *
 * Everything shown comes from a customer or a model, so it is untrusted: `&`, `<`, `>` are escaped (no
 * `<!channel>` or fake links can be injected) and every text is cut to Slack's limits (section text ≤ 3000,
 * field ≤ 2000, ≤ 50 blocks, action ids unique within a block).
 * https://api.slack.com/reference/block-kit/blocks
 */
import type { Block } from '../../ports/messenger.ts';
import type { TicketFlag } from './grounding.ts';
import {
  ticketActionIds,
  ticketActionsBlockId,
  ticketEditBlockIds,
  ticketEditInputActionId,
  ticketEditModalCallbackId,
} from './ticket-ids.ts';
import {
  createTicketSchema,
  type Frequency,
  frequencies,
  isoDatePattern,
  type Ticket,
  ticketFieldLabels,
  type UrgencyLevel,
  urgencyLevels,
} from './ticket-schema.ts';

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

/** Escapes the three characters Slack treats as markup in mrkdwn and plain text. */
export function escapeSlackText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts to `max` characters (with an ellipsis), never splitting an escape sequence in half. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let kept = text.slice(0, max - 1);
  const partialEntity = /&[a-z]{0,3}$/.exec(kept);
  if (partialEntity) kept = kept.slice(0, partialEntity.index);
  return `${kept}…`;
}

const urgencyEmoji: Record<UrgencyLevel, string> = {
  low: ':large_blue_circle:',
  medium: ':large_yellow_circle:',
  high: ':large_orange_circle:',
  critical: ':red_circle:',
};

function humanise(value: string): string {
  return value.replace(/_/g, ' ');
}

function field(label: string, value: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: cut(`*${label}*\n${value}`, slackLimits.sectionField) };
}

const none = '_not in the message_';

function ticketFieldsBlock(ticket: Ticket): Block {
  const text = (value: string | null) => (value === null ? none : escapeSlackText(value));
  return {
    type: 'section',
    fields: [
      field(ticketFieldLabels.category, humanise(escapeSlackText(ticket.category))),
      field(
        ticketFieldLabels.urgency,
        `${urgencyEmoji[ticket.urgency]} ${ticket.urgency}${ticket.urgencyReason ? ` — ${escapeSlackText(ticket.urgencyReason)}` : ''}`,
      ),
      field(
        ticketFieldLabels.orderIds,
        ticket.orderIds.length > 0 ? ticket.orderIds.map(escapeSlackText).join(', ') : none,
      ),
      field(ticketFieldLabels.customerName, text(ticket.customerName)),
      field(ticketFieldLabels.customerEmail, text(ticket.customerEmail)),
      field(ticketFieldLabels.product, text(ticket.product)),
      field(ticketFieldLabels.deadline, text(ticket.deadline)),
      field(ticketFieldLabels.frequency, text(ticket.frequency)),
      field(ticketFieldLabels.language, escapeSlackText(ticket.language)),
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
  return {
    type: 'section',
    text: { type: 'mrkdwn', text: cut(`*${title}*\n${escapeSlackText(ticket.summary)}`, slackLimits.sectionText) },
  };
}

function contextBlock(lines: string[]): Block {
  return {
    type: 'context',
    elements: lines
      .slice(0, slackLimits.contextElements)
      .map((line) => ({ type: 'mrkdwn', text: cut(line, slackLimits.sectionField) })),
  };
}

function missingBlock(ticket: Ticket): Block | undefined {
  const missing = missingFields(ticket);
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`*Missing:* ${missing.join(', ')}`);
  if (ticket.questionsToAsk.length > 0) {
    parts.push(
      `*${ticketFieldLabels.questionsToAsk}:*\n${ticket.questionsToAsk.map((question) => `• ${escapeSlackText(question)}`).join('\n')}`,
    );
  }
  if (parts.length === 0) return undefined;
  return { type: 'section', text: { type: 'mrkdwn', text: cut(parts.join('\n'), slackLimits.sectionText) } };
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
  if (input.mode === 'rules') blocks.push(contextBlock([withoutModelNote]));
  blocks.push(ticketFieldsBlock(ticket));
  const missing = missingBlock(ticket);
  if (missing) blocks.push(missing);
  const flagLines = input.flags
    .filter((flag) => flag.kind !== 'extracted_without_model')
    .map((flag) => `:triangular_flag_on_post: ${escapeSlackText(flag.message)}`);
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
  return { text: cut(`Ticket draft: ${ticket.summary}`, 3000), blocks };
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
  const reference = escapeSlackText(input.reference);
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
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: cut(`:wastebasket: ${text}\n~${escapeSlackText(input.ticket.summary)}~`, slackLimits.sectionText),
        },
      },
    ],
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
  const title = `${urgencyEmoji[input.ticket.urgency]} Ticket ${escapeSlackText(input.ticketId)} — filed by <@${input.filedBy}>`;
  const blocks: Block[] = [summaryBlock(title, input.ticket), ticketFieldsBlock(input.ticket)];
  const missing = missingBlock(input.ticket);
  if (missing) blocks.push(missing);
  const notes: string[] = [];
  if (input.sourcePermalink) notes.push(`<${input.sourcePermalink}|Source message>`);
  if (input.mode === 'rules') notes.push('Extracted without the model.');
  if (notes.length > 0) blocks.push(contextBlock(notes));
  return { text: cut(`Ticket ${input.ticketId}: ${input.ticket.summary}`, 3000), blocks };
}

/** What the Edit modal carries in `private_metadata`. */
export interface EditModalMetadata {
  workspaceId: string;
  draftId: string;
  /** Draft version the modal was opened on: a save over a newer version is refused. */
  version: number;
  /** The card to update after saving. */
  channel?: string;
  ts?: string;
}

function plainText(text: string) {
  return { type: 'plain_text', text: cut(text, slackLimits.optionText) };
}

function option(value: string, label = value) {
  return { text: plainText(humanise(label)), value };
}

function textInput(
  blockId: string,
  label: string,
  initial: string | null,
  options: { optional?: boolean; multiline?: boolean; maxLength?: number; hint?: string } = {},
): Block {
  return {
    type: 'input',
    block_id: blockId,
    optional: options.optional ?? true,
    label: plainText(label),
    ...(options.hint ? { hint: plainText(options.hint) } : {}),
    element: {
      type: 'plain_text_input',
      action_id: ticketEditInputActionId,
      multiline: options.multiline ?? false,
      ...(options.maxLength ? { max_length: options.maxLength } : {}),
      ...(initial ? { initial_value: cut(initial, options.maxLength ?? slackLimits.plainTextInitialValue) } : {}),
    },
  };
}

function selectInput(
  blockId: string,
  label: string,
  values: readonly string[],
  initial: string | null,
  optional: boolean,
): Block {
  const options = values.slice(0, 100).map((value) => option(value));
  const selected = initial !== null && values.includes(initial) ? option(initial) : undefined;
  return {
    type: 'input',
    block_id: blockId,
    optional,
    label: plainText(label),
    element: {
      type: 'static_select',
      action_id: ticketEditInputActionId,
      options,
      ...(selected ? { initial_option: selected } : {}),
    },
  };
}

/** The Edit modal, pre-filled with the draft's fields. */
export function buildEditModal(input: {
  ticket: Ticket;
  categories: readonly string[];
  metadata: EditModalMetadata;
}): Record<string, unknown> {
  const { ticket } = input;
  const ids = ticketEditBlockIds;
  return {
    type: 'modal',
    callback_id: ticketEditModalCallbackId,
    private_metadata: JSON.stringify(input.metadata),
    title: plainText('Edit ticket'),
    submit: plainText('Save'),
    close: plainText('Cancel'),
    blocks: [
      textInput(ids.summary, ticketFieldLabels.summary, ticket.summary, {
        optional: false,
        multiline: true,
        maxLength: 300,
      }),
      selectInput(ids.category, ticketFieldLabels.category, input.categories, ticket.category, false),
      selectInput(ids.urgency, ticketFieldLabels.urgency, urgencyLevels, ticket.urgency, false),
      textInput(ids.urgencyReason, ticketFieldLabels.urgencyReason, ticket.urgencyReason, { maxLength: 200 }),
      textInput(ids.orderIds, ticketFieldLabels.orderIds, ticket.orderIds.join(', '), {
        hint: 'Separate several with commas.',
      }),
      textInput(ids.customerName, ticketFieldLabels.customerName, ticket.customerName, { maxLength: 120 }),
      textInput(ids.customerEmail, ticketFieldLabels.customerEmail, ticket.customerEmail, { maxLength: 254 }),
      textInput(ids.product, ticketFieldLabels.product, ticket.product, { maxLength: 120 }),
      {
        type: 'input',
        block_id: ids.deadline,
        optional: true,
        label: plainText(ticketFieldLabels.deadline),
        element: {
          type: 'datepicker',
          action_id: ticketEditInputActionId,
          ...(ticket.deadline ? { initial_date: ticket.deadline } : {}),
        },
      },
      selectInput(ids.frequency, ticketFieldLabels.frequency, frequencies, ticket.frequency, true),
      textInput(ids.language, `${ticketFieldLabels.language} (ISO 639-1, e.g. en)`, ticket.language, {
        optional: false,
        maxLength: 2,
      }),
      textInput(ids.questionsToAsk, ticketFieldLabels.questionsToAsk, ticket.questionsToAsk.join('\n'), {
        multiline: true,
        hint: 'One question per line, at most 5.',
      }),
    ],
  };
}

/** `view.state.values` of a submission: block id → action id → element state. */
export type ViewStateValues = Record<
  string,
  Record<
    string,
    { type?: string; value?: string | null; selected_option?: { value: string } | null; selected_date?: string | null }
  >
>;

export type EditSubmission =
  | { ok: true; ticket: Ticket }
  | { ok: false; response: { response_action: 'errors'; errors: Record<string, string> } };

function stateOf(values: ViewStateValues, blockId: string) {
  return values[blockId]?.[ticketEditInputActionId];
}

function textValue(values: ViewStateValues, blockId: string): string | null {
  const value = stateOf(values, blockId)?.value?.trim();
  return value ? value : null;
}

const emailShape = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]{2,}$/u;

/**
 * Validates an Edit submission against the ticket schema. Errors come back in the shape Slack shows inside
 * the modal (`response_action: "errors"`, keyed by block id); a valid one yields the corrected ticket.
 * https://api.slack.com/surfaces/modals#displaying_errors
 */
export function parseEditSubmission(
  values: ViewStateValues,
  previous: Ticket,
  categories: readonly string[],
): EditSubmission {
  const ids = ticketEditBlockIds;
  const errors: Record<string, string> = {};
  const orderIds = (textValue(values, ids.orderIds) ?? '')
    .split(/[,\n]/)
    .map((part) => part.trim())
    .filter(Boolean);
  const questions = (textValue(values, ids.questionsToAsk) ?? '')
    .split('\n')
    .map((part) => part.trim())
    .filter(Boolean);
  const email = textValue(values, ids.customerEmail);
  if (email !== null && !emailShape.test(email))
    errors[ids.customerEmail] = 'Enter an email address such as name@example.com, or leave it empty.';
  const deadline = stateOf(values, ids.deadline)?.selected_date ?? null;
  if (deadline !== null && !isoDatePattern.test(deadline)) errors[ids.deadline] = 'Pick a date.';
  const language = textValue(values, ids.language)?.toLowerCase() ?? '';
  if (orderIds.length > 20) errors[ids.orderIds] = 'At most 20 order ids.';
  else if (orderIds.some((id) => id.length > 64)) errors[ids.orderIds] = 'Each order id can be at most 64 characters.';
  if (questions.length > 5) errors[ids.questionsToAsk] = 'At most 5 questions, one per line.';
  else if (questions.some((question) => question.length > 200))
    errors[ids.questionsToAsk] = 'Each question can be at most 200 characters.';

  const candidate = {
    summary: textValue(values, ids.summary) ?? '',
    category: stateOf(values, ids.category)?.selected_option?.value ?? '',
    urgency: stateOf(values, ids.urgency)?.selected_option?.value ?? '',
    urgencyReason: textValue(values, ids.urgencyReason),
    orderIds,
    customerName: textValue(values, ids.customerName),
    customerEmail: email,
    product: textValue(values, ids.product),
    deadline,
    frequency: (stateOf(values, ids.frequency)?.selected_option?.value ?? null) as Frequency | null,
    language,
    questionsToAsk: questions,
    confidence: previous.confidence,
  };
  const parsed = createTicketSchema(categories).safeParse(candidate);
  if (!parsed.success) {
    const messages: Record<string, string> = {
      summary: 'Write a summary (at most 300 characters).',
      category: 'Choose one of the categories.',
      urgency: 'Choose an urgency.',
      urgencyReason: 'At most 200 characters.',
      orderIds: 'Check the order ids.',
      customerName: 'At most 120 characters.',
      customerEmail: 'Enter a valid email address.',
      product: 'At most 120 characters.',
      deadline: 'Pick a date.',
      frequency: 'Choose how often it happens.',
      language: 'Use a two-letter language code such as en, de or fr.',
      questionsToAsk: 'At most 5 questions of up to 200 characters.',
    };
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? 'summary') as keyof typeof ids;
      const blockId = ids[name];
      if (blockId && !errors[blockId]) errors[blockId] = messages[name] ?? issue.message;
    }
  }
  if (Object.keys(errors).length > 0 || !parsed.success) {
    return { ok: false, response: { response_action: 'errors', errors } };
  }
  return { ok: true, ticket: parsed.data };
}
