/**
 * The weighted vote of the nearest labelled examples: each of the `k` nearest examples votes for its category and
 * its urgency with weight (score / best score)^power, and a label wins when its share of the total weight reaches
 * the agreement threshold. Below the threshold the vote abstains and the rules keep their value.
 *
 * The defaults (k, power, threshold) were chosen by five-fold cross-validation on the BANKING77 dev folds only
 * (`npm run eval:tickets:tune`), never on the held-out split the README reports.
 */
import type { IndexedExample, Neighbour } from './nearest-example-index.ts';

export interface VoteParameters {
  /** Neighbours that vote. */
  k: number;
  /** Exponent on the score relative to the best neighbour's: 0 is one vote each, larger favours the nearest. */
  power: number;
  /** Share of the total weight the winning label needs (0–1). */
  agreement: number;
  /**
   * Neighbours covering less of the query than this (`Neighbour.similarity`) do not vote: with character grams
   * every text shares something with every other, and one unrelated correction must not decide every ticket.
   */
  minSimilarity?: number;
}

/**
 * Chosen by `npm run eval:tickets:tune -- --seeds 3` (5 dev folds × 100 / 1,000 / all examples): the best mean over
 * the three counts (83.0 %; 68.5 / 87.2 / 93.3 %). Neighbouring settings (k 7–20, agreement 0–0.5) are within
 * 0.4 points, so the choice is not a knife edge.
 */
export const defaultVoteParameters: VoteParameters = { k: 15, power: 4, agreement: 0.4, minSimilarity: 0 };

/**
 * A workspace with few examples lets only close ones vote. Measured on the dev folds (`npm run eval:tickets:tune --
 * --representations words+chars --sizes 10,20,30,50,75,100,1000 --seeds 5`): with every neighbour voting, 10 and 20
 * examples score *below* the rules (42.5 and 49.1 % against 51.7 %) and the vote overtakes them around 30; with a
 * floor of 0.5 every count scores at least the rules on average (52.3 % at 10, worst sample 51.0 %), and a
 * near-duplicate of a corrected message (similarity ~0.75) still follows the correction. From 50 examples on, every
 * neighbour votes (61.5 % against 55.5 % with the floor) — 50, not the ~30 crossover, to keep a margin.
 */
export const fewExamplesPolicy = { below: 50, minSimilarity: 0.5 } as const;

/** The vote's parameters for a workspace holding `examples` examples. */
export function voteParametersFor(
  examples: number,
  parameters: VoteParameters = defaultVoteParameters,
): VoteParameters {
  return examples < fewExamplesPolicy.below
    ? { ...parameters, minSimilarity: Math.max(parameters.minSimilarity ?? 0, fewExamplesPolicy.minSimilarity) }
    : parameters;
}

export interface LabelVote {
  value: string;
  /** The winner's share of the voting weight, 0–1. */
  share: number;
}

export interface ExampleVote {
  /** Undefined when no label reached the agreement threshold (or there were no neighbours). */
  category?: LabelVote;
  urgency?: LabelVote;
  /** How many neighbours voted. */
  voters: number;
}

function winner(weights: Map<string, number>, total: number): LabelVote | undefined {
  let best: LabelVote | undefined;
  for (const [value, weight] of weights) {
    const share = weight / total;
    // Ties go to the label seen first, i.e. the one of the nearer example.
    if (!best || share > best.share) best = { value, share };
  }
  return best;
}

/** The vote of `neighbours` (best first, as `NearestExampleIndex.nearest` returns them). */
export function voteOnExamples(
  neighbours: readonly Neighbour<IndexedExample>[],
  parameters: VoteParameters = defaultVoteParameters,
): ExampleVote {
  const floor = parameters.minSimilarity ?? 0;
  const voters = neighbours.slice(0, Math.max(0, parameters.k)).filter((neighbour) => neighbour.similarity >= floor);
  const best = voters[0]?.score ?? 0;
  if (voters.length === 0 || best <= 0) return { voters: 0 };
  const categories = new Map<string, number>();
  const urgencies = new Map<string, number>();
  let total = 0;
  for (const { example, score } of voters) {
    const weight = (score / best) ** parameters.power;
    total += weight;
    categories.set(example.category, (categories.get(example.category) ?? 0) + weight);
    urgencies.set(example.urgency, (urgencies.get(example.urgency) ?? 0) + weight);
  }
  const category = winner(categories, total);
  const urgency = winner(urgencies, total);
  return {
    voters: voters.length,
    ...(category && category.share >= parameters.agreement ? { category } : {}),
    ...(urgency && urgency.share >= parameters.agreement ? { urgency } : {}),
  };
}
