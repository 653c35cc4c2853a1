/**
 * Scoring of ticket extraction against labelled messages (the eval format of eval/tickets/README.md), shared by
 * `npm run eval:tickets` and the learning curve (`npm run eval:tickets:curve`); and loading labelled messages as a
 * workspace's corrections (learning from corrections, issue 16).
 *
 * Scored exactly (after normalisation): category, urgency, orderIds (as a set), customerName, customerEmail,
 * product (either contains the other), deadline, frequency, language. Free-text fields (summary, urgencyReason,
 * questionsToAsk) and confidence are not scored.
 */
import { readFileSync } from 'node:fs';
import {
  type ExtractTicketConfiguration,
  extractTicket,
  type TicketExtraction,
} from '../src/capabilities/tickets/extract-ticket.ts';
import type { TicketExampleSource } from '../src/capabilities/tickets/learning/ticket-example.ts';
import { ticketExampleOf } from '../src/capabilities/tickets/learning/ticket-example.ts';
import type { TicketExampleStore } from '../src/capabilities/tickets/learning/ticket-example-store.ts';
import { normaliseIdentifier } from '../src/capabilities/tickets/rule-based-extractor.ts';
import { plainTextFromSlack } from '../src/capabilities/tickets/slack-text.ts';
import { emptyTicket, type Ticket } from '../src/capabilities/tickets/ticket-schema.ts';
import { DeskhandError } from '../src/errors.ts';
import type { LanguageModelGateway } from '../src/ports/language-model.ts';

export interface LabelledExample {
  id: string;
  text: string;
  messageTs: string;
  timeZone: string;
  expected: Ticket;
}

export const scoredFields = [
  'category',
  'urgency',
  'orderIds',
  'customerName',
  'customerEmail',
  'product',
  'deadline',
  'frequency',
  'language',
] as const;
export type ScoredField = (typeof scoredFields)[number];

/** A gateway that is always down: `extractTicket` takes its degraded (rule-based) path. */
export const unavailableGateway: LanguageModelGateway = {
  chat: async () => {
    throw new DeskhandError('upstream_unavailable', 'evaluation in rules mode');
  },
  structured: async () => {
    throw new DeskhandError('upstream_unavailable', 'evaluation in rules mode');
  },
  embed: async () => {
    throw new DeskhandError('upstream_unavailable', 'evaluation in rules mode');
  },
  countChatTokens: () => 0,
};

function normaliseText(value: string | null): string {
  return (value ?? '')
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}@.]+/gu, ' ')
    .trim();
}

function fieldMatches(field: ScoredField, actual: Ticket, expected: Ticket): boolean {
  switch (field) {
    case 'orderIds': {
      const left = new Set(actual.orderIds.map(normaliseIdentifier));
      const right = new Set(expected.orderIds.map(normaliseIdentifier));
      return left.size === right.size && [...left].every((value) => right.has(value));
    }
    case 'product': {
      const left = normaliseText(actual.product);
      const right = normaliseText(expected.product);
      if (left === '' || right === '') return left === right;
      return left.includes(right) || right.includes(left);
    }
    default:
      return normaliseText(actual[field] as string | null) === normaliseText(expected[field] as string | null);
  }
}

/** Values that must come from the text, and whether each occurs in it. */
function groundedValues(ticket: Ticket, sourceText: string): { value: string; grounded: boolean }[] {
  const source = normaliseText(sourceText);
  const sourceIdentifiers = normaliseIdentifier(sourceText);
  const values: { value: string; grounded: boolean }[] = [];
  for (const orderId of ticket.orderIds)
    values.push({ value: orderId, grounded: sourceIdentifiers.includes(normaliseIdentifier(orderId)) });
  if (ticket.customerEmail)
    values.push({ value: ticket.customerEmail, grounded: source.includes(normaliseText(ticket.customerEmail)) });
  if (ticket.customerName)
    values.push({ value: ticket.customerName, grounded: source.includes(normaliseText(ticket.customerName)) });
  if (ticket.product) {
    const words = normaliseText(ticket.product).split(' ').filter(Boolean);
    values.push({ value: ticket.product, grounded: words.every((word) => source.includes(word)) });
  }
  return values;
}

export function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10;
}

/** Labelled messages of a JSONL file (the first `limit` when given); a bad line names its number. */
export function readLabelled(path: string, limit?: number): LabelledExample[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      try {
        return JSON.parse(line) as LabelledExample;
      } catch (error) {
        throw new Error(`${path}:${index + 1} is not valid JSON: ${(error as Error).message}`);
      }
    })
    .slice(0, limit);
}

/**
 * Records labelled messages as corrections of `workspaceId` (what the Edit modal's save records), 50 at a time.
 * Returns how many the store holds afterwards (the cap may have evicted the oldest).
 */
export async function loadCorrections(
  store: TicketExampleStore,
  workspaceId: string,
  labelled: readonly LabelledExample[],
): Promise<number> {
  for (let start = 0; start < labelled.length; start += 50) {
    await Promise.all(
      labelled.slice(start, start + 50).map((message) =>
        store.record(
          workspaceId,
          ticketExampleOf({
            id: message.id,
            text: plainTextFromSlack(message.text),
            ticket: message.expected,
            messageTs: message.messageTs,
            timeZone: message.timeZone,
            origin: 'corrected',
            recordedBy: 'eval',
            recordedAt: new Date(0).toISOString(),
          }),
        ),
      ),
    );
  }
  return (await store.snapshot(workspaceId)).ids.length;
}

export interface ScoreOptions {
  gateway: LanguageModelGateway;
  configuration: ExtractTicketConfiguration;
  examples?: TicketExampleSource;
  workspaceId?: string;
  /** Print each mismatch (true), only hallucinations (undefined), or nothing (false). */
  verbose?: boolean;
}

export interface TicketScores {
  count: number;
  correct: Record<ScoredField, number>;
  fieldAccuracy: Record<ScoredField, number>;
  overallAccuracy: number;
  outcomes: Record<TicketExtraction['kind'], number>;
  hallucinated: number;
  extractedValues: number;
  hallucinationRate: number;
  spurious: number;
  spuriousOpportunities: number;
  spuriousRate: number;
  groundingRemoved: number;
  durationMs: number;
}

/** Extracts a ticket from every labelled message and scores it. */
export async function scoreTickets(labelled: readonly LabelledExample[], options: ScoreOptions): Promise<TicketScores> {
  const correct = Object.fromEntries(scoredFields.map((field) => [field, 0])) as Record<ScoredField, number>;
  const outcomes: Record<TicketExtraction['kind'], number> = { extracted: 0, degraded: 0, rejected: 0, failed: 0 };
  let extractedValues = 0;
  let hallucinated = 0;
  let spurious = 0;
  let spuriousOpportunities = 0;
  let groundingFlags = 0;
  const started = performance.now();
  for (const example of labelled) {
    const outcome = await extractTicket(
      {
        text: example.text,
        messageTs: example.messageTs,
        timeZone: example.timeZone,
        workspaceId: options.workspaceId ?? 'eval',
        channelId: 'eval',
        userId: 'eval',
      },
      {
        gateway: options.gateway,
        configuration: options.configuration,
        ...(options.examples ? { examples: options.examples } : {}),
      },
    );
    outcomes[outcome.kind] += 1;
    const ticket =
      outcome.kind === 'extracted' || outcome.kind === 'degraded'
        ? outcome.ticket
        : emptyTicket({ category: '', language: '' });
    if (outcome.kind === 'extracted' || outcome.kind === 'degraded') {
      groundingFlags += outcome.flags.filter(
        (flag) => flag.kind.startsWith('ungrounded') || flag.kind.startsWith('deadline'),
      ).length;
    }
    const mismatches: string[] = [];
    for (const field of scoredFields) {
      if (fieldMatches(field, ticket, example.expected)) correct[field] += 1;
      else
        mismatches.push(
          `${field}: got ${JSON.stringify(ticket[field])}, expected ${JSON.stringify(example.expected[field])}`,
        );
    }
    for (const { value, grounded } of groundedValues(ticket, plainTextFromSlack(example.text))) {
      extractedValues += 1;
      if (!grounded) {
        hallucinated += 1;
        if (options.verbose !== false) console.log(`  hallucinated in ${example.id}: ${JSON.stringify(value)}`);
      }
    }
    for (const field of ['orderIds', 'customerName', 'customerEmail', 'product', 'deadline', 'frequency'] as const) {
      const labelEmpty =
        field === 'orderIds' ? example.expected.orderIds.length === 0 : example.expected[field] === null;
      if (!labelEmpty) continue;
      spuriousOpportunities += 1;
      const extractedSomething = field === 'orderIds' ? ticket.orderIds.length > 0 : ticket[field] !== null;
      if (extractedSomething) spurious += 1;
    }
    if (options.verbose && mismatches.length > 0)
      console.log(`${example.id} (${outcome.kind})\n    ${mismatches.join('\n    ')}`);
  }
  const count = labelled.length;
  const fieldAccuracy = Object.fromEntries(
    scoredFields.map((field) => [field, percent(correct[field], count)]),
  ) as Record<ScoredField, number>;
  return {
    count,
    correct,
    fieldAccuracy,
    overallAccuracy: percent(
      scoredFields.reduce((sum, field) => sum + correct[field], 0),
      count * scoredFields.length,
    ),
    outcomes,
    hallucinated,
    extractedValues,
    hallucinationRate: percent(hallucinated, extractedValues),
    spurious,
    spuriousOpportunities,
    spuriousRate: percent(spurious, spuriousOpportunities),
    groundingRemoved: groundingFlags,
    durationMs: Math.round(performance.now() - started),
  };
}
