/**
 * A labelled ticket example: a customer's text and the ticket a person accepted for it — filed unchanged or saved
 * from the Edit modal. Examples belong to one workspace; extraction in that workspace uses the nearest ones (the
 * vote in rule mode, few-shot examples in model mode).
 *
 * Guarantees: `parseTicketExample` accepts only a well-formed example whose ticket passes the ticket schema for
 * *some* category (the workspace's categories may have changed since; users of an example check its category
 * against today's list), and its text is at most `maxExampleTextCharacters` long.
 */
import { createTicketSchema, type Ticket } from '../ticket-schema.ts';
import { boundExampleText, maxExampleTextCharacters } from './example-features.ts';
import type { Neighbour } from './nearest-example-index.ts';

export type TicketExampleOrigin = 'corrected' | 'filed';

export interface TicketExample {
  /** The draft's id: one example per draft, re-recording it replaces it. */
  id: string;
  /** The customer text the ticket was made from, cut to `maxExampleTextCharacters`. */
  text: string;
  category: string;
  urgency: string;
  /** The accepted ticket (what a few-shot example shows the model). */
  ticket: Ticket;
  /** Instant and zone the text's relative dates refer to. */
  messageTs: string;
  timeZone: string;
  origin: TicketExampleOrigin;
  /** Who corrected or filed it, and when (ISO 8601). */
  recordedBy: string;
  recordedAt: string;
}

/** A workspace's examples nearest to a text, and how many examples the workspace has. */
export interface NearestExamples {
  /** Best first. */
  neighbours: Neighbour<TicketExample>[];
  examples: number;
}

/** Where extraction finds a workspace's nearest examples. */
export interface TicketExampleSource {
  /** At most `limit` examples of `workspaceId` nearest to `text`, best first; only that workspace's. */
  nearest(workspaceId: string, text: string, limit: number): Promise<NearestExamples>;
}

/** The example a ticket makes, its text bounded. */
export function ticketExampleOf(input: Omit<TicketExample, 'category' | 'urgency'>): TicketExample {
  return {
    ...input,
    text: boundExampleText(input.text),
    category: input.ticket.category,
    urgency: input.ticket.urgency,
  };
}

/** Schemas by category, so reading thousands of examples builds each schema once (bounded: categories are few). */
const schemas = new Map<string, ReturnType<typeof createTicketSchema>>();
function schemaFor(category: string): ReturnType<typeof createTicketSchema> {
  let schema = schemas.get(category);
  if (!schema) {
    schema = createTicketSchema([category]);
    if (schemas.size < 256) schemas.set(category, schema);
  }
  return schema;
}

/** An example read back from storage, or undefined when it is not one (never throws). */
export function parseTicketExample(json: string): TicketExample | undefined {
  let value: Partial<TicketExample>;
  try {
    value = JSON.parse(json) as Partial<TicketExample>;
  } catch {
    return undefined;
  }
  if (
    typeof value?.id !== 'string' ||
    typeof value.text !== 'string' ||
    value.text.length > maxExampleTextCharacters ||
    typeof value.messageTs !== 'string' ||
    typeof value.timeZone !== 'string' ||
    (value.origin !== 'corrected' && value.origin !== 'filed') ||
    typeof value.ticket !== 'object' ||
    value.ticket === null
  ) {
    return undefined;
  }
  const category = typeof value.ticket.category === 'string' ? value.ticket.category : '';
  if (category === '' || !schemaFor(category).safeParse(value.ticket).success) return undefined;
  return {
    id: value.id,
    text: value.text,
    category,
    urgency: value.ticket.urgency,
    ticket: value.ticket,
    messageTs: value.messageTs,
    timeZone: value.timeZone,
    origin: value.origin,
    recordedBy: typeof value.recordedBy === 'string' ? value.recordedBy : '',
    recordedAt: typeof value.recordedAt === 'string' ? value.recordedAt : '',
  };
}
