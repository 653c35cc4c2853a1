/**
 * The ticket Edit modal: pre-filled with the draft's fields, and the validation of its submission against the
 * ticket schema, with errors in the shape Slack shows inside the modal. Texts are cut to Slack's limits.
 * https://api.slack.com/surfaces/modals
 */
import type { Block } from '../../ports/messenger.ts';
import { truncate } from '../../slack-kit/mrkdwn.ts';
import { ticketEditBlockIds, ticketEditInputActionId, ticketEditModalCallbackId } from '../../slack-kit/ticket-ids.ts';
import { humanise, slackLimits } from './ticket-card.ts';
import {
  createTicketSchema,
  type Frequency,
  frequencies,
  isoDatePattern,
  type Ticket,
  ticketFieldLabels,
  urgencyLevels,
} from './ticket-schema.ts';

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
  return { type: 'plain_text', text: truncate(text, slackLimits.optionText) };
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
      ...(initial ? { initial_value: truncate(initial, options.maxLength ?? slackLimits.plainTextInitialValue) } : {}),
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

const emailParts = /^[^\s@<>]+@([^\s@<>]+)$/u;

/**
 * `name@domain.tld`: no spaces or angle brackets, one `@`, and a dot in the domain with a character before it and
 * two after it. Checked in two steps, as `/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]{2,}$/u` did in one, because that pattern's
 * domain and top-level parts traded dots (quadratic on a long dotted value, issue 14).
 */
function hasEmailShape(value: string): boolean {
  const domain = emailParts.exec(value)?.[1];
  if (domain === undefined) return false;
  const dot = domain.indexOf('.', 1);
  return dot !== -1 && /^.{2}/su.test(domain.slice(dot + 1)); // two characters (code points, as with /u)
}

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
  if (email !== null && !hasEmailShape(email))
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
