/**
 * How a ticket text becomes the terms nearest-example retrieval compares: words through the repository's analyzer
 * (UAX #29 words, lower case, Porter stems) and, optionally, the character 3–5-grams of each word, which match
 * across inflections, typos and compounds that stemming misses.
 *
 * Guarantees: pure and deterministic; reads at most `maxExampleTextCharacters` characters of any text, so the
 * work per text is bounded however much is pasted. The representation used in production was chosen by
 * cross-validation on the BANKING77 dev folds (`npm run eval:tickets:tune`, figures in eval/tickets/README.md).
 */
import { Analyzer } from '../../../search/analyzer.ts';

/** Characters of a text that are analysed (examples are stored cut to this length too). */
export const maxExampleTextCharacters = 2_000;

export type ExampleRepresentation = 'words' | 'words-keep-stopwords' | 'words+chars' | 'chars';

export const exampleRepresentations: readonly ExampleRepresentation[] = [
  'words',
  'words-keep-stopwords',
  'words+chars',
  'chars',
];

const stemmedWords = new Analyzer({ stopWords: 'lucene' });
/** Negations ("not received", "didn't arrive") carry the meaning of short support messages. */
const allWords = new Analyzer({ stopWords: 'none' });
const plainWords = new Analyzer({ stopWords: 'none', stem: false });

/** The first `maxExampleTextCharacters` characters, never half a surrogate pair. */
export function boundExampleText(text: string): string {
  if (text.length <= maxExampleTextCharacters) return text;
  const last = text.charCodeAt(maxExampleTextCharacters - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? maxExampleTextCharacters - 1 : maxExampleTextCharacters);
}

function add(into: Map<string, number>, term: string, weight = 1): void {
  into.set(term, (into.get(term) ?? 0) + weight);
}

function characterGrams(word: string, into: Map<string, number>): void {
  const padded = Array.from(` ${word} `);
  for (let size = 3; size <= 5; size += 1) {
    for (let start = 0; start + size <= padded.length; start += 1)
      add(into, `c:${padded.slice(start, start + size).join('')}`);
  }
}

/** Term → frequency of a text in the given representation (word terms `w:`, character grams `c:`). */
export function exampleFeatures(text: string, representation: ExampleRepresentation): Map<string, number> {
  const bounded = boundExampleText(text);
  const features = new Map<string, number>();
  if (representation !== 'chars') {
    const analyzer = representation === 'words' ? stemmedWords : allWords;
    for (const term of analyzer.analyze(bounded)) add(features, `w:${term}`);
  }
  if (representation === 'words+chars' || representation === 'chars') {
    for (const word of plainWords.analyze(bounded)) characterGrams(word, features);
  }
  return features;
}
