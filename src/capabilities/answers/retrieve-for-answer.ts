/**
 * Retrieval for an answer, scoped to the asker. If the query embedding fails (budget refused, provider down),
 * retrieval is retried sparse-only (no model call): an over-budget question still gets its extractive answer
 * (returned as an `over_budget` outcome), and an embedding outage does not stop answering. Any other failure is
 * a `failed` outcome, reported to `onError`.
 */
import { toDeskhandError } from '../../errors.ts';
import {
  type AnswerOutcome,
  answersWithPassages,
  budgetCodes,
  degradedOutcome,
  failedOutcome,
  type OutcomeBase,
} from './answer-outcome.ts';
import type { AnswerQuestionDependencies, AnswerQuestionInput } from './answer-question-input.ts';
import type { RetrievedContext } from './answer-source.ts';

/** The retrieved context, or the outcome to return instead. `common.standaloneQuestion` is what is searched. */
export async function retrieveForAnswer(
  common: OutcomeBase,
  input: AnswerQuestionInput,
  dependencies: AnswerQuestionDependencies,
): Promise<{ context: RetrievedContext } | { outcome: AnswerOutcome }> {
  const standalone = common.standaloneQuestion;
  let context: RetrievedContext;
  try {
    context = await dependencies.retrieve({ question: standalone, access: input.access, callScope: input.callScope });
  } catch (error) {
    const coded = toDeskhandError(error);
    if (!answersWithPassages(coded.code)) {
      return { outcome: failedOutcome(common, coded, dependencies.onError) };
    }
    dependencies.onWarning?.('retrieval failed; retrying sparse-only', { answerId: common.answerId, code: coded.code });
    try {
      context = await dependencies.retrieve({
        question: standalone,
        access: input.access,
        callScope: input.callScope,
        sparseOnly: true,
      });
    } catch (fallbackError) {
      return { outcome: failedOutcome(common, toDeskhandError(fallbackError), dependencies.onError) };
    }
    if (budgetCodes.has(coded.code)) return { outcome: degradedOutcome(common, coded, context.passages) };
  }
  return { context };
}
