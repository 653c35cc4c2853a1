/**
 * A Lucene-EnglishAnalyzer-style text analyzer shared by every sparse (BM25) path: the embedded index, the
 * Qdrant adapter's sparse vectors and the evaluation CLI. Index and query text must go through the same
 * analyzer, so it lives in one place.
 *
 * Pipeline (Lucene's `EnglishAnalyzer` / Anserini's `DefaultEnglishAnalyzer` order):
 * UAX #29 word segmentation (`Intl.Segmenter`, the same standard Lucene's `StandardTokenizer` implements) →
 * English possessive removal ("Bob's" → "Bob") → lower-casing → stop words → Porter stemming (`stemmer`, the
 * original 1980 Porter algorithm that Lucene's `PorterStemFilter` implements).
 *
 * Scripts written without spaces (Han, Hiragana, Katakana, Hangul) become overlapping character bigrams, as
 * Lucene's `CJKBigramFilter` does: a dictionary segmentation of the query and of the document can disagree,
 * bigrams of the same text never do.
 *
 * The sparse representation (`termFrequencies`, what BM25 indexes and queries with) also carries the letter and
 * digit runs of a token that mixes them ("IL6" → il6, il, 6), because scientific and product text writes the same
 * name joined or hyphenated ("IL-6", which UAX #29 already splits, vs "IL6"; "CD4+" vs "CD-4"). Adopted by issue 18's
 * rule: nested 5-fold cross-validation on the SciFact dev split, +0.0072 nDCG@10, no fold lower in nDCG@10 or
 * Recall@100 (README). `analyze` keeps one term per word for the callers that compare word sets.
 */
import { stemmer } from 'stemmer';
import { eng as stopwordPackageEnglish } from 'stopword';

/**
 * Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET` (33 words). Default because it reproduces Lucene BM25:
 * on the SciFact dev split it scores higher than the `stopword` package's 108-word English list (measured with
 * `npm run eval:retrieval`; figures in the README). Written out because no npm package ships Lucene's set.
 */
export const luceneEnglishStopWords: readonly string[] = [
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'but',
  'by',
  'for',
  'if',
  'in',
  'into',
  'is',
  'it',
  'no',
  'not',
  'of',
  'on',
  'or',
  'such',
  'that',
  'the',
  'their',
  'then',
  'there',
  'these',
  'they',
  'this',
  'to',
  'was',
  'will',
  'with',
];

/** The `stopword` package's English list (a well-kept library list), selectable for comparison. */
export const stopwordPackageEnglishStopWords: readonly string[] = stopwordPackageEnglish;

export type StopWordList = 'lucene' | 'stopword-package' | 'none';

export interface AnalyzerOptions {
  /** Default 'lucene' (see `luceneEnglishStopWords`). */
  stopWords?: StopWordList;
  /** Default true. */
  stem?: boolean;
  /** Add the letter and digit runs of mixed tokens to `termFrequencies` ("il6" → il6, il, 6). Default true. */
  letterDigitParts?: boolean;
}

/** Lucene's StandardTokenizer default maximum token length; longer tokens are skipped, not split. */
const maxTokenLength = 255;

/** Runs of characters from scripts written without spaces between words. */
const cjkRun = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}ー々〆]+/gu;
const possessive = /['’＇][sS]$/u;
const hasLetterOrDigit = /[\p{L}\p{N}]/u;
const hasLetter = /\p{L}/u;
const hasDigit = /\p{N}/u;
const letterOrDigitRun = /\p{L}+|\p{N}+/gu;

/** Turns text into index terms; pure and deterministic, safe to share. */
export class Analyzer {
  readonly stopWords: ReadonlySet<string>;
  readonly stem: boolean;
  readonly letterDigitParts: boolean;
  readonly #segmenter = new Intl.Segmenter('en', { granularity: 'word' });
  readonly #stemCache = new Map<string, string>();

  constructor(options: AnalyzerOptions = {}) {
    const list = options.stopWords ?? 'lucene';
    this.stopWords = new Set(
      list === 'lucene' ? luceneEnglishStopWords : list === 'stopword-package' ? stopwordPackageEnglishStopWords : [],
    );
    this.stem = options.stem ?? true;
    this.letterDigitParts = options.letterDigitParts ?? true;
  }

  /** The terms of `text` in order, one per word, duplicates kept (term frequency counts them). */
  analyze(text: string): string[] {
    return this.#terms(text, false);
  }

  /**
   * The terms the sparse index holds for `text`: `analyze`'s, each mixed letter/digit token followed by its runs
   * (when `letterDigitParts`).
   */
  indexTerms(text: string): string[] {
    return this.#terms(text, this.letterDigitParts);
  }

  /** Term → frequency of `indexTerms`: a text's sparse (BM25) representation. */
  termFrequencies(text: string): Map<string, number> {
    const frequencies = new Map<string, number>();
    for (const term of this.indexTerms(text)) frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
    return frequencies;
  }

  #terms(text: string, parts: boolean): string[] {
    const terms: string[] = [];
    let last = 0;
    for (const match of text.matchAll(cjkRun)) {
      if (match.index > last) this.#analyzeSpaced(text.slice(last, match.index), terms, parts);
      emitBigrams(match[0], terms);
      last = match.index + match[0].length;
    }
    if (last < text.length) this.#analyzeSpaced(last === 0 ? text : text.slice(last), terms, parts);
    return terms;
  }

  #analyzeSpaced(text: string, into: string[], parts: boolean): void {
    for (const segment of this.#segmenter.segment(text)) {
      if (!segment.isWordLike) continue;
      let token = segment.segment;
      if (token.length > maxTokenLength) continue;
      // isWordLike segments are letters, numbers, kana or ideographs (ICU rule status); the regex only runs on the
      // rare ones that could be something else (e.g. a lone underscore).
      if (token.length === 1 && !hasLetterOrDigit.test(token)) continue;
      if (token.length > 2 && (token.includes("'") || token.includes('’') || token.includes('＇'))) {
        token = token.replace(possessive, '');
      }
      token = token.toLowerCase();
      if (token.length === 0 || this.stopWords.has(token)) continue;
      into.push(this.stem ? this.#stemmed(token) : token);
      if (parts && hasDigit.test(token) && hasLetter.test(token)) {
        for (const run of token.match(letterOrDigitRun) ?? []) {
          if (!this.stopWords.has(run)) into.push(this.stem ? this.#stemmed(run) : run);
        }
      }
    }
  }

  #stemmed(token: string): string {
    let stem = this.#stemCache.get(token);
    if (stem === undefined) {
      // Like Lucene's PorterStemFilter, every token is stemmed ("1990s" → "1990"), not only ASCII words.
      stem = stemmer(token);
      if (this.#stemCache.size < 200_000) this.#stemCache.set(token, stem);
    }
    return stem;
  }
}

function emitBigrams(run: string, into: string[]): void {
  const characters = Array.from(run);
  if (characters.length === 1) {
    into.push(characters[0] as string);
    return;
  }
  for (let index = 0; index + 1 < characters.length; index += 1) {
    into.push(`${characters[index]}${characters[index + 1]}`);
  }
}

/** The process-wide default analyzer (Lucene stop words, Porter stemming). */
export const defaultAnalyzer = new Analyzer();
