/**
 * Scorers and analyzers for the sparse variants that `eval-sparse-variants.ts` compares (issue 18, item 3) and that
 * `src/search/` does not ship: they live beside the script because none of them is adopted (README). Kept apart from
 * the script so each stays readable, and pure so the unit test can check them on a few words.
 *
 * - `VariantAnalyzer`: the shipped analyzer's tokens (same segmentation, possessives, lower-casing and stop words)
 *   with another stemmer (S-stemmer, an inflection-only stemmer checked against the corpus vocabulary, none) and
 *   optional extra terms at a weight: Greek letters spelled out, hyphenated compounds joined ("IL-6" → il6), mixed
 *   letter/digit tokens split ("il6" → il + 6), the unstemmed form beside the stem.
 * - `FieldedBm25`: BM25 over title and body term maps, flat (Lucene's scoring, the baseline reproduced exactly) or
 *   BM25F, with the length models BM25+ and BM25L and query-side weighting (query tf saturation, idf cut, floor,
 *   power).
 */

import { stemmer as porter } from 'stemmer';
import { Analyzer } from '../src/search/analyzer.ts';
import { luceneNormLength } from '../src/search/bm25.ts';

export type StemmerName = 'porter' | 's' | 'inflect' | 'none';

export interface AnalyzerVariantOptions {
  stemmer?: StemmerName;
  /** Spell Greek letters out in place before tokenising (β-cell → beta-cell, TNFα → tnfalpha); μ is a unit, kept. */
  greek?: boolean;
  /** Weight of the joined form of a hyphenated compound that has a letter ("IL-6" adds il6); 0 = off. */
  join?: number;
  /** Weight of the parts of a token mixing letters and digits ("il6" adds il and 6); 0 = off. */
  split?: number;
  /** Weight of the unstemmed form, as its own term ("=cells"), beside the stem; 0 = off. */
  raw?: number;
}

const greekNames: Record<string, string> = {
  α: 'alpha',
  β: 'beta',
  γ: 'gamma',
  δ: 'delta',
  ε: 'epsilon',
  ϵ: 'epsilon',
  ζ: 'zeta',
  η: 'eta',
  θ: 'theta',
  ι: 'iota',
  κ: 'kappa',
  λ: 'lambda',
  ν: 'nu',
  ξ: 'xi',
  ο: 'omicron',
  π: 'pi',
  ρ: 'rho',
  σ: 'sigma',
  ς: 'sigma',
  τ: 'tau',
  υ: 'upsilon',
  φ: 'phi',
  χ: 'chi',
  ψ: 'psi',
  ω: 'omega',
};
const greekLetter = /[\u0391-\u03a9\u03b1-\u03c9\u03f5]/gu;
/** Hyphen-minus, hyphen, non-breaking hyphen; not the en dash, which mostly marks ranges ("1990–2000"). */
const hyphenCompound = /[\p{L}\p{N}]+(?:[-\u2010\u2011][\p{L}\p{N}]+)+/gu;
const letter = /\p{L}/u;
const digit = /\p{N}/u;
const letterDigitRun = /\p{L}+|\p{N}+/gu;

/** Spells Greek letters out (capital letters by the small letter's name); μ/µ stay, they are mostly "micro". */
export function spellGreek(text: string): string {
  return text.replace(greekLetter, (character) => {
    if (character === 'μ' || character === 'Μ') return character;
    return greekNames[character.toLowerCase()] ?? character;
  });
}

/** Harman's S-stemmer (Lucene's EnglishMinimalStemmer): plural endings only. */
export function sStem(word: string): string {
  if (word.length < 3 || !word.endsWith('s')) return word;
  if (word.endsWith('ies') && !word.endsWith('eies') && !word.endsWith('aies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('es') && !word.endsWith('aes') && !word.endsWith('ees') && !word.endsWith('oes'))
    return word.slice(0, -1);
  if (word.endsWith('us') || word.endsWith('ss')) return word;
  return word.slice(0, -1);
}

/**
 * Krovetz's idea in a few lines: strip an inflection (-ies, -es, -s, -ed, -ing) only when what is left is a word of
 * the vocabulary (here the corpus's own tokens), so "cells" → cell but "analysis" stays and no derivation is cut.
 */
export function inflectionStem(word: string, vocabulary: ReadonlySet<string>): string {
  if (word.length < 4) return word;
  const known = (candidate: string) => candidate.length >= 2 && vocabulary.has(candidate);
  const undoubled = (stem: string) =>
    stem.length > 2 && stem.at(-1) === stem.at(-2) && !'lsz'.includes(stem.at(-1) as string) ? stem.slice(0, -1) : '';
  const tries: string[] = [];
  if (word.endsWith('ies')) tries.push(`${word.slice(0, -3)}y`);
  else if (word.endsWith('es')) tries.push(word.slice(0, -2), word.slice(0, -1));
  else if (word.endsWith('s') && !word.endsWith('ss') && !word.endsWith('us') && !word.endsWith('is'))
    tries.push(word.slice(0, -1));
  else if (word.endsWith('ed')) tries.push(word.slice(0, -2), word.slice(0, -1), undoubled(word.slice(0, -2)));
  else if (word.endsWith('ing')) {
    const stem = word.slice(0, -3);
    tries.push(stem, `${stem}e`, undoubled(stem));
  }
  return tries.find(known) ?? word;
}

/** The shipped analyzer's tokens, with another stemmer and optional weighted extra terms. */
export class VariantAnalyzer {
  readonly options: Required<AnalyzerVariantOptions>;
  readonly #tokens = new Analyzer({ stem: false });
  readonly #vocabulary: ReadonlySet<string>;
  readonly #cache = new Map<string, string>();

  /** `vocabulary` (unstemmed tokens) is needed only by the 'inflect' stemmer. */
  constructor(options: AnalyzerVariantOptions = {}, vocabulary: ReadonlySet<string> = new Set()) {
    this.options = { stemmer: 'porter', greek: false, join: 0, split: 0, raw: 0, ...options };
    this.#vocabulary = vocabulary;
  }

  stem(token: string): string {
    let stem = this.#cache.get(token);
    if (stem === undefined) {
      const name = this.options.stemmer;
      stem =
        name === 'porter'
          ? porter(token)
          : name === 's'
            ? sStem(token)
            : name === 'inflect'
              ? inflectionStem(token, this.#vocabulary)
              : token;
      this.#cache.set(token, stem);
    }
    return stem;
  }

  /** Term → weighted frequency. */
  frequencies(input: string): Map<string, number> {
    const { greek, join, split, raw } = this.options;
    const text = greek ? spellGreek(input) : input;
    const counts = new Map<string, number>();
    const add = (term: string, weight: number) => counts.set(term, (counts.get(term) ?? 0) + weight);
    for (const token of this.#tokens.analyze(text)) {
      add(this.stem(token), 1);
      if (raw > 0) add(`=${token}`, raw);
      if (split > 0 && letter.test(token) && digit.test(token)) {
        for (const part of token.match(letterDigitRun) ?? []) {
          if (!this.#tokens.stopWords.has(part)) add(this.stem(part), split);
        }
      }
    }
    if (join > 0) {
      for (const match of text.matchAll(hyphenCompound)) {
        if (!letter.test(match[0])) continue;
        for (const token of this.#tokens.analyze(match[0].replace(/[-\u2010\u2011]/gu, ''))) {
          add(this.stem(token), join);
        }
      }
    }
    return counts;
  }
}

/** The unstemmed tokens of some texts: the dictionary the 'inflect' stemmer checks against. */
export function vocabularyOf(texts: Iterable<string>): Set<string> {
  const tokens = new Analyzer({ stem: false });
  const vocabulary = new Set<string>();
  for (const text of texts) for (const token of tokens.analyze(text)) vocabulary.add(token);
  return vocabulary;
}

export interface RankingOptions {
  k1: number;
  b: number;
  /**
   * 'bm25' is Lucene's; 'bm25+' adds idf × delta/(k1+1) for every matched term (Lv & Zhai 2011, rescaled to Lucene's
   * BM25, which omits the (k1+1) factor, so `delta` is the paper's); 'bm25l' shifts the length-normalised tf by
   * `delta` (Lv & Zhai 2011, "When documents are very long").
   */
  model?: 'bm25' | 'bm25+' | 'bm25l';
  delta?: number;
  /** The title as its own BM25F field (weight, b); absent = one flat field, the title counted once. */
  bm25f?: { titleWeight: number; titleB: number };
  /** Query term count → weight: 'count' (Lucene: linear), 'binary', or k3 saturation (k3+1)q/(k3+q). */
  queryWeight?: 'count' | 'binary' | { k3: number };
  /** Terms whose idf is below this are left out of the query. */
  idfCut?: number;
  /** Idf is at least this. */
  idfFloor?: number;
  /** Idf raised to this power (>1 favours rare terms). */
  idfPower?: number;
}

interface FieldedPostings {
  slots: Int32Array;
  title: Float32Array;
  body: Float32Array;
}

/** BM25 over title and body term maps; `rank(…, { k1: 0.9, b: 0.4 })` equals the shipped `Bm25Index` flat run. */
export class FieldedBm25 {
  readonly size: number;
  readonly #postings = new Map<string, FieldedPostings>();
  readonly #flatLengths: Float64Array;
  readonly #flatAverage: number;
  readonly #titleLengths: Float64Array;
  readonly #bodyLengths: Float64Array;
  readonly #titleAverage: number;
  readonly #bodyAverage: number;
  readonly #scores: Float64Array;

  constructor(titles: readonly Map<string, number>[], bodies: readonly Map<string, number>[]) {
    this.size = titles.length;
    this.#flatLengths = new Float64Array(this.size);
    this.#titleLengths = new Float64Array(this.size);
    this.#bodyLengths = new Float64Array(this.size);
    this.#scores = new Float64Array(this.size);
    const sum = (terms: Map<string, number> | undefined) => [...(terms?.values() ?? [])].reduce((s, c) => s + c, 0);
    const building = new Map<string, { slots: number[]; title: number[]; body: number[] }>();
    let flatTotal = 0;
    for (let slot = 0; slot < this.size; slot += 1) {
      const title = titles[slot] ?? new Map<string, number>();
      const body = bodies[slot] ?? new Map<string, number>();
      const [titleLength, bodyLength] = [sum(title), sum(body)];
      flatTotal += titleLength + bodyLength;
      this.#flatLengths[slot] = luceneNormLength(titleLength + bodyLength);
      this.#titleLengths[slot] = luceneNormLength(titleLength);
      this.#bodyLengths[slot] = luceneNormLength(bodyLength);
      for (const term of new Set([...title.keys(), ...body.keys()])) {
        let list = building.get(term);
        if (!list) {
          list = { slots: [], title: [], body: [] };
          building.set(term, list);
        }
        list.slots.push(slot);
        list.title.push(title.get(term) ?? 0);
        list.body.push(body.get(term) ?? 0);
      }
    }
    for (const [term, list] of building) {
      this.#postings.set(term, {
        slots: Int32Array.from(list.slots),
        title: Float32Array.from(list.title),
        body: Float32Array.from(list.body),
      });
    }
    const mean = (values: Float64Array) => values.reduce((s, v) => s + v, 0) / Math.max(1, values.length);
    this.#flatAverage = flatTotal / Math.max(1, this.size);
    this.#titleAverage = mean(this.#titleLengths);
    this.#bodyAverage = mean(this.#bodyLengths);
  }

  /** Lucene's idf (0 for an unknown term). */
  idf(term: string): number {
    const df = this.#postings.get(term)?.slots.length ?? 0;
    return df === 0 ? 0 : Math.log(1 + (this.size - df + 0.5) / (df + 0.5));
  }

  /** Every matching slot's score (slot → score). */
  scores(query: ReadonlyMap<string, number>, options: RankingOptions): Map<number, number> {
    const { k1, b, model = 'bm25', delta = 0, bm25f, queryWeight = 'count' } = options;
    const scores = this.#scores;
    const touched: number[] = [];
    for (const [term, count] of query) {
      const postings = this.#postings.get(term);
      if (!postings || count <= 0) continue;
      let idf = this.idf(term);
      if (options.idfCut !== undefined && idf < options.idfCut) continue;
      if (options.idfFloor !== undefined) idf = Math.max(idf, options.idfFloor);
      if (options.idfPower !== undefined) idf **= options.idfPower;
      const weight =
        queryWeight === 'count'
          ? count
          : queryWeight === 'binary'
            ? 1
            : ((queryWeight.k3 + 1) * count) / (queryWeight.k3 + count);
      const termWeight = weight * idf;
      const { slots, title, body } = postings;
      for (let index = 0; index < slots.length; index += 1) {
        const slot = slots[index] as number;
        let frequency: number;
        let normaliser: number;
        if (bm25f) {
          const { titleWeight, titleB } = bm25f;
          frequency =
            (titleWeight * (title[index] as number)) /
              (1 - titleB + (titleB * (this.#titleLengths[slot] as number)) / this.#titleAverage) +
            (body[index] as number) / (1 - b + (b * (this.#bodyLengths[slot] as number)) / this.#bodyAverage);
          normaliser = 1;
        } else {
          frequency = (title[index] as number) + (body[index] as number);
          normaliser = 1 - b + (b * (this.#flatLengths[slot] as number)) / this.#flatAverage;
        }
        let contribution: number;
        if (model === 'bm25l') {
          const shifted = frequency / normaliser + delta;
          contribution = (termWeight * shifted) / (k1 + shifted);
        } else {
          contribution = (termWeight * frequency) / (frequency + k1 * normaliser);
          if (model === 'bm25+') contribution += (termWeight * delta) / (k1 + 1);
        }
        if (scores[slot] === 0) touched.push(slot);
        scores[slot] = (scores[slot] as number) + contribution;
      }
    }
    const result = new Map<number, number>();
    for (const slot of touched) {
      result.set(slot, scores[slot] as number);
      scores[slot] = 0;
    }
    return result;
  }

  /** The best `limit` slots, highest first, ties to the lower slot (as `Bm25Index.search`). */
  rank(query: ReadonlyMap<string, number>, options: RankingOptions, limit = 100): number[] {
    return topSlots(this.scores(query, options), limit);
  }
}

/** The best `limit` slots of a slot → score map, highest first, ties to the lower slot; scores ≤ 0 left out. */
export function topSlots(scores: ReadonlyMap<number, number>, limit: number): number[] {
  return [...scores]
    .filter(([, score]) => score > 0)
    .sort((left, right) => right[1] - left[1] || left[0] - right[0])
    .slice(0, limit)
    .map(([slot]) => slot);
}
