/**
 * The per-answer tallies `npm run eval:answers` keeps for the pipeline and the naive baseline, and the figures it
 * prints from them (per question, per answer, ratios). Pure.
 */

export interface Tally {
  questions: number;
  modelCalls: number;
  cacheHits: number;
  inputTokens: number;
  outputTokens: number;
  costMicroUsd: number;
  answered: number;
  noSources: number;
  judgedInContext: number;
  contextTokens: number;
}
export const tally = (): Tally => ({
  questions: 0,
  modelCalls: 0,
  cacheHits: 0,
  inputTokens: 0,
  outputTokens: 0,
  costMicroUsd: 0,
  answered: 0,
  noSources: 0,
  judgedInContext: 0,
  contextTokens: 0,
});
export function round(value: number, digits = 4): number {
  return Number(value.toFixed(digits));
}
export const perAnswer = (t: Tally) => ({
  questions: t.questions,
  modelCallsPerQuestion: round(t.modelCalls / Math.max(1, t.questions)),
  inputTokensPerQuestion: round(t.inputTokens / Math.max(1, t.questions), 1),
  outputTokensPerQuestion: round(t.outputTokens / Math.max(1, t.questions), 1),
  contextTokensPerAnswer: round(t.contextTokens / Math.max(1, t.answered), 1),
  answered: t.answered,
  noSources: t.noSources,
  cacheHits: t.cacheHits,
  judgedDocumentInContext: round(t.judgedInContext / Math.max(1, t.questions)),
  costMicroUsd: t.costMicroUsd,
});
export const combine = (...tallies: Tally[]): Tally =>
  tallies.reduce((sum, t) => {
    for (const key of Object.keys(sum) as (keyof Tally)[]) sum[key] += t[key];
    return sum;
  }, tally());
export const ratio = (pipeline: number, naive: number) => round(naive === 0 ? 0 : pipeline / naive);
