/**
 * Ticket extraction evaluation.
 *
 *   npm run eval:tickets -- [<labelled.jsonl>] [--mode rules|model] [--limit N]
 *
 * The labelled file defaults to `eval/tickets/labelled.jsonl` (67 messages built from BANKING77, in the repository).
 *
 * Runs `extractTicket` over labelled messages and prints per-field accuracy and the hallucination rate (values
 * the extractor returned that do not occur in the source text). `--mode rules` (default) measures the degraded
 * mode: the gateway is replaced by one that is always unavailable, so the production fallback path runs.
 * `--mode model` builds the real gateway from configuration (OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL,
 * REDIS_URL, MODEL_PRICES_JSON …) and works against any OpenAI-compatible endpoint; Slack variables are not
 * needed and get placeholders. The last line printed is one JSON object with every figure.
 *
 * Each line of the labelled file: { id, text, messageTs, timeZone, expected: <every ticket field> }.
 * Scored exactly (after normalisation): category, urgency, orderIds (as a set), customerName, customerEmail,
 * product (either contains the other), deadline, frequency, language. Free-text fields (summary, urgencyReason,
 * questionsToAsk) and confidence are not scored.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { extractTicket, type TicketExtraction } from '../src/capabilities/tickets/extract-ticket.ts';
import { normaliseIdentifier } from '../src/capabilities/tickets/rule-based-extractor.ts';
import { plainTextFromSlack } from '../src/capabilities/tickets/slack-text.ts';
import { defaultTicketCategories, emptyTicket, type Ticket } from '../src/capabilities/tickets/ticket-schema.ts';
import { loadConfiguration } from '../src/composition/config.ts';
import { createGateway } from '../src/composition/create-gateway.ts';
import { DeskhandError } from '../src/errors.ts';
import { encodingForModel } from '../src/llm/tokenizer.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import type { LanguageModelGateway } from '../src/ports/language-model.ts';

interface LabelledExample {
  id: string;
  text: string;
  messageTs: string;
  timeZone: string;
  expected: Ticket;
}

const scoredFields = [
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
type ScoredField = (typeof scoredFields)[number];

/** A gateway that is always down: `extractTicket` takes its degraded (rule-based) path. */
const unavailableGateway: LanguageModelGateway = {
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

function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10;
}

async function buildModelGateway(): Promise<{
  gateway: LanguageModelGateway;
  model: string;
  close: () => Promise<void>;
}> {
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: 'xoxb-evaluation-placeholder',
    SLACK_SIGNING_SECRET: 'evaluation-placeholder',
    ...process.env,
  });
  if (!loaded.ok) throw new Error(`Configuration problems:\n${loaded.problems.join('\n')}`);
  const configuration = loaded.configuration;
  const redis = new Redis(configuration.redis.url, { maxRetriesPerRequest: 1 });
  const openai = new OpenAI({
    apiKey: configuration.openai.apiKey ?? 'not-set',
    baseURL: configuration.openai.baseURL,
    maxRetries: 0,
    timeout: configuration.openai.timeoutMs,
  });
  const logger = createLogger({ level: configuration.logLevel === 'info' ? 'warn' : configuration.logLevel });
  const parts = createGateway(configuration, { openai, redis, metrics: createMetricsRegistry(), logger });
  return {
    gateway: parts.gateway,
    model: configuration.openai.model,
    close: async () => {
      await parts.close();
      redis.disconnect();
    },
  };
}

const defaultLabelledPath = fileURLToPath(new URL('../eval/tickets/labelled.jsonl', import.meta.url));

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      mode: { type: 'string', default: 'rules' },
      limit: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const path = positionals[0] ?? defaultLabelledPath;
  const mode = values.mode;
  if (mode !== 'rules' && mode !== 'model') {
    console.error('Usage: npm run eval:tickets -- [<labelled.jsonl>] [--mode rules|model] [--limit N] [--verbose]');
    process.exitCode = 2;
    return;
  }
  const examples: LabelledExample[] = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      try {
        return JSON.parse(line) as LabelledExample;
      } catch (error) {
        throw new Error(`${path}:${index + 1} is not valid JSON: ${(error as Error).message}`);
      }
    })
    .slice(0, values.limit ? Number(values.limit) : undefined);

  const model = mode === 'model' ? await buildModelGateway() : undefined;
  const gateway = model?.gateway ?? unavailableGateway;
  const configuration = {
    categories: [...defaultTicketCategories],
    teamLanguage: 'en',
    ...(model ? { encoding: encodingForModel(model.model, 'o200k_base') } : {}),
  };

  const correct = Object.fromEntries(scoredFields.map((field) => [field, 0])) as Record<ScoredField, number>;
  const outcomes: Record<TicketExtraction['kind'], number> = { extracted: 0, degraded: 0, rejected: 0, failed: 0 };
  let extractedValues = 0;
  let hallucinated = 0;
  let spurious = 0;
  let spuriousOpportunities = 0;
  let groundingFlags = 0;
  const started = performance.now();
  for (const example of examples) {
    const outcome = await extractTicket(
      {
        text: example.text,
        messageTs: example.messageTs,
        timeZone: example.timeZone,
        workspaceId: 'eval',
        channelId: 'eval',
        userId: 'eval',
      },
      { gateway, configuration },
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
        console.log(`  hallucinated in ${example.id}: ${JSON.stringify(value)}`);
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
    if (values.verbose && mismatches.length > 0)
      console.log(`${example.id} (${outcome.kind})\n    ${mismatches.join('\n    ')}`);
  }
  await model?.close();

  const count = examples.length;
  const fieldAccuracy = Object.fromEntries(
    scoredFields.map((field) => [field, percent(correct[field], count)]),
  ) as Record<ScoredField, number>;
  const overall = percent(
    scoredFields.reduce((sum, field) => sum + correct[field], 0),
    count * scoredFields.length,
  );
  console.log(`\nTicket extraction — mode ${mode}, ${count} labelled messages (${path})`);
  console.log(
    `outcomes: ${Object.entries(outcomes)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ')}`,
  );
  console.log('field            accuracy');
  for (const field of scoredFields)
    console.log(`${field.padEnd(16)} ${String(fieldAccuracy[field]).padStart(5)} %  (${correct[field]}/${count})`);
  console.log(`${'all fields'.padEnd(16)} ${String(overall).padStart(5)} %`);
  console.log(
    `hallucination rate: ${percent(hallucinated, extractedValues)} % (${hallucinated} of ${extractedValues} extracted ids, emails, names, products not in the source)`,
  );
  console.log(
    `spurious rate: ${percent(spurious, spuriousOpportunities)} % (${spurious} of ${spuriousOpportunities} fields labelled empty were filled)`,
  );
  console.log(`grounding removed: ${groundingFlags} values`);
  console.log(
    JSON.stringify({
      mode,
      examples: count,
      outcomes,
      fieldAccuracy,
      overallAccuracy: overall,
      hallucinationRate: percent(hallucinated, extractedValues),
      hallucinated,
      extractedValues,
      spuriousRate: percent(spurious, spuriousOpportunities),
      groundingRemoved: groundingFlags,
      durationMs: Math.round(performance.now() - started),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
