/**
 * The answer Deskhand gives without a model: the best passages quoted with citations. Used when the budget
 * refuses the model call or the model is unavailable, so the user still gets something useful instead of
 * nothing (docs/platform-facts.md "Never a silent failure").
 */
import { defaultAnalyzer } from '../../search/analyzer.ts';
import type { AnswerSource } from './answer-source.ts';
import type { CitedSource } from './citations.ts';
import { sanitizeModelText, toSlackMrkdwn, urlsInSources } from './citations.ts';

export interface ExtractiveAnswer {
  /** Safe markdown: quoted excerpts, each followed by its citation. */
  markdown: string;
  mrkdwn: string;
  cited: CitedSource[];
}

export interface ExtractiveOptions {
  /** Passages quoted at most (default 3). */
  maxPassages?: number;
  /** Characters per quoted excerpt at most (default 600). */
  maxCharactersPerPassage?: number;
}

const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });

/** An ATX Markdown heading line (`## Title`), up to three spaces of indentation. */
const headingLine = /^ {0,3}#{1,6}(?:[ \t][^\n]*)?$/gm;

/**
 * The contiguous run of sentences in `text` (at most `maxCharacters` long) that shares the most question
 * terms, stemmed with the retrieval analyzer so "installing" matches "install". Ties keep the shortest run,
 * then the earliest. Markdown heading lines are left out: a chunk starts with its section's heading, which the
 * citation already names, and a quote that opens with "## Opening hours" reads as broken markup.
 */
export function bestExcerpt(text: string, questionTerms: ReadonlySet<string>, maxCharacters: number): string {
  const body = text.replace(headingLine, '').trim();
  const sentences = [...sentenceSegmenter.segment(body)].map((segment) => segment.segment);
  if (sentences.length === 0) return '';
  const scores = sentences.map((sentence) => {
    const terms = new Set(defaultAnalyzer.analyze(sentence));
    let score = 0;
    for (const term of terms) if (questionTerms.has(term)) score += 1;
    return score;
  });
  let bestStart = 0;
  let bestEnd = 0;
  let bestScore = -1;
  let bestLength = Number.POSITIVE_INFINITY;
  for (let start = 0; start < sentences.length; start += 1) {
    let length = 0;
    let score = 0;
    for (let end = start; end < sentences.length; end += 1) {
      length += (sentences[end] as string).length;
      if (length > maxCharacters && end > start) break;
      score += scores[end] as number;
      if (score > bestScore || (score === bestScore && length < bestLength)) {
        bestScore = score;
        bestLength = length;
        bestStart = start;
        bestEnd = end;
      }
    }
  }
  let excerpt = sentences
    .slice(bestStart, bestEnd + 1)
    .join('')
    .trim();
  if (excerpt.length > maxCharacters) excerpt = `${excerpt.slice(0, maxCharacters - 1).trimEnd()}…`;
  const prefix = bestStart > 0 ? '… ' : '';
  const suffix = bestEnd < sentences.length - 1 && !excerpt.endsWith('…') ? ' …' : '';
  return `${prefix}${excerpt}${suffix}`;
}

/**
 * Quotes the best excerpt of each of the top passages (in retrieval order) as a Markdown block quote followed
 * by its citation. Document text is untrusted: it goes through the same sanitiser as model output, so a
 * document cannot ping a channel through an extractive answer either.
 */
export function extractiveAnswer(
  question: string,
  sources: readonly AnswerSource[],
  options: ExtractiveOptions = {},
): ExtractiveAnswer {
  const maxPassages = options.maxPassages ?? 3;
  const maxCharacters = options.maxCharactersPerPassage ?? 600;
  const questionTerms = new Set(defaultAnalyzer.analyze(question));
  const allowedUrls = urlsInSources(sources);
  const cited: CitedSource[] = [];
  const quotes: string[] = [];
  for (const source of sources.slice(0, maxPassages)) {
    const excerpt = bestExcerpt(source.text, questionTerms, maxCharacters);
    if (!excerpt) continue;
    const number = cited.length + 1;
    cited.push({ number, source });
    // A whitespace run holding a line break becomes one space. Matched as whole runs (linear, issue 14): a
    // leading `\s*` rescanned a run of spaces from each of its positions.
    const safe = sanitizeModelText(excerpt, { allowedUrls }).replace(/\s+/g, (run) => (run.includes('\n') ? ' ' : run));
    quotes.push(`> ${safe} [${number}]`);
  }
  const markdown = quotes.join('\n\n');
  return { markdown, mrkdwn: toSlackMrkdwn(markdown), cited };
}
