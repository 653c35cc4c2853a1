/**
 * Structure-aware chunking. Headings open sections (a chunk never spans two sections or two PDF pages);
 * paragraphs, lists, code blocks and tables stay whole when they fit; what does not fit is split where it stays
 * valid: lists by item, code by line (each piece re-opens the fence with its language), tables by row (each piece
 * repeats the header and delimiter rows), prose at sentence boundaries from `Intl.Segmenter` (so Japanese and
 * other scripts without spaces split correctly), and a pathological unbroken line by grapheme clusters. Sizes
 * and overlap are exact tiktoken counts.
 */
import { countTokens, type EncodingName, truncateToTokens } from '../../../llm/tokenizer.ts';
import type { DocumentBlock } from './parsers/document-blocks.ts';

export interface ChunkingOptions {
  /** Hard upper bound on a chunk's tokens. */
  maxTokens: number;
  /** Tokens of whole trailing sentences repeated at the start of the next chunk of the same section. */
  overlapTokens: number;
  encoding: EncodingName;
}

export const defaultChunkingOptions: ChunkingOptions = { maxTokens: 400, overlapTokens: 40, encoding: 'o200k_base' };

export interface DocumentChunk {
  text: string;
  /** Heading path, outermost first. */
  sectionPath: string[];
  page?: number;
  tokenCount: number;
  /** Leading characters that repeat the end of the previous chunk (0 when there is no overlap). */
  overlapPrefixChars: number;
}

type UnitKind = 'heading' | 'prose' | 'code' | 'table';

interface Unit {
  text: string;
  kind: UnitKind;
  /** Text placed between the previous unit and this one: '' continues a split paragraph. */
  separator: string;
}

const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });
const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Sentences of a text; each keeps its trailing whitespace, so joining them gives the text back. */
export function splitSentences(text: string): string[] {
  return Array.from(sentenceSegmenter.segment(text), (segment) => segment.segment);
}

/**
 * Splits a text that has no usable sentence boundary into pieces of at most `maxTokens`, cutting only between
 * grapheme clusters (never inside an emoji sequence or a base letter and its combining marks) and preferring a
 * space near the end of each piece.
 */
export function splitByTokens(text: string, maxTokens: number, encoding: EncodingName): string[] {
  const pieces: string[] = [];
  let rest = text;
  for (;;) {
    // Tokenise a window that just exceeds the budget rather than the whole rest: keeps a 10,000+ character line
    // linear instead of quadratic. The piece is re-counted exactly below, so window edges cannot overshoot.
    let window = Math.min(rest.length, Math.max(256, maxTokens * 8));
    while (window < rest.length && countTokens(rest.slice(0, window), encoding) <= maxTokens) {
      window = Math.min(rest.length, window * 2);
    }
    const head = rest.slice(0, window);
    if (window === rest.length && countTokens(head, encoding) <= maxTokens) break;
    let cut = truncateToTokens(head, maxTokens, encoding).text.length;
    for (;;) {
      cut = graphemeSegmenter.segment(rest).containing(cut)?.index ?? cut;
      const space = rest.lastIndexOf(' ', cut - 1);
      if (space > cut * 0.8) cut = space + 1;
      if (cut <= 0) {
        // Not even one grapheme fits: take one anyway so the loop ends (only reachable with a tiny maxTokens).
        cut = graphemeSegmenter.segment(rest).containing(0)?.segment.length ?? 1;
        break;
      }
      if (countTokens(rest.slice(0, cut), encoding) <= maxTokens) break;
      cut = Math.floor(cut * 0.9);
    }
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0) pieces.push(rest);
  return pieces;
}

function fenceFor(value: string): string {
  const longestRun = Math.max(0, ...Array.from(value.matchAll(/`+/g), (match) => match[0].length));
  return '`'.repeat(Math.max(3, longestRun + 1));
}

function renderCode(fence: string, lang: string, value: string): string {
  return `${fence}${lang}\n${value}\n${fence}`;
}

/** Cells of a GFM table row (unescaped pipes separate cells). */
function tableCells(row: string): string[] {
  return row
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

/** Tokens allowed for merges where two texts are joined (BPE may tokenise a join differently from its parts). */
const joinSlack = 3;

class Chunker {
  private readonly options: ChunkingOptions;
  private readonly chunks: DocumentChunk[] = [];
  private readonly headings: { depth: number; text: string }[] = [];
  private page: number | undefined;
  private units: Unit[] = [];
  private text = '';
  /** An upper estimate of `text`'s tokens while packing; the exact count is taken when the chunk is emitted. */
  private tokens = 0;
  private overlap = '';
  /** The overlap the current chunk started with, to rebuild it if the estimate was too low. */
  private startOverlap = '';
  private overlapPrefixChars = 0;
  /** Count every candidate exactly (used when rebuilding a chunk whose estimate was too low). */
  private exactOnly = false;
  /** Token counts of unit texts: each is counted once when the unit is built and reused when packing. */
  private readonly counted = new Map<string, number>();

  constructor(options: ChunkingOptions) {
    this.options = options;
  }

  private count(text: string): number {
    let tokens = this.counted.get(text);
    if (tokens === undefined) {
      tokens = countTokens(text, this.options.encoding);
      if (text.length <= 4 * 1024) this.counted.set(text, tokens);
    }
    return tokens;
  }

  run(blocks: DocumentBlock[]): DocumentChunk[] {
    for (const block of blocks) {
      if (block.page !== this.page) {
        this.flush(false);
        this.page = block.page;
      }
      if (block.kind === 'heading') {
        this.flush(false);
        while ((this.headings.at(-1)?.depth ?? 0) >= block.depth) this.headings.pop();
        this.headings.push({ depth: block.depth, text: block.text });
        for (const unit of this.fit({
          kind: 'heading',
          separator: '\n\n',
          text: `${'#'.repeat(block.depth)} ${block.text}`,
        })) {
          this.add(unit);
        }
        continue;
      }
      for (const unit of this.unitsOf(block)) this.add(unit);
    }
    this.flush(false);
    return this.chunks;
  }

  /** Units no larger than maxTokens each. */
  private unitsOf(block: DocumentBlock): Unit[] {
    const max = this.options.maxTokens;
    switch (block.kind) {
      case 'heading':
        return [];
      case 'prose': {
        if (this.count(block.text) <= max) return [{ kind: 'prose', separator: '\n\n', text: block.text }];
        if (block.parts && block.parts.length > 0) return block.parts.flatMap((part) => this.unitsOf(part));
        return this.proseUnits(block.text);
      }
      case 'code':
        return this.codeUnits(block.lang, block.value);
      case 'table':
        return this.tableUnits(block.header, block.separator, block.rows);
      default:
        return block satisfies never;
    }
  }

  private fit(unit: Unit): Unit[] {
    if (this.count(unit.text) <= this.options.maxTokens) return [unit];
    return splitByTokens(unit.text, this.options.maxTokens, this.options.encoding).map((text, index) => ({
      kind: unit.kind,
      separator: index === 0 ? unit.separator : '',
      text,
    }));
  }

  private proseUnits(text: string): Unit[] {
    const units: Unit[] = [];
    for (const sentence of splitSentences(text)) {
      const separator = units.length === 0 ? '\n\n' : '';
      units.push(...this.fit({ kind: 'prose', separator, text: sentence }));
    }
    return units;
  }

  /**
   * Groups lines into the largest pieces whose rendering fits in maxTokens. Packs by the sum of line counts and
   * counts exactly only near the limit; every piece is verified exactly and halved if a join made it too long.
   * Each line must fit alone with the frame (callers ensure it).
   */
  private packLines(lines: string[], render: (lines: string[]) => string): string[] {
    const max = this.options.maxTokens;
    const frame = this.count(render([]));
    const groups: string[][] = [];
    let current: string[] = [];
    let estimate = frame;
    for (const line of lines) {
      const lineTokens = this.count(line) + joinSlack;
      if (current.length > 0 && estimate + lineTokens > max) {
        const exact = countTokens(render([...current, line]), this.options.encoding);
        if (exact > max) {
          groups.push(current);
          current = [];
          estimate = frame;
        } else {
          current.push(line);
          estimate = exact;
          continue;
        }
      }
      current.push(line);
      estimate += lineTokens;
    }
    if (current.length > 0) groups.push(current);
    const pieces: string[] = [];
    const verify = (group: string[]) => {
      const text = render(group);
      if (group.length > 1 && countTokens(text, this.options.encoding) > max) {
        const middle = Math.ceil(group.length / 2);
        verify(group.slice(0, middle));
        verify(group.slice(middle));
      } else pieces.push(text);
    };
    groups.forEach(verify);
    return pieces;
  }

  private codeUnits(lang: string, value: string): Unit[] {
    const fence = fenceFor(value);
    const whole = renderCode(fence, lang, value);
    const max = this.options.maxTokens;
    if (this.count(whole) <= max) return [{ kind: 'code', separator: '\n\n', text: whole }];
    const frameTokens = this.count(renderCode(fence, lang, '')) + joinSlack;
    const lines = value
      .split('\n')
      .flatMap((line) =>
        this.count(line) + frameTokens <= max
          ? [line]
          : splitByTokens(line, Math.max(1, max - frameTokens), this.options.encoding),
      );
    return this.packLines(lines, (group) => renderCode(fence, lang, group.join('\n'))).map((text) => ({
      kind: 'code',
      separator: '\n\n',
      text,
    }));
  }

  private tableUnits(header: string, separator: string, rows: string[]): Unit[] {
    const max = this.options.maxTokens;
    const render = (group: string[]) => [header, separator, ...group].join('\n');
    const whole = render(rows);
    if (this.count(whole) <= max) return [{ kind: 'table', separator: '\n\n', text: whole }];
    const headerNames = tableCells(header);
    const units: Unit[] = [];
    let fitting: string[] = [];
    const emit = () => {
      for (const text of this.packLines(fitting, render)) units.push({ kind: 'table', separator: '\n\n', text });
      fitting = [];
    };
    for (const row of rows) {
      if (countTokens(render([row]), this.options.encoding) <= max) {
        fitting.push(row);
        continue;
      }
      // One row larger than a chunk even with the header: no valid table piece can hold it, so it becomes prose
      // that names each cell's column.
      emit();
      const described = tableCells(row)
        .map((cell, index) => `${headerNames[index] ?? `Column ${index + 1}`}: ${cell}`)
        .join('\n');
      units.push(...this.proseUnits(described));
    }
    emit();
    return units;
  }

  private candidateText(unit: Unit): string {
    if (this.units.length > 0) return `${this.text}${unit.separator}${unit.text}`;
    if (this.overlap) return `${this.overlap}${this.overlapSeparator(unit)}${unit.text}`;
    return unit.text;
  }

  private overlapSeparator(unit: Unit): string {
    return unit.separator === '' ? ' ' : unit.separator;
  }

  private add(unit: Unit): void {
    const max = this.options.maxTokens;
    const starting = this.units.length === 0;
    const candidate = this.candidateText(unit);
    // Packing by the sum of parts (plus slack for merges at the joins) avoids re-tokenising the growing chunk for
    // every sentence; near the limit, and when rebuilding, the candidate is counted exactly.
    const base = starting ? (this.overlap ? this.count(this.overlap) + joinSlack : 0) : this.tokens;
    const estimate = base + this.count(unit.text) + joinSlack;
    let tokens: number | undefined;
    if (!this.exactOnly && estimate <= max) tokens = estimate;
    else {
      const exact = countTokens(candidate, this.options.encoding);
      if (exact <= max) tokens = exact;
    }
    if (tokens !== undefined) {
      if (starting) {
        this.startOverlap = this.overlap;
        this.overlapPrefixChars = this.overlap ? this.overlap.length + this.overlapSeparator(unit).length : 0;
      }
      this.units.push(unit);
      this.text = candidate;
      this.tokens = tokens;
      return;
    }
    if (this.units.length > 0) {
      this.flush(true);
      this.add(unit);
      return;
    }
    if (this.overlap) {
      this.overlap = '';
      this.add(unit);
      return;
    }
    // Units are built to fit alone; keep the text rather than lose it if a tokenizer edge case says otherwise.
    this.startOverlap = '';
    this.units.push(unit);
    this.text = unit.text;
    this.tokens = this.count(unit.text);
  }

  /** Emits the current chunk. `continues` is true when the same section goes on in the next chunk. */
  private flush(continues: boolean): void {
    const hasContent = this.units.some((unit) => unit.kind !== 'heading');
    const last = this.units.at(-1);
    if (hasContent) {
      const text = this.text.trimEnd();
      const tokenCount = countTokens(text, this.options.encoding);
      if (tokenCount > this.options.maxTokens && this.units.length > 1 && !this.exactOnly) {
        this.rebuild(continues);
        return;
      }
      const chunk: DocumentChunk = {
        text,
        sectionPath: this.headings.map((heading) => heading.text),
        tokenCount,
        overlapPrefixChars: this.overlapPrefixChars,
      };
      if (this.page !== undefined) chunk.page = this.page;
      this.chunks.push(chunk);
    }
    this.overlap = continues && hasContent && last?.kind === 'prose' ? this.overlapTail(last.text) : '';
    this.units = [];
    this.text = '';
    this.tokens = 0;
    this.overlapPrefixChars = 0;
  }

  /** Re-packs the current chunk's units with exact counts (the estimate let it grow past the limit). */
  private rebuild(continues: boolean): void {
    const units = this.units;
    this.units = [];
    this.text = '';
    this.tokens = 0;
    this.overlap = this.startOverlap;
    this.overlapPrefixChars = 0;
    this.exactOnly = true;
    for (const unit of units) this.add(unit);
    this.flush(continues);
    this.exactOnly = false;
  }

  /** Whole trailing sentences of `text` within the overlap budget ('' when even the last one is too long). */
  private overlapTail(text: string): string {
    if (this.options.overlapTokens <= 0) return '';
    const sentences = splitSentences(text.trimEnd());
    let tail = '';
    let best = '';
    for (let index = sentences.length - 1; index >= 0; index -= 1) {
      const candidate = `${sentences[index] ?? ''}${tail}`;
      if (this.count(candidate.trim()) > this.options.overlapTokens) break;
      tail = candidate;
      // A tail that reaches into a fence, a table or a `:::` admonition (a list item holding code, say) would
      // start the next chunk with half a structure; stop there.
      // (The indentation is the line's own: `^\s*` would also start at each blank line above and rescan them.)
      if (/^[^\S\n\r\u2028\u2029]*(```|~~~|\||:::)/m.test(tail)) break;
      if (isUsefulOverlap(tail)) best = tail;
    }
    return best.trim();
  }
}

/**
 * An overlap worth repeating: it has words and does not open or close inline code it does not contain whole (a
 * sentence boundary inside backticks would leave a stray one).
 */
function isUsefulOverlap(tail: string): boolean {
  const backticks = tail.match(/`/g)?.length ?? 0;
  return backticks % 2 === 0 && /[\p{L}\p{N}]{2}/u.test(tail);
}

/**
 * Chunks a parsed document. Guarantees: no chunk exceeds `maxTokens` (exact count); every fenced code piece is
 * a complete fence with its language; every table piece starts with the table's header and delimiter rows; chunk
 * order follows the document; `overlapPrefixChars` marks the repeated sentences at a chunk's start.
 */
export function chunkDocument(blocks: DocumentBlock[], options: Partial<ChunkingOptions> = {}): DocumentChunk[] {
  return new Chunker({ ...defaultChunkingOptions, ...options }).run(blocks);
}
