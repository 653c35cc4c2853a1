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
 *
 * The steps live beside this file: `retrieve-for-answer.ts` (retrieval with its sparse-only retry),
 * `answer-from-sources.ts` (the chat call, cache scope and citation check), `answer-without-model.ts`, and the
 * outcome values in `answer-outcome.ts` and `answer-usage.ts`; the input and dependencies are in
 * `answer-question-input.ts`.
 */
import { randomUUID } from 'node:crypto';
import { DeskhandError, toDeskhandError } from '../../errors.ts';
import { answerFromSources } from './answer-from-sources.ts';
import { type AnswerOutcome, failedOutcome, noSourcesOutcome, type OutcomeBase } from './answer-outcome.ts';
import type { AnswerQuestionDependencies, AnswerQuestionInput, AnswerTiming } from './answer-question-input.ts';
import { type AnswerUsage, addChatUsage, addRetrievalUsage, emptyUsage } from './answer-usage.ts';
import { answerWithoutModel } from './answer-without-model.ts';
import { retrieveForAnswer } from './retrieve-for-answer.ts';
import { rewriteQuestion } from './rewrite-question.ts';

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
  const problem = questionProblem(question, dependencies.maxQuestionCharacters ?? 4000);
  if (problem !== undefined) return { ...base(question, false), kind: 'invalid_question', userMessage: problem };
  if (
    input.callScope.workspaceId !== input.access.workspaceId ||
    input.callScope.channelId !== input.access.channelId
  ) {
    throw new DeskhandError('internal', 'answerQuestion: callScope and access disagree on workspace or channel', {
      details: { access: input.access, workspaceId: input.callScope.workspaceId, channelId: input.callScope.channelId },
    });
  }
  if (dependencies.withoutModel) return answerWithoutModel(base(question, false), input, dependencies);
  const timing: AnswerTiming = {
    ...(input.deadline !== undefined ? { deadline: input.deadline } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
  };

  // 1. Follow-ups become standalone questions (one cheap call; none without history).
  const rewrite = await rewriteFollowUp(question, { input, dependencies, timing }, usage, answerId);
  if ('cancelled' in rewrite) return failedOutcome(base(question, false), rewrite.cancelled, dependencies.onError);
  const common = base(rewrite.standalone, rewrite.rewritten);

  // 2. Retrieval, scoped to the asker, retried sparse-only when the query embedding fails.
  const retrieval = await retrieveForAnswer(common, input, dependencies);
  if ('outcome' in retrieval) return retrieval.outcome;
  const { context } = retrieval;
  addRetrievalUsage(usage, context);

  // 3. Nothing relevant: say so, list the closest documents, never call the chat model.
  if (context.passages.length === 0) return noSourcesOutcome(common, context);

  // 4. One chat call over the packed sources, cached per document-access scope and index version.
  return answerFromSources(common, context, { input, dependencies, timing });
}

/** Why a question cannot be asked (empty, or longer than `maxCharacters`), or undefined when it can. */
function questionProblem(question: string, maxCharacters: number): string | undefined {
  if (!question) return 'Ask a question after the command, for example `/ask How do I reset my password?`';
  if (question.length > maxCharacters) {
    return `That question is ${question.length} characters long; please keep it under ${maxCharacters}.`;
  }
  return undefined;
}

/**
 * The question retrieval and the answer use: the rewrite of a follow-up, or the question as asked. A failed
 * rewrite degrades to the question as asked (reported to `onWarning`); only a cancellation is returned, to fail
 * with.
 */
async function rewriteFollowUp(
  question: string,
  request: { input: AnswerQuestionInput; dependencies: AnswerQuestionDependencies; timing: AnswerTiming },
  usage: AnswerUsage,
  answerId: string,
): Promise<{ standalone: string; rewritten: boolean } | { cancelled: DeskhandError }> {
  const { input, dependencies, timing } = request;
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
    if (coded.code === 'cancelled') return { cancelled: coded };
    // Degrade: retrieval with the follow-up as asked still works for many follow-ups.
    dependencies.onWarning?.('question rewrite failed; answering the follow-up as asked', {
      answerId,
      code: coded.code,
    });
  }
  return { standalone, rewritten };
}
