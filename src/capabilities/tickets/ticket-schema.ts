/**
 * The support ticket: one zod schema that is, at once, the JSON Schema sent to the model (structured
 * outputs), the validation of its reply and of the Edit modal, and the field list the card renders.
 *
 * Strict-mode friendly for OpenAI structured outputs: every property is required, unknown values are `null`
 * (never optional), objects are closed (`additionalProperties: false`) and only supported keywords are used
 * (`enum`, `pattern`, `minimum`/`maximum`, `anyOf` with `null`).
 */
import { z } from 'zod';

export const defaultTicketCategories = [
  'missing_delivery',
  'app_crash',
  'billing',
  'account_access',
  'bug',
  'feature_request',
  'question',
  'other',
] as const;

export const urgencyLevels = ['low', 'medium', 'high', 'critical'] as const;
export type UrgencyLevel = (typeof urgencyLevels)[number];

export const frequencies = ['once', 'intermittent', 'always'] as const;
export type Frequency = (typeof frequencies)[number];

export const isoDatePattern = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/** A ticket as Deskhand holds it. `null` means "not in the message": never a guess. */
export interface Ticket {
  summary: string;
  category: string;
  urgency: UrgencyLevel;
  urgencyReason: string | null;
  orderIds: string[];
  customerName: string | null;
  customerEmail: string | null;
  product: string | null;
  deadline: string | null;
  frequency: Frequency | null;
  language: string;
  questionsToAsk: string[];
  confidence: number;
}

export type TicketField = keyof Ticket;

/** Card and modal labels, in schema order. */
export const ticketFieldLabels: Record<TicketField, string> = {
  summary: 'Summary',
  category: 'Category',
  urgency: 'Urgency',
  urgencyReason: 'Why this urgency',
  orderIds: 'Order ids',
  customerName: 'Customer',
  customerEmail: 'Email',
  product: 'Product',
  deadline: 'Deadline',
  frequency: 'Frequency',
  language: 'Language',
  questionsToAsk: 'Still to ask',
  confidence: 'Confidence',
};

export const ticketFields = Object.keys(ticketFieldLabels) as TicketField[];

/**
 * The schema for a category list (`TICKET_CATEGORIES`). The descriptions are part of the prompt: they are
 * what the model reads about each field.
 */
export function createTicketSchema(categories: readonly string[] = defaultTicketCategories): z.ZodType<Ticket> {
  if (categories.length === 0) throw new Error('createTicketSchema needs at least one category');
  return z.strictObject({
    summary: z
      .string()
      .min(1)
      .max(300)
      .describe('One or two sentences in the team language saying what the customer needs, without greetings.'),
    category: z
      .enum(categories as [string, ...string[]])
      .describe('The best-fitting category; "other" (if listed) when none fits.'),
    urgency: z
      .enum(urgencyLevels)
      .describe(
        'critical: money lost, security, or many customers blocked now; high: one customer blocked or an explicit near deadline; medium: a problem without time pressure; low: a question or a wish.',
      ),
    urgencyReason: z
      .string()
      .max(200)
      .nullable()
      .describe('The words in the message that justify the urgency; null if none.'),
    orderIds: z
      .array(z.string().min(1).max(64))
      .max(20)
      .describe('Order, invoice, transaction or case numbers exactly as written in the message; [] if none.'),
    customerName: z.string().max(120).nullable().describe('The customer’s name only if the message states it.'),
    customerEmail: z.string().max(254).nullable().describe('The customer’s email only if it appears in the message.'),
    product: z
      .string()
      .max(120)
      .nullable()
      .describe('The product, plan, card or app the message is about; null if not named.'),
    deadline: z
      .string()
      .regex(isoDatePattern)
      .nullable()
      .describe(
        'YYYY-MM-DD date by which the customer needs a resolution, resolved against the message time and time zone; null if no date is asked for.',
      ),
    frequency: z
      .enum(frequencies)
      .nullable()
      .describe('How often the problem happens, if the message says: once, intermittent or always.'),
    language: z
      .string()
      .regex(/^[a-z]{2}$/)
      .describe('ISO 639-1 code of the language the customer wrote in.'),
    questionsToAsk: z
      .array(z.string().min(1).max(200))
      .max(5)
      .describe('What a human still needs to ask the customer to resolve this (in the team language); [] if nothing.'),
    confidence: z.number().min(0).max(1).describe('How sure you are that this ticket reflects the message, 0 to 1.'),
  });
}

/** JSON Schema of the ticket (what structured outputs receive): `type: "object"`, closed, all required. */
export function ticketJsonSchema(categories: readonly string[] = defaultTicketCategories): Record<string, unknown> {
  const schema = z.toJSONSchema(createTicketSchema(categories), { target: 'draft-7' }) as Record<string, unknown>;
  delete schema.$schema;
  return schema;
}

/**
 * The one empty ticket: every unknown field `null` or `[]`, category `other`, urgency `medium`, language `en`,
 * confidence 0; `overrides` replace fields in place, so the key order (and the JSON) stays the schema's.
 */
export function emptyTicket(overrides: Partial<Ticket> = {}): Ticket {
  return {
    summary: '',
    category: 'other',
    urgency: 'medium',
    urgencyReason: null,
    orderIds: [],
    customerName: null,
    customerEmail: null,
    product: null,
    deadline: null,
    frequency: null,
    language: 'en',
    questionsToAsk: [],
    confidence: 0,
    ...overrides,
  };
}
