/**
 * What answering a question returns: every expected outcome is a value (`AnswerOutcome`), never an exception.
 * A refused budget becomes `over_budget` and a model failure `upstream_unavailable`, both with an extractive
 * answer (quoted passages, no model call) whenever retrieval found passages; a `failed` outcome is reported to
 * `onError` before it is returned.
 */
import type { DeskhandError, OutcomeCode } from '../../errors.ts';
import type { AnswerSource, ClosestDocument, RetrievedContext } from './answer-source.ts';
import type { AnswerUsage } from './answer-usage.ts';
import type { CitedSource } from './citations.ts';
import { type ExtractiveAnswer, extractiveAnswer } from './extractive-answer.ts';

export interface OutcomeBase {
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

/** Budget refusals, answered with the quoted passages (`over_budget`). */
export const budgetCodes = new Set<OutcomeCode>(['over_budget', 'budget_unenforceable']);
/** Model failures answered with the quoted passages instead of nothing. */
export const upstreamCodes = new Set<OutcomeCode>([
  'upstream_unavailable',
  'upstream_rate_limited',
  'upstream_quota_exhausted',
  'upstream_invalid_response',
  'deadline_exceeded',
  // The model cannot be used as configured (e.g. a model the provider does not know): the passages still help.
  'configuration',
  'not_available_yet',
]);

/** Whether a failure still gets the quoted passages (a budget refusal or a model failure) rather than `failed`. */
export function answersWithPassages(code: OutcomeCode): boolean {
  return budgetCodes.has(code) || upstreamCodes.has(code);
}

/** The `failed` outcome, after reporting `error` (with its cause) to `onError`. */
export function failedOutcome(
  common: OutcomeBase,
  error: DeskhandError,
  onError: ((error: DeskhandError, details: Record<string, unknown>) => void) | undefined,
): AnswerOutcome {
  onError?.(error, { answerId: common.answerId, code: error.code });
  return { ...common, kind: 'failed', code: error.code, userMessage: error.userMessage };
}

/** A refused budget (`over_budget`) or an unusable model (`upstream_unavailable`), with the quoted passages. */
export function degradedOutcome(
  common: OutcomeBase,
  error: DeskhandError,
  passages: readonly AnswerSource[],
): AnswerOutcome {
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

/** Nothing passed the relevance cutoff: say so and list the closest documents (no chat-model call was made). */
export function noSourcesOutcome(common: OutcomeBase, context: RetrievedContext): AnswerOutcome {
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
