/**
 * Splits content that is too long for one Slack message into several messages that each respect Slack's
 * limits (docs/platform-facts.md "Slack: egress"): at most 50 blocks, section text at most 3,000 characters,
 * cumulative block text under the ~13,200 characters where `msg_blocks_too_long` starts (we stay at 12,000),
 * and `text` at most 40,000 characters.
 *
 * Text is cut at the best boundary available — paragraph, then line, then sentence, then word — and never
 * inside a fenced code block without closing the fence in the first part and reopening it (same info string)
 * in the next, so every part renders on its own.
 *
 * Hand-written: the Slack SDKs do not split messages, and general text splitters (e.g. LangChain's) know
 * neither Block Kit nor mrkdwn code fences.
 */
import type { Block, OutgoingMessage } from '../../ports/messenger.ts';
import { section } from '../../slack-kit/blocks.ts';

export interface MessageLimits {
  maxBlocks: number;
  sectionText: number;
  cumulativeBlockText: number;
  text: number;
  /** Length of the `text` fallback derived for continuation parts. */
  continuationFallback: number;
}

export const slackMessageLimits: MessageLimits = {
  maxBlocks: 50,
  sectionText: 3000,
  cumulativeBlockText: 12_000,
  text: 40_000,
  continuationFallback: 3000,
};

export type MessagePart = Pick<OutgoingMessage, 'text' | 'blocks'>;

// The marker is the whole run of backticks or tildes (a lookahead ends it), so it cannot trade characters with the
// rest of the line (quadratic on a long run of backticks that cannot reach the end, issue 14); same matches.
const fenceLine = /^[ \t]*(`{3,}(?!`)|~{3,}(?!~))(.*)$/;

/** The opening fence line (e.g. "```ts") when `text` ends inside an unclosed code fence. */
export function openFenceAtEnd(text: string): string | undefined {
  let open: { marker: string; line: string } | undefined;
  for (const line of text.split('\n')) {
    const match = fenceLine.exec(line);
    if (!match) continue;
    const marker = match[1] ?? '```';
    if (open === undefined) open = { marker, line: line.trimStart() };
    else if (marker.startsWith(open.marker[0] ?? '`') && marker.length >= open.marker.length && !match[2]?.trim()) {
      open = undefined;
    }
  }
  return open?.line;
}

function fenceMarker(openingLine: string): string {
  return fenceLine.exec(openingLine)?.[1] ?? '```';
}

/** Index (exclusive end of the first part) of the best cut at or before `limit`. */
function bestCut(text: string, limit: number): number {
  const window = text.slice(0, limit + 1);
  const minimum = Math.floor(limit * 0.3);
  const candidates: RegExp[] = [/\n[ \t]*\n/g, /\n/g, /[.!?…][)"'»”’]*\s/g, /\s/g];
  for (const pattern of candidates) {
    let best = -1;
    for (const match of window.matchAll(pattern)) {
      const end = match.index + (pattern.source.startsWith('[.') ? match[0].length - 1 : 0);
      if (end > 0 && end <= limit) best = end;
    }
    if (best >= minimum) return best;
  }
  // No boundary: hard cut, without splitting a surrogate pair.
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}

/**
 * Splits text into pieces of at most `limit` characters on natural boundaries; code fences cut in two are
 * closed at the end of one piece and reopened at the start of the next.
 */
export function splitText(text: string, limit: number): string[] {
  if (limit < 40) throw new RangeError('limit must be at least 40 characters');
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    const window = rest.slice(0, limit);
    // Room to close a fence we may cut inside: "\n" + the longest fence marker in view.
    const markers = window.split('\n').flatMap((line) => fenceLine.exec(line)?.[1] ?? []);
    const reserve = markers.length === 0 ? 0 : 1 + Math.max(...markers.map((marker) => marker.length));
    const cut = Math.max(1, bestCut(rest, limit - reserve));
    let piece = rest.slice(0, cut).trimEnd();
    const openFence = openFenceAtEnd(piece);
    let next = rest.slice(cut);
    const withoutBreak = next.replace(/^\s*\n/, '');
    next = withoutBreak !== next || openFence !== undefined ? withoutBreak : next.replace(/^[ \t]+/, '');
    if (openFence !== undefined) {
      piece = `${piece}\n${fenceMarker(openFence)}`;
      next = `${openFence}\n${next}`;
    }
    if (next.length >= rest.length) {
      // No progress possible (a fence line nearly as long as the limit): hard cut without fence repair.
      pieces.push(rest.slice(0, limit));
      rest = rest.slice(limit);
      continue;
    }
    if (piece.trim().length > 0) pieces.push(piece);
    rest = next;
  }
  if (rest.trim().length > 0) pieces.push(rest);
  return pieces;
}

function blockText(value: unknown): number {
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + blockText(item), 0);
  if (typeof value !== 'object' || value === null) return 0;
  let total = 0;
  for (const [key, child] of Object.entries(value)) {
    total += key === 'text' && typeof child === 'string' ? child.length : blockText(child);
  }
  return total;
}

function plainOf(blocks: Block[]): string {
  const texts: string[] = [];
  const collect = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (typeof value === 'object' && value !== null) {
      for (const [key, child] of Object.entries(value)) {
        if (key === 'text' && typeof child === 'string') texts.push(child);
        else collect(child);
      }
    }
  };
  collect(blocks);
  return texts.join('\n');
}

/** Shortens text to `limit` characters on a word boundary, ending with an ellipsis. */
export function truncateText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const cut = bestCut(text, limit - 1);
  // trimEnd removes exactly what `\s+$` did (the same whitespace and line terminators), without rescanning runs.
  return `${text.slice(0, cut).trimEnd()}…`;
}

/** Breaks a section (or markdown block) over the section limit into several; other blocks pass through. */
function expandBlock(block: Block, limits: MessageLimits): Block[] {
  if (block.type === 'markdown' && typeof block.text === 'string' && block.text.length > limits.sectionText) {
    const { block_id: _blockId, ...rest } = block;
    return splitText(block.text, limits.sectionText).map((piece) => ({ ...rest, type: 'markdown', text: piece }));
  }
  const text = block.text as { type?: string; text?: unknown } | undefined;
  if (block.type !== 'section' || typeof text?.text !== 'string' || text.text.length <= limits.sectionText) {
    return [block];
  }
  const { block_id: _blockId, accessory, ...rest } = block;
  const pieces = splitText(text.text, limits.sectionText);
  return pieces.map((piece, index) => ({
    ...rest,
    type: 'section',
    text: { ...text, text: piece },
    ...(index === pieces.length - 1 && accessory !== undefined ? { accessory } : {}),
  }));
}

/**
 * Splits an outgoing message into parts that Slack accepts. A message within limits comes back unchanged as
 * one part. Text-only content becomes mrkdwn sections and each part's fallback is its own text. With blocks,
 * the first part keeps the caller's `text` (shortened to 40,000 characters) and later parts get a fallback
 * made of their own text (shortened to `continuationFallback`).
 */
export function splitMessage(message: MessagePart, limits: MessageLimits = slackMessageLimits): MessagePart[] {
  const blocks = message.blocks;
  if (blocks === undefined || blocks.length === 0) {
    if (message.text.length <= limits.sectionText) return [{ text: message.text }];
    const sections = splitText(message.text, limits.sectionText).map((text) => section(text));
    // Each part's fallback is its own text (at most cumulativeBlockText long, so well within `text`'s limit).
    return groupBlocks(sections, limits).map((group) => ({ text: plainOf(group), blocks: group }));
  }
  const fits =
    blocks.length <= limits.maxBlocks &&
    blockText(blocks) <= limits.cumulativeBlockText &&
    message.text.length <= limits.text &&
    blocks.every((block) => expandBlock(block, limits).length === 1);
  if (fits) return [{ text: message.text, blocks }];
  const expanded = blocks.flatMap((block) => expandBlock(block, limits));
  return groupBlocks(expanded, limits).map((group, index) => ({
    text: truncateText(
      index === 0 ? message.text : plainOf(group),
      index === 0 ? limits.text : limits.continuationFallback,
    ),
    blocks: group,
  }));
}

function groupBlocks(blocks: Block[], limits: MessageLimits): Block[][] {
  const groups: Block[][] = [];
  let current: Block[] = [];
  let currentText = 0;
  for (const block of blocks) {
    const size = blockText(block);
    if (current.length > 0 && (current.length >= limits.maxBlocks || currentText + size > limits.cumulativeBlockText)) {
      groups.push(current);
      current = [];
      currentText = 0;
    }
    current.push(block);
    currentText += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
