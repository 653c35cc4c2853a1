/**
 * k-fold cross-validation over per-query scores, for choosing a retrieval parameter without tuning on the split
 * it is judged on. Pure functions; `eval-sparse-variants.ts` uses them and `test/unit/sparse-cross-validation.test.ts`
 * checks them.
 *
 * Guarantees: a query's fold depends only on its id and the salt (a SHA-256 hash), so reruns and other machines get
 * the same folds; `nestedCrossValidation` chooses each fold's configuration on the other folds only, so its held-out
 * figures are an honest estimate of what the *selection procedure* gains on unseen queries.
 */
import { createHash } from 'node:crypto';

/** 0 … foldCount−1 for a query id; stable across runs and machines. */
export function foldOf(queryId: string, foldCount: number, salt = 'sparse-cv'): number {
  return createHash('sha256').update(`${salt}\n${queryId}`).digest().readUInt32BE(0) % foldCount;
}

/** Mean of `scores` over the positions `include` admits (0 when none). */
export function meanWhere(scores: readonly number[], include: (position: number) => boolean): number {
  let total = 0;
  let count = 0;
  scores.forEach((score, position) => {
    if (!include(position)) return;
    total += score;
    count += 1;
  });
  return count === 0 ? 0 : total / count;
}

export interface FoldOutcome {
  fold: number;
  /** The configuration with the best mean on the other folds. */
  chosen: string;
  trainingMean: number;
  /** The chosen configuration's mean on this fold, which took no part in choosing it. */
  heldOutMean: number;
  baselineMean: number;
}

/**
 * For each fold: choose the configuration (by name, ties to the first listed) with the best mean on the other folds,
 * then score it on this fold beside `baseline`. `scores[name][i]` is query i's score; `folds[i]` its fold.
 */
export function nestedCrossValidation(
  scores: Readonly<Record<string, readonly number[]>>,
  folds: readonly number[],
  foldCount: number,
  baseline: string,
): FoldOutcome[] {
  const baselineScores = scores[baseline];
  if (!baselineScores) throw new Error(`no scores for the baseline "${baseline}"`);
  const outcomes: FoldOutcome[] = [];
  for (let fold = 0; fold < foldCount; fold += 1) {
    let chosen = baseline;
    let trainingMean = Number.NEGATIVE_INFINITY;
    for (const [name, values] of Object.entries(scores)) {
      const mean = meanWhere(values, (position) => folds[position] !== fold);
      if (mean > trainingMean) {
        trainingMean = mean;
        chosen = name;
      }
    }
    outcomes.push({
      fold,
      chosen,
      trainingMean,
      heldOutMean: meanWhere(scores[chosen] as readonly number[], (position) => folds[position] === fold),
      baselineMean: meanWhere(baselineScores, (position) => folds[position] === fold),
    });
  }
  return outcomes;
}

export interface FoldDeltas {
  name: string;
  /** Per fold: configuration mean − baseline mean on that fold. */
  deltas: number[];
  worst: number;
  mean: number;
}

/** Every configuration's per-fold gain over `baseline`, best worst-fold first (the "holds on every fold" view). */
export function foldDeltas(
  scores: Readonly<Record<string, readonly number[]>>,
  folds: readonly number[],
  foldCount: number,
  baseline: string,
): FoldDeltas[] {
  const baselineScores = scores[baseline];
  if (!baselineScores) throw new Error(`no scores for the baseline "${baseline}"`);
  const baselineByFold = Array.from({ length: foldCount }, (_, fold) =>
    meanWhere(baselineScores, (position) => folds[position] === fold),
  );
  return Object.entries(scores)
    .filter(([name]) => name !== baseline)
    .map(([name, values]) => {
      const deltas = baselineByFold.map(
        (baselineMean, fold) => meanWhere(values, (position) => folds[position] === fold) - baselineMean,
      );
      return {
        name,
        deltas,
        worst: Math.min(...deltas),
        mean: deltas.reduce((sum, delta) => sum + delta, 0) / foldCount,
      };
    })
    .sort((left, right) => right.worst - left.worst || right.mean - left.mean);
}
