/**
 * Answers a question from the documents a channel can see: rewrite a follow-up to stand alone → retrieve
 * (access-scoped, relevance cutoff, packed) → one chat call with the sources as numbered, escaped, untrusted
 * data → citations checked against the sources given. Expected outcomes are values (`AnswerOutcome`), never
 * exceptions.
 *
 * ## Caching (exact, in the gateway) — and why there is no semantic cache
 * The answer call runs at temperature 0 through the gateway's response cache. Its key already covers the
 * workspace, channel, model, prompt version and the full messages (question + packed sources); we add
 * `cacheScope = answers:<workspace>:<channel>:v<indexVersion>`, so
 *  - a channel that cannot see a document never shares an entry with one that can (the scope is an exact key
 *    part, never an embedding distance), and
 *  - any change to the workspace's index bumps the version and misses, so no stale answer survives a re-index.
 * A semantic cache (reuse an answer for a *similar* question) is deliberately not built. Similarity returns the
 * opposite answer for negated or inverted questions (GPTCache#694), and that is the common case, not an edge
 * case: in the SciFact dev split, 30 question pairs share ≥ 80 % of their content terms, and 28 of those 30 state
 * opposite claims ("… increases mortality" / "… decreases mortality", "men are more susceptible than women" /
 * "women are more susceptible than men"); only one pair is a true paraphrase and one an exact repeat (listed by
 * `npm run eval:answers`). It would also save only the one answer call per paraphrase, while retrieval still has
 * to run to know the scope's current sources. Repeated questions (the common case in a support channel: the same
 * question pasted again) are caught by the exact cache above at no false-hit risk.
 */
import { randomUUID } from 'node:crypto';
import { DeskhandError, type OutcomeCode, toDeskhandError } from '../../errors.ts';
import type { CallScope, ChatResult, LanguageModelGateway } from '../../ports/language-model.ts';
import type { AccessScope } from '../../ports/vector-index.ts';
import { answerPromptVersion, buildAnswerMessages } from './answer-prompt.ts';
import type { AnswerSource, ClosestDocument, RetrievedContext, Retriever } from './answer-source.ts';
import { type CitedSource, processAnswerText } from './citations.ts';
import { type ExtractiveAnswer, extractiveAnswer } from './extractive-answer.ts';
import { type ConversationTurn, type RewriteOptions, rewriteQuestion } from './rewrite-question.ts';
import { createStreamRelay } from './stream-relay.ts';

/** Model usage of one answer, all steps included (rewrite, query embedding, answer). */
export interface AnswerUsage {
  /** Calls that reached the model provider (cache hits are not counted). */
  modelCalls: number;
  /** Calls answered from the gateway's cache. */
  cacheHits: number;
  inputTokens: number;
  outputTokens: number;
  /** Integer micro-dollars actually spent. */
  costMicroUsd: number;
  /** Micro-dollars a cache hit saved. */
  savedMicroUsd: number;
}

interface OutcomeBase {
  answerId: string;
  /** The question as asked. */
  question: string;
  /** The question retrieval and the answer used (the rewrite of a follow-up, or the question itself). */
  standaloneQuestion: string;
  rewritten: boolean;
  usage: AnswerUsage;
}

export type AnswerOutcome =
  | (OutcomeBase & {
      kind: 'answered';
      /** Safe markdown (streaming surfaces) and mrkdwn (section blocks) of the answer, citations renumbered. */
      markdown: string;
      mrkdwn: string;
      /** Sources the answer cites, numbered as in the text. */
      cited: CitedSource[];
      /** Every source that was placed in the prompt. */
      sources: AnswerSource[];
      /** False when the answer cites nothing (typically "the documents do not say"). */
      grounded: boolean;
      /** The answer was cut at the output limit. */
      truncated: boolean;
      fromCache: boolean;
      model: string;
      indexVersion: number;
    })
  | (OutcomeBase & {
      kind: 'no_sources';
      /** Nearest documents, none of which passed the relevance cutoff. No chat-model call was made. */
      closest: ClosestDocument[];
      indexVersion: number;
      userMessage: string;
    })
  | (OutcomeBase & {
      kind: 'over_budget';
      code: 'over_budget' | 'budget_unenforceable';
      /** Why, in words safe for Slack (from the gateway). */
      userMessage: string;
      /** The best passages with citations, no model call; absent only when retrieval found nothing. */
      extractive?: ExtractiveAnswer;
    })
  | (OutcomeBase & {
      kind: 'upstream_unavailable';
      code: OutcomeCode;
      userMessage: string;
      extractive?: ExtractiveAnswer;
    })
  | (OutcomeBase & {
      kind: 'without_model';
      /** No language model is configured: the best passages quoted with citations (sparse retrieval only). */
      extractive: ExtractiveAnswer;
      sources: AnswerSource[];
      indexVersion: number;
    })
  | (OutcomeBase & { kind: 'invalid_question'; userMessage: string })
  | (OutcomeBase & { kind: 'failed'; code: OutcomeCode; userMessage: string });

export interface AnswerQuestionInput {
  question: string;
  access: AccessScope;
  /** Budget and cache scope of the asker; its workspace and channel must match `access`. */
  callScope: CallScope;
  /** Earlier turns of the thread, oldest first; triggers the follow-up rewrite. */
  history?: readonly ConversationTurn[];
  /** Receives the answer while it is generated: sanitised, citations renumbered, only stable text. */
  streaming?: { onTextDelta: (delta: string, textSoFar: string) => void };
  /** Id for feedback buttons and logs; generated when absent. */
  answerId?: string;
  /** Absolute deadline (ms since epoch) for the model calls. */
  deadline?: number;
  signal?: AbortSignal;
}

export interface AnswerQuestionDependencies {
  gateway: LanguageModelGateway;
  retrieve: Retriever;
  /** Chat model for answers; defaults to the gateway's configured model. */
  model?: string;
  /** Output tokens the answer may use (the budget reserves this much; default 700). */
  maxOutputTokens?: number;
  /** Questions longer than this are refused with a clear message (default 4000 characters). */
  maxQuestionCharacters?: number;
  rewrite?: RewriteOptions;
  /** Receives problems that were handled by degrading (e.g. a failed rewrite); wire to the logger. */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
  /** Receives the error behind a `failed` outcome (with its cause), so it is logged where the user sees only a reason. */
  onError?: (error: DeskhandError, details: Record<string, unknown>) => void;
  /**
   * No language model is configured: retrieval runs sparse-only and the answer is the quoted passages
   * (`without_model`); the gateway is never called, not even to rewrite a follow-up.
   */
  withoutModel?: boolean;
}

const budgetCodes = new Set<OutcomeCode>(['over_budget', 'budget_unenforceable']);
/** Model failures answered with the quoted passages instead of nothing. */
const upstreamCodes = new Set<OutcomeCode>([
  'upstream_unavailable',
  'upstream_rate_limited',
  'upstream_quota_exhausted',
  'upstream_invalid_response',
  'deadline_exceeded',
  // The model cannot be used as configured (e.g. a model the provider does not know): the passages still help.
  'configuration',
  'not_available_yet',
]);

/** The cache scope of an answer: exact document-access scope plus index version (see the module comment). */
export function answerCacheScope(access: AccessScope, indexVersion: number): string {
  return `answers:${access.workspaceId}:${access.channelId}:v${indexVersion}`;
}

function emptyUsage(): AnswerUsage {
  return { modelCalls: 0, cacheHits: 0, inputTokens: 0, outputTokens: 0, costMicroUsd: 0, savedMicroUsd: 0 };
}

function addChatUsage(usage: AnswerUsage, result: ChatResult): void {
  if (result.fromCache) usage.cacheHits += 1;
  else {
    usage.modelCalls += 1;
    usage.inputTokens += result.usage.inputTokens;
    usage.outputTokens += result.usage.outputTokens;
  }
  usage.costMicroUsd += result.costMicroUsd;
  usage.savedMicroUsd += result.savedMicroUsd;
}

function addRetrievalUsage(usage: AnswerUsage, context: RetrievedContext): void {
  if (!context.usage) return;
  usage.modelCalls += context.usage.modelCalls;
  usage.inputTokens += context.usage.inputTokens;
  usage.costMicroUsd += context.usage.costMicroUsd;
}

/**
 * Answers `question` for `access`. Guarantees:
 * - retrieval and the cache are scoped to `access` (another channel's documents or cached answers never leak);
 * - no passage past the relevance cutoff → `no_sources` without any chat-model call;
 * - a refused budget → `over_budget` with an extractive answer (no model call); an unavailable model →
 *   `upstream_unavailable` with an extractive answer;
 * - `withoutModel` → `without_model` (quoted passages from sparse retrieval) or `no_sources`; no gateway call;
 * - the returned text carries only citations of sources actually given, no mentions and no model-made links.
 */
export async function answerQuestion(
  input: AnswerQuestionInput,
  dependencies: AnswerQuestionDependencies,
): Promise<AnswerOutcome> {
  const answerId = input.answerId ?? randomUUID();
  const question = input.question.trim();
  const usage = emptyUsage();
  const base = (standaloneQuestion: string, rewritten: boolean): OutcomeBase => ({
    answerId,
    question,
    standaloneQuestion,
    rewritten,
    usage,
  });
  const maxCharacters = dependencies.maxQuestionCharacters ?? 4000;
  if (!question) {
    return {
      ...base(question, false),
      kind: 'invalid_question',
      userMessage: 'Ask a question after the command, for example `/ask How do I reset my password?`',
    };
  }
  if (question.length > maxCharacters) {
    return {
      ...base(question, false),
      kind: 'invalid_question',
      userMessage: `That question is ${question.length} characters long; please keep it under ${maxCharacters}.`,
    };
  }
  if (
    input.callScope.workspaceId !== input.access.workspaceId ||
    input.callScope.channelId !== input.access.channelId
  ) {
    throw new DeskhandError('internal', 'answerQuestion: callScope and access disagree on workspace or channel', {
      details: { access: input.access, workspaceId: input.callScope.workspaceId, channelId: input.callScope.channelId },
    });
  }
  if (dependencies.withoutModel) {
    // No model configured: sparse retrieval, then the passages quoted. The follow-up is searched as asked.
    let context: RetrievedContext;
    try {
      context = await dependencies.retrieve({
        question,
        access: input.access,
        callScope: input.callScope,
        sparseOnly: true,
      });
    } catch (error) {
      return fail(base(question, false), toDeskhandError(error));
    }
    if (context.passages.length === 0) return noSources(base(question, false), context);
    return {
      ...base(question, false),
      kind: 'without_model',
      extractive: extractiveAnswer(question, context.passages),
      sources: context.passages,
      indexVersion: context.indexVersion,
    };
  }
  const timing = {
    ...(input.deadline !== undefined ? { deadline: input.deadline } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
  };

  // 1. Follow-ups become standalone questions (one cheap call; none without history).
  let standalone = question;
  let rewritten = false;
  try {
    const rewrite = await rewriteQuestion(
      { question, callScope: input.callScope, ...(input.history ? { history: input.history } : {}) },
      dependencies.gateway,
      { ...dependencies.rewrite, ...timing },
    );
    standalone = rewrite.question;
    rewritten = rewrite.rewritten;
    if (rewrite.rewritten) addChatUsage(usage, rewrite.result);
  } catch (error) {
    const coded = toDeskhandError(error);
    if (coded.code === 'cancelled') return fail(base(question, false), coded);
    // Degrade: retrieval with the follow-up as asked still works for many follow-ups.
    dependencies.onWarning?.('question rewrite failed; answering the follow-up as asked', {
      answerId,
      code: coded.code,
    });
  }

  // 2. Retrieval, scoped to the asker. If the query embedding fails (budget refused, provider down), retry
  //    sparse-only (no model call): an over-budget question still gets its extractive answer, and an embedding
  //    outage does not stop answering.
  let context: RetrievedContext;
  try {
    context = await dependencies.retrieve({ question: standalone, access: input.access, callScope: input.callScope });
  } catch (error) {
    const coded = toDeskhandError(error);
    if (!budgetCodes.has(coded.code) && !upstreamCodes.has(coded.code)) {
      return fail(base(standalone, rewritten), coded);
    }
    dependencies.onWarning?.('retrieval failed; retrying sparse-only', { answerId, code: coded.code });
    try {
      context = await dependencies.retrieve({
        question: standalone,
        access: input.access,
        callScope: input.callScope,
        sparseOnly: true,
      });
    } catch (fallbackError) {
      return fail(base(standalone, rewritten), toDeskhandError(fallbackError));
    }
    if (budgetCodes.has(coded.code)) return degraded(base(standalone, rewritten), coded, context.passages);
  }
  addRetrievalUsage(usage, context);

  // 3. Nothing relevant: say so, list the closest documents, never call the chat model.
  if (context.passages.length === 0) return noSources(base(standalone, rewritten), context);

  // 4. One chat call over the packed sources, cached per document-access scope and index version.
  const sources = context.passages;
  const relay = input.streaming ? createStreamRelay(sources, input.streaming.onTextDelta) : undefined;
  let result: ChatResult;
  try {
    result = await dependencies.gateway.chat(
      {
        purpose: 'answer',
        promptVersion: answerPromptVersion,
        messages: buildAnswerMessages(standalone, sources),
        temperature: 0,
        maxOutputTokens: dependencies.maxOutputTokens ?? 700,
        cache: { enabled: true },
        ...(dependencies.model ? { model: dependencies.model } : {}),
        ...(relay ? { onTextDelta: relay.push } : {}),
        ...timing,
      },
      { ...input.callScope, cacheScope: answerCacheScope(input.access, context.indexVersion) },
    );
  } catch (error) {
    const coded = toDeskhandError(error);
    if (budgetCodes.has(coded.code) || upstreamCodes.has(coded.code)) {
      return degraded(base(standalone, rewritten), coded, sources);
    }
    return fail(base(standalone, rewritten), coded);
  }
  addChatUsage(usage, result);
  if (result.finishReason === 'content_filter') {
    return degraded(
      base(standalone, rewritten),
      new DeskhandError('upstream_invalid_response', 'answer stopped by the content filter', {
        userMessage: 'The model provider refused to answer this, so here are the most relevant passages instead.',
      }),
      sources,
    );
  }

  const processed = processAnswerText(result.text, sources);
  if (!processed.markdown) {
    return degraded(
      base(standalone, rewritten),
      new DeskhandError('upstream_invalid_response', 'the model returned an empty answer', {
        userMessage: 'The model returned an empty answer, so here are the most relevant passages instead.',
      }),
      sources,
    );
  }
  if (processed.invalidCitations.length > 0) {
    dependencies.onWarning?.('answer cited sources that were not given; citations dropped', {
      answerId,
      invalid: processed.invalidCitations,
      sourceCount: sources.length,
    });
  }
  relay?.finish(processed.markdown);
  return {
    ...base(standalone, rewritten),
    kind: 'answered',
    markdown: processed.markdown,
    mrkdwn: processed.mrkdwn,
    cited: processed.cited,
    sources,
    grounded: processed.cited.length > 0,
    truncated: result.finishReason === 'length',
    fromCache: result.fromCache,
    model: result.model,
    indexVersion: context.indexVersion,
  };

  function fail(common: OutcomeBase, error: DeskhandError): AnswerOutcome {
    dependencies.onError?.(error, { answerId, code: error.code });
    return failed(common, error);
  }

  function degraded(common: OutcomeBase, error: DeskhandError, passages: readonly AnswerSource[]): AnswerOutcome {
    const extractive = passages.length > 0 ? extractiveAnswer(common.standaloneQuestion, passages) : undefined;
    if (budgetCodes.has(error.code)) {
      return {
        ...common,
        kind: 'over_budget',
        code: error.code === 'budget_unenforceable' ? 'budget_unenforceable' : 'over_budget',
        userMessage: error.userMessage,
        ...(extractive ? { extractive } : {}),
      };
    }
    return {
      ...common,
      kind: 'upstream_unavailable',
      code: error.code,
      userMessage: error.userMessage,
      ...(extractive ? { extractive } : {}),
    };
  }
}

function noSources(common: OutcomeBase, context: RetrievedContext): AnswerOutcome {
  return {
    ...common,
    kind: 'no_sources',
    closest: context.closest,
    indexVersion: context.indexVersion,
    userMessage:
      context.closest.length > 0
        ? 'I found no passage in the documents this channel can see that answers this. The closest documents are listed below.'
        : 'There are no documents this channel can see that answer this. Add one with `/docs add` on a shared file.',
  };
}

function failed(common: OutcomeBase, error: DeskhandError): AnswerOutcome {
  return { ...common, kind: 'failed', code: error.code, userMessage: error.userMessage };
}

/** True when an outcome should be shown with an extractive answer (for callers that branch on it). */
export function hasExtractiveAnswer(outcome: AnswerOutcome): outcome is Extract<
  AnswerOutcome,
  { kind: 'over_budget' | 'upstream_unavailable' }
> & {
  extractive: ExtractiveAnswer;
} {
  return (
    (outcome.kind === 'over_budget' || outcome.kind === 'upstream_unavailable') && outcome.extractive !== undefined
  );
}
