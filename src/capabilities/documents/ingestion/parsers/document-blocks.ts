/**
 * The structure every parser produces and the chunker consumes. Markdown, HTML and DOCX go through mdast (one
 * structure path); PDF and plain text produce prose blocks directly.
 */
import type { Nodes, Root, RootContent, Table } from 'mdast';
import { gfmToMarkdown } from 'mdast-util-gfm';
import { toMarkdown } from 'mdast-util-to-markdown';
import { toString as mdastToString } from 'mdast-util-to-string';

export type DocumentFormat = 'markdown' | 'text' | 'html' | 'pdf' | 'docx';

export type DocumentBlock =
  | { kind: 'heading'; depth: number; text: string; page?: number }
  /**
   * Paragraphs, lists, quotes and anything else kept as Markdown text. `parts` are finer blocks (list items, an
   * item's paragraphs and code) the chunker uses when the whole does not fit in one chunk.
   */
  | { kind: 'prose'; text: string; parts?: DocumentBlock[]; page?: number }
  | { kind: 'code'; lang: string; value: string; page?: number }
  /** A GFM table as Markdown lines: the header row, the delimiter row and one line per body row. */
  | { kind: 'table'; header: string; separator: string; rows: string[]; page?: number };

export interface ParsedDocument {
  format: DocumentFormat;
  /** Title found in the document itself (front matter, first heading, <title>, PDF info), if any. */
  title?: string;
  blocks: DocumentBlock[];
}

/** Heading text without a trailing `{#custom-id}` attribute (Docusaurus and many static-site generators). */
export function cleanHeadingText(text: string): string {
  return withoutCustomId(text).replace(/\s+/g, ' ').trim();
}

/**
 * `text` without a trailing `{#…}` (no `}` inside), as `/\s*\{#[^}]*\}\s*$/` removed it but in linear time
 * (issue 14: the pattern rescanned the rest of the text from every `{#`): the last `}` must end the text, and the
 * first `{#` after the `}` before it starts the attribute. Whitespace before it is left to the caller's trim.
 */
function withoutCustomId(text: string): string {
  const trimmed = text.trimEnd();
  if (!trimmed.endsWith('}')) return text;
  const previousClose = trimmed.lastIndexOf('}', trimmed.length - 2);
  const open = trimmed.indexOf('{#', previousClose + 1);
  return open === -1 ? text : trimmed.slice(0, open);
}

const toMarkdownOptions = {
  extensions: [gfmToMarkdown({ tablePipeAlign: false })],
  bullet: '-' as const,
  fences: true,
  rule: '-' as const,
};

function serialize(node: Nodes): string {
  return toMarkdown(node, toMarkdownOptions).trimEnd();
}

/** Inline images carried as data URLs: kilobytes of base64 that no question matches; the alt text stays. */
// Neither the alt text nor the data may hold a `[` (linear, issue 14: with `[^\]]*` / `[^)]*` each `![` rescanned
// the rest of the text when no `](data:…)` closed it).
const dataImagePattern = /!\[([^[\]]*)\]\(\s*<?data:[^)[]*\)/g;

/** Slices the original Markdown when the node has offsets (keeps the author's text); serialises otherwise. */
function markdownOf(node: Nodes, source: string | undefined): string {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  const text =
    source !== undefined && start !== undefined && end !== undefined
      ? source.slice(start, end).trimEnd()
      : serialize(node);
  return text.replace(dataImagePattern, (_, alt: string) => (alt ? `[image: ${alt}]` : ''));
}

function tableBlock(node: Table, source: string | undefined): DocumentBlock {
  const lines = markdownOf(node, source)
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '');
  const [header = '', separator = '', ...rows] = lines;
  return { kind: 'table', header, separator, rows };
}

/** True for nodes that carry no readable text: comments, empty anchors, inline images as data URLs. */
function isNoise(node: RootContent, text: string): boolean {
  if (node.type === 'html') return onlyCommentsAndEmptyAnchors(text);
  if (node.type === 'definition') return false;
  return text.trim() === '';
}

const emptyAnchor = /<a\s[^>]*>\s*<\/a>/iy;

/**
 * True when `text` is one or more HTML comments and empty `<a …></a>` anchors, with whitespace around them. A scan
 * in linear time (issue 14) instead of `/^(\s*(<!--[\s\S]*?-->|<a\s[^>]*>\s*<\/a>)\s*)+$/i`, whose nested
 * repetition backtracked; a comment ends at its first `-->`, as in HTML.
 */
function onlyCommentsAndEmptyAnchors(text: string): boolean {
  let at = 0;
  let found = false;
  for (;;) {
    while (at < text.length && /\s/.test(text[at] as string)) at += 1;
    if (at === text.length) return found;
    if (text.startsWith('<!--', at)) {
      const end = text.indexOf('-->', at + 4);
      if (end === -1) return false;
      at = end + 3;
    } else {
      emptyAnchor.lastIndex = at;
      if (!emptyAnchor.test(text)) return false;
      at = emptyAnchor.lastIndex;
    }
    found = true;
  }
}

function stripDataImages(node: Nodes): void {
  if (!('children' in node)) return;
  const children = node.children as Nodes[];
  for (let index = children.length - 1; index >= 0; index -= 1) {
    const child = children[index];
    if (!child) continue;
    if (child.type === 'image' && (child.url === '' || child.url.startsWith('data:'))) children.splice(index, 1);
    else stripDataImages(child);
  }
}

function convert(node: RootContent, source: string | undefined): DocumentBlock | undefined {
  switch (node.type) {
    case 'heading':
      return { kind: 'heading', depth: node.depth, text: cleanHeadingText(mdastToString(node)) };
    case 'code':
      return { kind: 'code', lang: node.lang ?? '', value: node.value };
    case 'table':
      return tableBlock(node, source);
    case 'thematicBreak':
      return undefined;
    case 'list': {
      const text = markdownOf(node, source);
      if (isNoise(node, text)) return undefined;
      const parts = node.children
        .map((item) => convert(item, source))
        .filter((block): block is DocumentBlock => block !== undefined);
      return { kind: 'prose', text, parts };
    }
    case 'listItem':
    case 'blockquote':
    case 'footnoteDefinition': {
      const text = markdownOf(node, source);
      if (isNoise(node, text)) return undefined;
      const parts = node.children
        .map((child) => convert(child, source))
        .filter((block): block is DocumentBlock => block !== undefined);
      return { kind: 'prose', text, parts };
    }
    default: {
      const text = markdownOf(node, source);
      if (isNoise(node, text)) return undefined;
      return { kind: 'prose', text };
    }
  }
}

/**
 * Blocks from an mdast tree. `source` is the Markdown the tree was parsed from (positions index into it); leave
 * it out for trees built from HTML or DOCX, which are serialised back to Markdown instead.
 */
export function blocksFromMdast(root: Root, source?: string): DocumentBlock[] {
  if (source === undefined) stripDataImages(root);
  const blocks: DocumentBlock[] = [];
  for (const node of root.children) {
    const block = convert(node, source);
    if (block) blocks.push(block);
  }
  return blocks;
}

/** The first level-1 heading, else the first heading of any level. */
export function titleFromBlocks(blocks: DocumentBlock[]): string | undefined {
  const headings = blocks.filter((block) => block.kind === 'heading');
  const title = (headings.find((block) => block.depth === 1) ?? headings[0])?.text;
  return title && title.length > 0 ? title : undefined;
}

/**
 * `text` without spaces and tabs at the end of each line, as `/[ \t]+$/gm` removed them, in linear time (issue 14:
 * the pattern rescanned a run of blanks inside a line from each of its positions).
 */
function withoutTrailingBlanks(text: string): string {
  return text.replace(/[ \t]+/g, (run: string, offset: number) => {
    const next = text[offset + run.length];
    return next === undefined || next === '\n' || next === '\r' || next === '\u2028' || next === '\u2029' ? '' : run;
  });
}

/** Prose blocks from plain text: paragraphs are separated by blank lines. */
export function blocksFromPlainText(text: string, page?: number): DocumentBlock[] {
  return text
    .split(/\n[ \t]*\n+/)
    .map((paragraph) => withoutTrailingBlanks(paragraph).trim())
    .filter((paragraph) => paragraph.length > 0)
    .map((paragraph) =>
      page === undefined ? { kind: 'prose', text: paragraph } : { kind: 'prose', text: paragraph, page },
    );
}

/** Every character of readable text in the blocks, for emptiness checks and the document hash. */
export function blocksText(blocks: DocumentBlock[]): string {
  return blocks
    .map((block) => {
      switch (block.kind) {
        case 'heading':
        case 'prose':
          return block.text;
        case 'code':
          return block.value;
        case 'table':
          return [block.header, ...block.rows].join('\n');
        default:
          return '';
      }
    })
    .join('\n\n');
}
