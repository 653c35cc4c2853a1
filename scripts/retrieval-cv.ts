/**
 * K-fold cross-validation of the context settings (relative cutoff × sentence compression) for `eval:retrieval
 * --cv K`. Pure functions over per-query measurements, so the choice is reproducible and testable.
 *
 * Folds: queries are ordered by a hash of their id (FNV-1a; independent of file order) and dealt round-robin.
 * A setting is *admissible* on a set of queries when its packed context's judged-document recall is at least the
 * naive top-5's and its compressed context keeps at least `minCoverage` of the query terms the uncompressed
 * context held. Per held-out fold the admissible setting (on every training fold separately) with the fewest
 * tokens is picked on the other folds and then measured on the held fold. The proposed default is the setting
 * admissible on every fold with the fewest tokens, then moved one cutoff step down (`marginSteps`) as a margin:
 * a cutoff fitted on one split lost recall on another.
 */

export interface SettingPoint {
  tokens: number;
  recall: number;
  /** Share of the query terms in the uncompressed context still present after compression (1 if none). */
  coverage: number;
}

export interface QueryMeasurement {
  id: string;
  naiveTokens: number;
  naiveRecall: number;
  /** Keyed by `settingKey(ratio, compression)`. */
  points: Map<string, SettingPoint>;
}

export interface CompressionSetting {
  label: string;
  sentenceRatio: number;
  neighbours: number;
}

export const settingKey = (ratio: number, compression: string) => `${ratio.toFixed(2)}|${compression}`;

export interface FoldFigures {
  queries: number;
  tokenRatio: number;
  recall: number;
  naiveRecall: number;
  coverage: number;
}

export interface CvReport {
  folds: { chosen: { ratio: number; compression: string } | undefined; held: FoldFigures | undefined }[];
  proposed: { ratio: number; compression: string } | undefined;
  proposedPerFold: FoldFigures[];
}

/** FNV-1a 32-bit hash of a string. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Deals queries into `k` folds by the hash of their id. */
export function assignFolds<T extends { id: string }>(rows: readonly T[], k: number): T[][] {
  const ordered = [...rows].sort((left, right) => fnv1a(left.id) - fnv1a(right.id) || (left.id < right.id ? -1 : 1));
  const folds: T[][] = Array.from({ length: k }, () => []);
  for (const [index, row] of ordered.entries()) folds[index % k]?.push(row);
  return folds;
}

/** Mean figures of one setting over a set of queries. */
export function figuresOf(rows: readonly QueryMeasurement[], key: string): FoldFigures | undefined {
  let tokens = 0;
  let naiveTokens = 0;
  let recall = 0;
  let naiveRecall = 0;
  let coverage = 0;
  for (const row of rows) {
    const point = row.points.get(key);
    if (!point) return undefined;
    tokens += point.tokens;
    naiveTokens += row.naiveTokens;
    recall += point.recall;
    naiveRecall += row.naiveRecall;
    coverage += point.coverage;
  }
  const n = rows.length || 1;
  return {
    queries: rows.length,
    tokenRatio: naiveTokens === 0 ? 0 : tokens / naiveTokens,
    recall: recall / n,
    naiveRecall: naiveRecall / n,
    coverage: coverage / n,
  };
}

const admissible = (figures: FoldFigures | undefined, minCoverage: number) =>
  figures !== undefined && figures.recall >= figures.naiveRecall && figures.coverage >= minCoverage;

/** The admissible-on-every-fold setting with the fewest tokens over those folds. */
function pick(
  folds: readonly QueryMeasurement[][],
  ratios: readonly number[],
  compressions: readonly string[],
  minCoverage: number,
): { ratio: number; compression: string } | undefined {
  let best: { ratio: number; compression: string; tokenRatio: number } | undefined;
  const pooled = folds.flat();
  for (const ratio of ratios) {
    for (const compression of compressions) {
      const key = settingKey(ratio, compression);
      if (!folds.every((fold) => admissible(figuresOf(fold, key), minCoverage))) continue;
      const tokenRatio = figuresOf(pooled, key)?.tokenRatio ?? Number.POSITIVE_INFINITY;
      if (!best || tokenRatio < best.tokenRatio) best = { ratio, compression, tokenRatio };
    }
  }
  return best && { ratio: best.ratio, compression: best.compression };
}

export function crossValidate(
  rows: readonly QueryMeasurement[],
  options: {
    k: number;
    ratios: readonly number[];
    compressions: readonly string[];
    minCoverage: number;
    marginSteps: number;
  },
): CvReport {
  const folds = assignFolds(rows, options.k);
  const perFold = folds.map((held, index) => {
    const training = folds.filter((_, other) => other !== index);
    const chosen = pick(training, options.ratios, options.compressions, options.minCoverage);
    return { chosen, held: chosen ? figuresOf(held, settingKey(chosen.ratio, chosen.compression)) : undefined };
  });
  const all = pick(folds, options.ratios, options.compressions, options.minCoverage);
  let proposed = all;
  if (all) {
    const sorted = [...options.ratios].sort((left, right) => left - right);
    const at = sorted.indexOf(all.ratio);
    proposed = { ratio: sorted[Math.max(0, at - options.marginSteps)] as number, compression: all.compression };
  }
  const proposedPerFold = proposed
    ? folds.map((fold) => figuresOf(fold, settingKey(proposed.ratio, proposed.compression)) as FoldFigures)
    : [];
  return { folds: perFold, proposed, proposedPerFold };
}

/** Human-readable lines of a report: each fold's pick and held-out figures, then the proposed default per fold. */
export function describeCvReport(report: CvReport, k: number, minCoverage: number): string[] {
  const describe = (f: FoldFigures) => {
    const margin = f.recall - f.naiveRecall;
    return `${f.queries} queries, ${f.tokenRatio.toFixed(3)}× naive tokens, recall ${f.recall.toFixed(4)} vs naive ${f.naiveRecall.toFixed(4)} (${margin >= 0 ? '+' : ''}${margin.toFixed(4)}), query-term coverage ${f.coverage.toFixed(3)}`;
  };
  const lines = [
    `  ${k}-fold cross-validation (admissible: recall ≥ naive top-5 on every training fold, query-term coverage ≥ ${minCoverage}):`,
  ];
  report.folds.forEach((fold, index) => {
    const chosen = fold.chosen
      ? `cutoff ${fold.chosen.ratio}, compression ${fold.chosen.compression}`
      : 'nothing admissible';
    lines.push(
      `    fold ${index + 1}: picked on the others ${chosen}; held out: ${fold.held ? describe(fold.held) : '-'}`,
    );
  });
  const proposed = report.proposed;
  lines.push(
    `  proposed default (admissible on every fold, then one cutoff step lower): ${proposed ? `cutoff ${proposed.ratio}, compression ${proposed.compression}` : 'none'}`,
  );
  report.proposedPerFold.forEach((fold, index) => {
    lines.push(`    fold ${index + 1}: ${describe(fold)}`);
  });
  return lines;
}
