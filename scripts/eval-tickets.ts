/**
 * Ticket extraction evaluation.
 *
 *   npm run eval:tickets -- [<labelled.jsonl>] [--mode rules|model] [--limit N] [--examples <labelled.jsonl>]
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
 * `--examples FILE` (learning from corrections, issue 16) records every message of FILE — the same format — as a
 * correction of a scratch workspace in Redis (REDIS_URL, default redis://127.0.0.1:6379) through the production
 * example store, extracts in that workspace, and deletes the scratch workspace's examples afterwards. Score on
 * messages that are not among the examples: the accuracy of an example on itself says nothing.
 *
 * Each line of the labelled file: { id, text, messageTs, timeZone, expected: <every ticket field> }.
 * Scored exactly (after normalisation): category, urgency, orderIds (as a set), customerName, customerEmail,
 * product (either contains the other), deadline, frequency, language. Free-text fields (summary, urgencyReason,
 * questionsToAsk) and confidence are not scored.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { TicketExampleStore } from '../src/capabilities/tickets/learning/ticket-example-store.ts';
import { WorkspaceExampleIndexes } from '../src/capabilities/tickets/learning/workspace-example-indexes.ts';
import { defaultTicketCategories } from '../src/capabilities/tickets/ticket-schema.ts';
import { loadConfiguration } from '../src/composition/config.ts';
import { createGateway } from '../src/composition/create-gateway.ts';
import { encodingForModel } from '../src/llm/tokenizer.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import type { LanguageModelGateway } from '../src/ports/language-model.ts';
import {
  loadCorrections,
  percent,
  readLabelled,
  scoredFields,
  scoreTickets,
  type TicketScores,
  unavailableGateway,
} from './ticket-eval-scoring.ts';

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

const usage =
  'Usage: npm run eval:tickets -- [<labelled.jsonl>] [--mode rules|model] [--limit N] [--examples <labelled.jsonl>] [--verbose]';

/** The example source of a scratch workspace holding `path`'s messages as corrections, and how to remove them. */
async function scratchWorkspaceWith(
  path: string,
): Promise<{ workspaceId: string; source: WorkspaceExampleIndexes; loaded: number; close: () => Promise<void> }> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const store = new TicketExampleStore(redis, { keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'dh:' });
  const workspaceId = `TEVAL${randomBytes(6).toString('hex').toUpperCase()}`;
  const loaded = await loadCorrections(store, workspaceId, readLabelled(path));
  return {
    workspaceId,
    source: new WorkspaceExampleIndexes(store),
    loaded,
    close: async () => {
      await store.clear(workspaceId);
      await redis.del(`${process.env.REDIS_KEY_PREFIX ?? 'dh:'}ticket-examples:{${workspaceId}}:version`);
      redis.disconnect();
    },
  };
}

function printScores(scores: TicketScores, heading: string, extra: Record<string, unknown>): void {
  const { count, correct, fieldAccuracy } = scores;
  console.log(`\n${heading}`);
  console.log(
    `outcomes: ${Object.entries(scores.outcomes)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ')}`,
  );
  console.log('field            accuracy');
  for (const field of scoredFields)
    console.log(`${field.padEnd(16)} ${String(fieldAccuracy[field]).padStart(5)} %  (${correct[field]}/${count})`);
  console.log(`${'all fields'.padEnd(16)} ${String(scores.overallAccuracy).padStart(5)} %`);
  console.log(
    `hallucination rate: ${scores.hallucinationRate} % (${scores.hallucinated} of ${scores.extractedValues} extracted ids, emails, names, products not in the source)`,
  );
  console.log(
    `spurious rate: ${percent(scores.spurious, scores.spuriousOpportunities)} % (${scores.spurious} of ${scores.spuriousOpportunities} fields labelled empty were filled)`,
  );
  console.log(`grounding removed: ${scores.groundingRemoved} values`);
  console.log(
    JSON.stringify({
      ...extra,
      examples: count,
      outcomes: scores.outcomes,
      fieldAccuracy,
      overallAccuracy: scores.overallAccuracy,
      hallucinationRate: scores.hallucinationRate,
      hallucinated: scores.hallucinated,
      extractedValues: scores.extractedValues,
      spuriousRate: scores.spuriousRate,
      groundingRemoved: scores.groundingRemoved,
      durationMs: scores.durationMs,
    }),
  );
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      mode: { type: 'string', default: 'rules' },
      limit: { type: 'string' },
      examples: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const path = positionals[0] ?? defaultLabelledPath;
  const mode = values.mode;
  if (mode !== 'rules' && mode !== 'model') {
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  const labelled = readLabelled(path, values.limit ? Number(values.limit) : undefined);
  const scratch = values.examples ? await scratchWorkspaceWith(values.examples) : undefined;
  const model = mode === 'model' ? await buildModelGateway() : undefined;
  try {
    const gateway = model?.gateway ?? unavailableGateway;
    const scores = await scoreTickets(labelled, {
      gateway,
      configuration: {
        categories: [...defaultTicketCategories],
        teamLanguage: 'en',
        ...(model ? { encoding: encodingForModel(model.model, 'o200k_base') } : {}),
      },
      ...(scratch ? { examples: scratch.source, workspaceId: scratch.workspaceId } : {}),
      ...(values.verbose ? { verbose: true } : {}),
    });
    const learned = scratch ? `, ${scratch.loaded} learned examples (${values.examples})` : '';
    printScores(scores, `Ticket extraction — mode ${mode}, ${labelled.length} labelled messages (${path})${learned}`, {
      mode,
      learnedExamples: scratch?.loaded ?? 0,
    });
  } finally {
    await model?.close();
    await scratch?.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
