/**
 * extractTicket: a customer's message → a validated, grounded ticket, or the reason there is none.
 *
 * - `extracted`: the model's reply passed the schema (one repair round happens inside the gateway) and
 *   grounding (invented order ids, emails, names and impossible deadlines are removed and flagged).
 * - `degraded`: no model is configured, the model is unavailable, the channel's budget is spent or
 *   unenforceable, or the model twice returned a ticket that fails validation (after the gateway's one repair
 *   call); the rule-based extractor filled what it could and the card must say "extracted without the model",
 *   with the reason.
 * - `rejected`: nothing to extract (empty text, only files or images), with a specific message.
 * - `failed`: only when the request was cancelled (e.g. shutdown); a clear message, no crash.
 */
import { DeskhandError, isDeskhandError, type OutcomeCode, toDeskhandError } from '../../errors.ts';
import type { EncodingName } from '../../llm/tokenizer.ts';
import type { Logger } from '../../observability/logger.ts';
import type { LanguageModelGateway } from '../../ports/language-model.ts';
import { groundTicket, type TicketFlag } from './grounding.ts';
import { applyExampleVote } from './learning/apply-example-vote.ts';
import { defaultVoteParameters } from './learning/example-vote.ts';
import type { NearestExamples, TicketExampleSource } from './learning/ticket-example.ts';
import { extractByRules, truncateForRules } from './rule-based-extractor.ts';
import { hasNoReadableText, plainTextFromSlack } from './slack-text.ts';
import {
  buildTicketPrompt,
  defaultTicketInputTokenLimit,
  maxLearnedPromptExamples,
  type TicketPrompt,
  ticketPromptVersion,
} from './ticket-prompt.ts';
import { createTicketSchema, type Ticket } from './ticket-schema.ts';

export interface TicketSourceFile {
  name?: string;
  mimetype?: string;
}

export interface ExtractTicketInput {
  /** Slack message text (mrkdwn entities are decoded here). For a thread: the customer messages joined. */
  text: string;
  /** ts of the source message: relative dates resolve against it. */
  messageTs: string;
  workspaceId: string;
  channelId: string;
  /** Who asked for the ticket (budget and logs). */
  userId: string;
  /** IANA zone of the workspace. */
  timeZone: string;
  /** Files attached to the source message, to explain why a file-only message cannot be read. */
  files?: readonly TicketSourceFile[];
  /** Correlates the model call with the Slack delivery (event id); the gateway makes each call's id unique. */
  requestId?: string;
}

export interface ExtractTicketConfiguration {
  categories: readonly string[];
  /** ISO 639-1 language for summaries and questions (`TEAM_LANGUAGE`). */
  teamLanguage: string;
  /** Cap on the customer text sent to the model, in tokens. */
  maxInputTokens?: number;
  maxOutputTokens?: number;
  /** Model override (defaults to the gateway's configured chat model). */
  model?: string;
  /** Encoding of that model, for the truncation count. */
  encoding?: EncodingName;
  /** Milliseconds the model call may take, retries and the repair round included. */
  timeoutMs?: number;
}

export interface ExtractTicketDependencies {
  gateway: LanguageModelGateway;
  /** False when no language model is configured: the rules make every ticket and the gateway is never called. */
  modelConfigured?: boolean;
  configuration: ExtractTicketConfiguration;
  /**
   * The workspace's labelled examples (learning from corrections): in rule mode their vote decides category and
   * urgency, in model mode the nearest are few-shot examples. Without it, or when it fails, extraction is as before.
   */
  examples?: TicketExampleSource;
  logger?: Logger;
  now?: () => number;
}

export type TicketRejection = 'empty' | 'only_files' | 'unreadable';

export type TicketExtraction =
  | {
      kind: 'extracted';
      ticket: Ticket;
      flags: TicketFlag[];
      fromCache: boolean;
      repaired: boolean;
      truncated: boolean;
      model: string;
      costMicroUsd: number;
      promptVersion: string;
      /** The plain text the ticket was extracted from (after decoding and truncation). */
      sourceText: string;
    }
  | {
      kind: 'degraded';
      ticket: Ticket;
      flags: TicketFlag[];
      /** Why the model was not used. */
      reason: OutcomeCode;
      /** Safe to show: why the card was made without the model. */
      reasonMessage: string;
      truncated: boolean;
      sourceText: string;
    }
  | { kind: 'rejected'; reason: TicketRejection; message: string }
  | { kind: 'failed'; code: OutcomeCode; message: string };

/** Failures after which there is nothing to fall back to: the user stopped it, or the process is shutting down. */
const finalCodes: ReadonlySet<OutcomeCode> = new Set<OutcomeCode>(['cancelled']);

/** Why a card was made without the model, in words for the card (the error's own message where it is specific). */
function withoutModelReason(error: DeskhandError): string {
  switch (error.code) {
    case 'configuration':
      return 'No language model is configured.';
    case 'upstream_invalid_response':
      return 'The model twice returned a ticket I could not validate.';
    case 'internal':
      return 'The model call failed unexpectedly.';
    default:
      return error.userMessage;
  }
}

function describeFiles(files: readonly TicketSourceFile[]): string {
  const images = files.filter((file) => file.mimetype?.startsWith('image/')).length;
  if (images === files.length) return images === 1 ? 'an image' : `${images} images`;
  return files.length === 1 ? 'a file' : `${files.length} files`;
}

/** Validates the input and returns the plain text to extract from, or why there is nothing to extract. */
export function prepareTicketText(
  input: Pick<ExtractTicketInput, 'text' | 'files'>,
): { ok: true; text: string } | { ok: false; reason: TicketRejection; message: string } {
  const text = plainTextFromSlack(input.text ?? '').trim();
  const files = input.files ?? [];
  if (hasNoReadableText(text)) {
    if (files.length > 0) {
      return {
        ok: false,
        reason: 'only_files',
        message: `That message only has ${describeFiles(files)} and no text. I can only make tickets from text: paste or type what the customer wrote.`,
      };
    }
    return text.length === 0
      ? {
          ok: false,
          reason: 'empty',
          message:
            'There is no text to make a ticket from. Use `/ticket <what the customer wrote>` or run it on a message with text.',
        }
      : {
          ok: false,
          reason: 'unreadable',
          message: 'That message has only mentions, emoji or punctuation, so there is nothing to make a ticket from.',
        };
  }
  return { ok: true, text };
}

/**
 * Extracts a ticket. Never throws for model, budget or input problems: every outcome is a value. The model
 * reply is schema-validated by the gateway and grounded here against the text the model saw.
 */
export async function extractTicket(
  input: ExtractTicketInput,
  dependencies: ExtractTicketDependencies,
): Promise<TicketExtraction> {
  const { configuration, logger } = dependencies;
  const log = logger?.child({ purpose: 'ticket', workspaceId: input.workspaceId, channelId: input.channelId });
  const prepared = prepareTicketText(input);
  if (!prepared.ok) {
    log?.info({ reason: prepared.reason, messageTs: input.messageTs }, 'ticket input rejected');
    return { kind: 'rejected', reason: prepared.reason, message: prepared.message };
  }
  const customerText = prepared.text;
  const nearest = await nearestExamples(input.workspaceId, customerText, dependencies.examples, log);

  const prompt = buildTicketPrompt({
    text: prepared.text,
    messageTs: input.messageTs,
    timeZone: input.timeZone,
    categories: configuration.categories,
    teamLanguage: configuration.teamLanguage,
    maxInputTokens: configuration.maxInputTokens ?? defaultTicketInputTokenLimit,
    ...(configuration.encoding ? { encoding: configuration.encoding } : {}),
    learnedExamples: nearest.neighbours.slice(0, maxLearnedPromptExamples).map(({ example }) => example),
  });
  if (dependencies.modelConfigured === false) {
    log?.info({ code: 'configuration', messageTs: input.messageTs }, 'ticket extracted by rules: no model configured');
    return extractWithoutModel(
      input,
      configuration,
      customerText,
      new DeskhandError('configuration', 'no language model configured'),
      nearest,
      log,
    );
  }

  try {
    return await extractWithModel(input, dependencies, prompt, log);
  } catch (thrown) {
    const error: DeskhandError = toDeskhandError(thrown);
    if (finalCodes.has(error.code)) {
      log?.info({ code: error.code, messageTs: input.messageTs }, 'ticket extraction cancelled');
      return { kind: 'failed', code: error.code, message: error.userMessage };
    }
    log?.[error.code === 'internal' ? 'error' : 'warn'](
      { code: error.code, err: error, messageTs: input.messageTs, known: isDeskhandError(thrown) },
      'ticket extracted without the model',
    );
    return extractWithoutModel(input, configuration, customerText, error, nearest, log);
  }
}

/** The workspace's nearest examples for the text; none (logged) when there is no source or it fails. */
async function nearestExamples(
  workspaceId: string,
  text: string,
  examples: TicketExampleSource | undefined,
  log: Logger | undefined,
): Promise<NearestExamples> {
  if (!examples) return { neighbours: [], examples: 0 };
  try {
    return await examples.nearest(workspaceId, text, Math.max(defaultVoteParameters.k, maxLearnedPromptExamples));
  } catch (thrown) {
    const error = toDeskhandError(thrown);
    log?.warn({ code: error.code, err: error }, 'ticket examples unavailable; extracting without them');
    return { neighbours: [], examples: 0 };
  }
}

/** The flag a truncated prompt puts on every card made from it. */
function truncationFlags(prompt: TicketPrompt): TicketFlag[] {
  return prompt.truncated
    ? [
        {
          kind: 'input_truncated',
          value: String(prompt.originalTextTokens),
          message: `The message was too long (${prompt.originalTextTokens} tokens); only the first ${prompt.textTokens} tokens were read.`,
        },
      ]
    : [];
}

/** The model's ticket (schema-checked by the gateway), grounded against the text it saw. Throws what the call threw. */
async function extractWithModel(
  input: ExtractTicketInput,
  dependencies: ExtractTicketDependencies,
  prompt: TicketPrompt,
  log: Logger | undefined,
): Promise<TicketExtraction> {
  const { gateway, configuration } = dependencies;
  const now = dependencies.now ?? Date.now;
  const sourceText = prompt.text;
  const structured = await gateway.structured(
    {
      purpose: 'ticket',
      promptVersion: ticketPromptVersion,
      messages: prompt.messages,
      schema: createTicketSchema(configuration.categories),
      schemaName: 'support_ticket',
      maxOutputTokens: configuration.maxOutputTokens ?? 900,
      temperature: 0,
      cache: { enabled: true },
      deadline: now() + (configuration.timeoutMs ?? 45_000),
      ...(configuration.model ? { model: configuration.model } : {}),
    },
    {
      workspaceId: input.workspaceId,
      channelId: input.channelId,
      userId: input.userId,
      requestId: input.requestId ?? `ticket:${input.channelId}:${input.messageTs}`,
    },
  );
  const grounded = groundTicket(structured.value, { sourceText, messageTs: input.messageTs, timeZone: input.timeZone });
  const flags = [...truncationFlags(prompt), ...grounded.flags];
  if (structured.repaired) {
    flags.push({
      kind: 'repaired_output',
      value: 'repair',
      message: 'The model’s first answer was malformed and was repaired once.',
    });
  }
  log?.info(
    {
      messageTs: input.messageTs,
      fromCache: structured.result.fromCache,
      repaired: structured.repaired,
      removed: grounded.flags.map((flag) => flag.kind),
      truncated: prompt.truncated,
      learnedExamples: prompt.learnedExamples,
    },
    'ticket extracted',
  );
  return {
    kind: 'extracted',
    ticket: grounded.ticket,
    flags,
    fromCache: structured.result.fromCache,
    repaired: structured.repaired,
    truncated: prompt.truncated,
    model: structured.result.model,
    costMicroUsd: structured.result.costMicroUsd,
    promptVersion: ticketPromptVersion,
    sourceText,
  };
}

/** The rule-based ticket, grounded against the whole customer text, flagged with why the model was not used. */
function extractWithoutModel(
  input: ExtractTicketInput,
  configuration: ExtractTicketConfiguration,
  customerText: string,
  error: DeskhandError,
  nearest: NearestExamples,
  log: Logger | undefined,
): TicketExtraction {
  const byRules = extractByRules({
    text: customerText,
    messageTs: input.messageTs,
    timeZone: input.timeZone,
    categories: configuration.categories,
    teamLanguage: configuration.teamLanguage,
  });
  const voted = applyExampleVote(byRules, nearest, configuration.categories);
  if (nearest.neighbours.length > 0)
    log?.info(
      {
        voters: voted.vote.voters,
        examples: nearest.examples,
        changed: voted.changed,
        share: voted.vote.category?.share,
      },
      'ticket fields voted by learned examples',
    );
  const ruleTicket = voted.ticket;
  const grounded = groundTicket(ruleTicket, {
    sourceText: customerText,
    messageTs: input.messageTs,
    timeZone: input.timeZone,
  });
  const reasonMessage = withoutModelReason(error);
  const cut = truncateForRules(customerText);
  return {
    kind: 'degraded',
    ticket: grounded.ticket,
    flags: [
      { kind: 'extracted_without_model', value: error.code, message: reasonMessage },
      ...ruleTruncationFlags(customerText.length, cut),
      ...grounded.flags,
    ],
    reason: error.code,
    reasonMessage,
    truncated: cut.truncated,
    sourceText: customerText,
  };
}

/** The rules read only the first `ruleBasedTextBudget` characters; the card says so when that cut anything. */
function ruleTruncationFlags(originalLength: number, cut: { text: string; truncated: boolean }): TicketFlag[] {
  if (!cut.truncated) return [];
  return [
    {
      kind: 'input_truncated',
      value: String(originalLength),
      message: `The message was too long (${originalLength} characters); only the first ${cut.text.length} were read.`,
    },
  ];
}
