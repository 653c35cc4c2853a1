/**
 * Context compression after packing: each packed passage keeps only the sentences that carry the query's
 * evidence, so the model reads less for the same sources. Guarantees:
 * - every passage stays (same document, chunk indexes, section path, title, source, page), so citations point to
 *   the same chunk and section as before; each keeps at least one sentence (its best-scoring one, or its first
 *   when no sentence shares a term with the query);
 * - kept text is verbatim and in reading order; never reordered or rewritten. A gap of dropped sentences is
 *   marked by one " … " so the model does not read two distant sentences as continuous;
 * - heading lines (Markdown `#` lines, or a line equal to one of the passage's section names) are always kept;
 * - linear in the passage length: one scan splits sentences, one pass scores them (at most
 *   `maxSentencesPerPassage` sentences are scored; the rest of a longer passage is kept as one segment).
 * Sentence score: the sum, over the query's distinct analysed terms present in the sentence or in the heading it
 * sits under, of a rarity weight ln(1 + S / s_t), S the sentences of the whole context and s_t those containing the
 * term, so a term found in every sentence weighs little. A sentence reads in the context of its heading ("Refunds
 * are issued within 3 business days" under "How long refunds take" answers "how long do refunds take?" although it
 * shares one word with it), so a query term found only in the nearest heading line above it in the passage (or in
 * the passage's innermost section when no heading line precedes it) counts half its weight. A sentence is kept when it scores at least `sentenceRatio` × its passage's best
 * sentence, and so are its `neighbours` sentences either side (claims often lean on the sentence before or after).
 */
import type { EncodingName } from '../../../llm/tokenizer.ts';
import { countTokens } from '../../../llm/tokenizer.ts';
import { type Analyzer, defaultAnalyzer } from '../../../search/analyzer.ts';
import type { PackedContext, PackedPassage } from './pack-context.ts';

export interface CompressionOptions {
  /** Keep sentences scoring ≥ ratio × the passage's best sentence, 0..1. */
  sentenceRatio: number;
  /** Sentences kept either side of each kept sentence (0..5). */
  neighbours: number;
  encoding?: EncodingName;
  analyzer?: Analyzer;
  /** Sentences scored per passage; the rest is kept whole. Default 400. */
  maxSentencesPerPassage?: number;
}

/**
 * Defaults chosen by 5-fold cross-validation on the SciFact dev split together with the cutoff (`eval:retrieval
 * --cv 5`, README "Context compression"). Compression never changes which documents reach the context (every
 * passage keeps a sentence), so among the settings whose compressed context keeps at least 90 % of the query
 * terms the uncompressed context held, on every fold, the one with the fewest tokens was taken: sentences scoring
 * ≥ 0.7 × the passage's best, no neighbours (query-term coverage 0.92–0.95 per fold at cutoff 0.6).
 */
export const defaultCompression: Pick<CompressionOptions, 'sentenceRatio' | 'neighbours'> = {
  sentenceRatio: 0.7,
  neighbours: 0,
};

export interface CompressedPassage extends PackedPassage {
  /** Sentences dropped from the passage (0 when it was kept whole). */
  droppedSentences: number;
}

interface Segment {
  text: string;
  heading: boolean;
}

/** Compresses every passage of `context`; token counts are recounted exactly. */
export function compressContext(
  context: PackedContext,
  query: string,
  options: CompressionOptions,
): PackedContext & { passages: CompressedPassage[] } {
  if (!(options.sentenceRatio >= 0 && options.sentenceRatio <= 1))
    throw new RangeError(`The sentence ratio must be within 0..1, got ${options.sentenceRatio}`);
  if (!(Number.isInteger(options.neighbours) && options.neighbours >= 0 && options.neighbours <= 5))
    throw new RangeError(`Neighbours must be an integer within 0..5, got ${options.neighbours}`);
  const analyzer = options.analyzer ?? defaultAnalyzer;
  const encoding = options.encoding ?? 'o200k_base';
  const limit = options.maxSentencesPerPassage ?? 400;
  const queryTerms = new Set(analyzer.analyze(query));
  const split = context.passages.map((passage) => splitSentences(passage.text, passage.sectionPath, limit));
  const termSets = context.passages.map((passage, index) =>
    termsUnderHeadings(split[index] as Segment[], passage.sectionPath, analyzer),
  );
  // Rarity of each query term across the sentences of the whole context.
  let sentenceCount = 0;
  const containing = new Map<string, number>();
  for (const sets of termSets) {
    for (const terms of sets) {
      sentenceCount += 1;
      for (const term of queryTerms) if (terms.own.has(term)) containing.set(term, (containing.get(term) ?? 0) + 1);
    }
  }
  const weight = (term: string) => Math.log(1 + sentenceCount / (containing.get(term) ?? sentenceCount));
  let tokenCount = 0;
  const passages = context.passages.map((passage, index) => {
    const segments = split[index] as Segment[];
    const scores = (termSets[index] as SegmentTerms[]).map((terms) => {
      let score = 0;
      for (const term of queryTerms) {
        if (terms.own.has(term)) score += weight(term);
        else if (terms.heading.has(term)) score += headingTermShare * weight(term);
      }
      return score;
    });
    const keep = chooseSentences(segments, scores, options.sentenceRatio, options.neighbours);
    const dropped = keep.filter((kept, position) => !kept && !(segments[position] as Segment).heading).length;
    if (dropped === 0) {
      tokenCount += passage.tokenCount;
      return { ...passage, droppedSentences: 0 };
    }
    const text = joinKept(segments, keep);
    const tokens = countTokens(text, encoding);
    tokenCount += tokens;
    return { ...passage, text, tokenCount: tokens, droppedSentences: dropped };
  });
  return { passages, tokenCount, droppedForBudget: context.droppedForBudget };
}

/** A term a sentence only has through its heading counts this share of its weight: context, not content. */
const headingTermShare = 0.5;

interface SegmentTerms {
  own: Set<string>;
  heading: Set<string>;
}

/** Each segment's analysed terms, and those of the heading it sits under (empty for a heading itself). */
function termsUnderHeadings(segments: Segment[], sectionPath: readonly string[], analyzer: Analyzer): SegmentTerms[] {
  let headingTerms = new Set(analyzer.analyze(sectionPath.at(-1) ?? ''));
  return segments.map((segment) => {
    const own = new Set(analyzer.analyze(segment.text));
    if (!segment.heading) return { own, heading: headingTerms };
    headingTerms = own;
    return { own, heading: new Set<string>() };
  });
}

function chooseSentences(segments: Segment[], scores: number[], ratio: number, neighbours: number): boolean[] {
  const keep = segments.map((segment) => segment.heading);
  const sentenceIndexes = segments.flatMap((segment, position) => (segment.heading ? [] : [position]));
  if (sentenceIndexes.length === 0) return keep;
  const best = Math.max(...sentenceIndexes.map((position) => scores[position] as number));
  if (!(best > 0)) {
    keep[sentenceIndexes[0] as number] = true;
    return keep;
  }
  sentenceIndexes.forEach((position, order) => {
    if ((scores[position] as number) < ratio * best) return;
    const from = Math.max(0, order - neighbours);
    const to = Math.min(sentenceIndexes.length - 1, order + neighbours);
    for (let near = from; near <= to; near += 1) keep[sentenceIndexes[near] as number] = true;
  });
  return keep;
}

function joinKept(segments: Segment[], keep: boolean[]): string {
  let text = '';
  let gap = false;
  let afterHeading = false;
  segments.forEach((segment, position) => {
    if (!keep[position]) {
      gap = true;
      return;
    }
    const lineBreak = segment.heading || afterHeading;
    if (text.length === 0) text = gap ? `… ${segment.text}` : segment.text;
    else if (gap) text += lineBreak ? `\n…${segment.heading ? '\n' : ' '}${segment.text}` : ` … ${segment.text}`;
    else text += lineBreak ? `\n${segment.text}` : ` ${segment.text}`;
    gap = false;
    afterHeading = segment.heading;
  });
  if (gap && text.length > 0) text += ' …';
  return text;
}

/**
 * Splits text into heading lines and sentences by one left-to-right scan. A line break ends a segment when it ends
 * a block: a blank line follows, the line is a heading, or the next line starts a heading, list item, table row,
 * quote or code fence. Any other line break is a soft wrap inside a paragraph (Markdown and text files are often
 * hard-wrapped at 80–120 columns) and reads as a space. `.`, `!` or `?` (optionally followed by closing quotes or
 * brackets) followed by whitespace and then an uppercase letter, a digit or an opening quote/bracket ends a
 * sentence, so abbreviations such as "e.g. the" do not split. After `limit` segments the rest is one segment.
 */
export function splitSentences(text: string, sectionPath: readonly string[] = [], limit = 400): Segment[] {
  const sections = new Set(sectionPath.map((section) => section.trim()).filter((section) => section.length > 0));
  const segments: Segment[] = [];
  const push = (raw: string) => {
    const trimmed = raw.trim();
    if (trimmed.length === 0) return;
    segments.push({ text: trimmed, heading: /^#{1,6}\s/.test(trimmed) || sections.has(trimmed) });
  };
  let start = 0;
  let position = 0;
  while (position < text.length) {
    if (segments.length >= limit - 1) break;
    const character = text[position] as string;
    if (character === '\n') {
      if (endsBlock(text, start, position, sections)) {
        push(text.slice(start, position));
        start = position + 1;
      }
    } else if (character === '.' || character === '!' || character === '?') {
      let end = position + 1;
      while (end < text.length && `"')]”’`.includes(text[end] as string)) end += 1;
      let next = end;
      while (
        next < text.length &&
        (text[next] === ' ' || text[next] === '\t' || (text[next] === '\n' && !endsBlock(text, start, next, sections)))
      )
        next += 1;
      if (next < text.length && text[next] === '\n') {
        // The sentence ends its block: the line break ends the segment.
        position = next;
        continue;
      }
      const follower = text[next];
      if (next > end && follower !== undefined && /[\p{Lu}\p{N}"'([“‘]/u.test(follower)) {
        push(text.slice(start, end));
        start = next;
        position = next;
        continue;
      }
      position = end;
      continue;
    }
    position += 1;
  }
  push(text.slice(start));
  return segments;
}

const blockStart = /^[ \t]*(?:#{1,6}\s|[-*+]\s|\d{1,9}[.)]\s|\||>|```|~~~)/;

/**
 * Whether the line break at `position` ends a block (see `splitSentences`). Looks at the current line (from the
 * segment's `start`, bounded to the line) and the next line only, so the scan stays linear.
 */
function endsBlock(text: string, start: number, position: number, sections: ReadonlySet<string>): boolean {
  const lineStart = Math.max(start, text.lastIndexOf('\n', position - 1) + 1);
  const line = text.slice(lineStart, position).trim();
  if (line.length === 0 || /^#{1,6}\s/.test(line) || sections.has(line) || line.startsWith('|')) return true;
  const nextEnd = text.indexOf('\n', position + 1);
  const next = text.slice(position + 1, nextEnd === -1 ? text.length : nextEnd);
  return next.trim().length === 0 || blockStart.test(next) || sections.has(next.trim());
}
