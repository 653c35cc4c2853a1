/**
 * Packs ranked chunks into a token budget for the answer prompt. Rules:
 * - one passage per document, except that chunks adjacent to an already packed chunk of that document are
 *   merged into its passage (reading order, the repeated overlap dropped via `overlapPrefixChars`);
 * - passages keep rank order; packing stops at the first passage that no longer fits (a lower-ranked but
 *   shorter chunk is not pulled forward past a better one);
 * - a first passage larger than the whole budget is cut to fit, so a relevant hit always yields context.
 * Token counts are exact (tiktoken), of the passage text.
 */
import type { EncodingName } from '../../../llm/tokenizer.ts';
import { countTokens, truncateToTokens } from '../../../llm/tokenizer.ts';
import type { ChunkRecord, SearchHit } from '../../../ports/vector-index.ts';

export interface PackedPassage {
  documentId: string;
  title: string;
  sectionPath: string[];
  source: string;
  page?: number;
  /** Chunk indexes merged into this passage, ascending. */
  chunkIndexes: number[];
  text: string;
  tokenCount: number;
  /** Best score among the merged chunks. */
  score: number;
  /** True when the passage was cut to fit the budget. */
  truncated: boolean;
}

export interface PackedContext {
  passages: PackedPassage[];
  tokenCount: number;
  /** Hits that were skipped because the budget was reached. */
  droppedForBudget: number;
}

export interface PackOptions {
  budgetTokens: number;
  encoding?: EncodingName;
}

interface Group {
  chunks: ChunkRecord[];
  score: number;
  text: string;
  tokenCount: number;
  truncated: boolean;
}

/** Packs `hits` (best first) into at most `budgetTokens` tokens. */
export function packContext(hits: readonly SearchHit[], options: PackOptions): PackedContext {
  const budget = Math.floor(options.budgetTokens);
  if (!(budget > 0)) throw new RangeError(`The context budget must be positive, got ${options.budgetTokens}`);
  const encoding = options.encoding ?? 'o200k_base';
  const groups: Group[] = [];
  const byDocument = new Map<string, Group>();
  let used = 0;
  let dropped = 0;
  let stopped = false;
  for (const hit of hits) {
    if (stopped) {
      dropped += 1;
      continue;
    }
    const chunk = hit.chunk;
    const key = `${chunk.workspaceId}\u0000${chunk.documentId}`;
    const existing = byDocument.get(key);
    if (existing) {
      if (existing.truncated) continue;
      if (existing.chunks.some((packed) => packed.chunkIndex === chunk.chunkIndex)) continue;
      const adjacent = existing.chunks.some((packed) => Math.abs(packed.chunkIndex - chunk.chunkIndex) === 1);
      if (!adjacent) continue;
      const merged = [...existing.chunks, chunk].sort((left, right) => left.chunkIndex - right.chunkIndex);
      const text = joinChunks(merged);
      const tokenCount = countTokens(text, encoding);
      if (used - existing.tokenCount + tokenCount > budget) {
        stopped = true;
        dropped += 1;
        continue;
      }
      used += tokenCount - existing.tokenCount;
      existing.chunks = merged;
      existing.text = text;
      existing.tokenCount = tokenCount;
      existing.score = Math.max(existing.score, hit.score);
      continue;
    }
    const text = chunk.text;
    const tokenCount = countTokens(text, encoding);
    if (used + tokenCount > budget) {
      if (groups.length === 0) {
        const cut = truncateToTokens(text, budget, encoding);
        const group = { chunks: [chunk], score: hit.score, text: cut.text, tokenCount: cut.tokens, truncated: true };
        groups.push(group);
        byDocument.set(key, group);
        used += cut.tokens;
      } else dropped += 1;
      stopped = true;
      continue;
    }
    const group = { chunks: [chunk], score: hit.score, text, tokenCount, truncated: false };
    groups.push(group);
    byDocument.set(key, group);
    used += tokenCount;
  }
  return {
    passages: groups.map((group) => {
      const first = group.chunks[0] as ChunkRecord;
      const passage: PackedPassage = {
        documentId: first.documentId,
        title: first.title,
        sectionPath: [...first.sectionPath],
        source: first.source,
        chunkIndexes: group.chunks.map((chunk) => chunk.chunkIndex),
        text: group.text,
        tokenCount: group.tokenCount,
        score: group.score,
        truncated: group.truncated,
      };
      if (first.page !== undefined) passage.page = first.page;
      return passage;
    }),
    tokenCount: used,
    droppedForBudget: dropped,
  };
}

/**
 * Text of consecutive chunks in order; a chunk that directly follows the previous one drops its
 * `overlapPrefixChars` (the characters repeating the previous chunk's end). Non-consecutive runs are
 * separated by an ellipsis line so the model does not read them as continuous.
 */
export function joinChunks(chunks: readonly ChunkRecord[]): string {
  let text = '';
  let previous: ChunkRecord | undefined;
  for (const chunk of chunks) {
    if (!previous) text = chunk.text;
    else if (chunk.chunkIndex === previous.chunkIndex + 1) {
      const overlap = Math.min(chunk.overlapPrefixChars ?? 0, chunk.text.length);
      const rest = chunk.text.slice(overlap);
      text += /^\s/.test(rest) || /\s$/.test(text) ? rest : `${overlap > 0 ? ' ' : '\n'}${rest}`;
    } else text += `\n…\n${chunk.text}`;
    previous = chunk;
  }
  return text;
}
