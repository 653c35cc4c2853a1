/**
 * Answering when no language model is configured: sparse retrieval only, then the best passages quoted with
 * citations (`without_model`), or `no_sources`. The gateway is never called, not even to rewrite a follow-up
 * (the follow-up is searched as asked).
 */
import { toDeskhandError } from '../../errors.ts';
import { type AnswerOutcome, failedOutcome, noSourcesOutcome, type OutcomeBase } from './answer-outcome.ts';
import type { AnswerQuestionDependencies, AnswerQuestionInput } from './answer-question-input.ts';
import type { RetrievedContext } from './answer-source.ts';
import { extractiveAnswer } from './extractive-answer.ts';

/** `common` is the outcome base of the question as asked (not rewritten). */
export async function answerWithoutModel(
  common: OutcomeBase,
  input: AnswerQuestionInput,
  dependencies: AnswerQuestionDependencies,
): Promise<AnswerOutcome> {
  const question = common.question;
  let context: RetrievedContext;
  try {
    context = await dependencies.retrieve({
      question,
      access: input.access,
      callScope: input.callScope,
      sparseOnly: true,
    });
  } catch (error) {
    return failedOutcome(common, toDeskhandError(error), dependencies.onError);
  }
  if (context.passages.length === 0) return noSourcesOutcome(common, context);
  return {
    ...common,
    kind: 'without_model',
    extractive: extractiveAnswer(question, context.passages),
    sources: context.passages,
    indexVersion: context.indexVersion,
  };
}
