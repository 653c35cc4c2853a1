/**
 * Exact token counting with tiktoken. One encoder per encoding per process: tiktoken's WASM encoders hold
 * native memory that is only released by `free()`, so creating one per call leaks (docs/platform-facts.md).
 */

import type { TiktokenModel } from 'tiktoken';
import { get_encoding, get_encoding_name_for_model, type Tiktoken, type TiktokenEncoding } from 'tiktoken';
import { DeskhandError } from '../errors.ts';

export type EncodingName = 'o200k_base' | 'cl100k_base';

const encoders = new Map<EncodingName, Tiktoken>();
const textDecoder = new TextDecoder();

/** The process-wide encoder for an encoding, created on first use. */
export function getEncoder(encoding: EncodingName): Tiktoken {
  let encoder = encoders.get(encoding);
  if (!encoder) {
    encoder = get_encoding(encoding as TiktokenEncoding);
    encoders.set(encoding, encoder);
  }
  return encoder;
}

/**
 * The encoding a model uses. An unknown model is a configuration error unless a fallback encoding is given:
 * counting with the wrong encoding would make every budget reservation wrong.
 */
export function encodingForModel(model: string, fallback?: EncodingName): EncodingName {
  try {
    const name = get_encoding_name_for_model(model as TiktokenModel);
    if (name === 'o200k_base' || name === 'cl100k_base') return name;
  } catch {
    // tiktoken throws for names it does not know; handled below.
  }
  // Dated snapshots ("gpt-4o-2024-08-06") and fine-tunes ("ft:gpt-4o-mini:org::id") share their base's encoding.
  const base = model.replace(/^ft:/, '').split(':')[0] ?? model;
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)/.test(base)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada-002)/.test(base)) return 'cl100k_base';
  if (fallback) return fallback;
  throw new DeskhandError('configuration', `Unknown model "${model}": no tokenizer encoding is known for it`, {
    userMessage: `Deskhand does not know how to count tokens for the model "${model}". An admin must set TOKENIZER_FALLBACK_ENCODING.`,
  });
}

/**
 * Longest run without whitespace encoded in one call. tiktoken's byte-pair merge is quadratic in the length of one
 * pre-tokenized piece, and a piece is a run without whitespace: 40,000 × U+FFFD took 31 s and 160,000 × "a" 17 s
 * on one work thread (a `/ticket` or a document of one character, repeated). Runs longer than this are encoded in
 * slices of this length, each a few milliseconds. Text whose runs are all shorter — every ordinary message and
 * document, URLs included — is encoded in one call and counted exactly as before; a longer run may count a token
 * or so more or fewer per slice than tiktoken would in one piece.
 */
export const maxEncodedRun = 400;

/**
 * `text` cut only inside runs of more than `maxEncodedRun` characters without whitespace (a linear scan; one
 * slice when there is no such run). Never cuts a surrogate pair.
 */
export function encodingSlices(text: string, maxRun = maxEncodedRun): string[] {
  const slices: string[] = [];
  let start = 0;
  let run = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (
      code === 0x20 ||
      code === 0x0a ||
      code === 0x09 ||
      code === 0x0d ||
      (code > 0x7f && /\s/.test(text[index] ?? ''))
    ) {
      run = 0;
      continue;
    }
    run += 1;
    const highSurrogateNext = code >= 0xd800 && code <= 0xdbff;
    if (run >= maxRun && !highSurrogateNext) {
      slices.push(text.slice(start, index + 1));
      start = index + 1;
      run = 0;
    }
  }
  if (start < text.length) slices.push(text.slice(start));
  return slices;
}

function encodeBounded(encoder: Tiktoken, text: string): Uint32Array {
  const slices = encodingSlices(text);
  if (slices.length === 1) return encoder.encode_ordinary(text);
  const parts = slices.map((slice) => encoder.encode_ordinary(slice));
  const all = new Uint32Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

/** The number of tokens in a text: exact, except inside runs longer than `maxEncodedRun` (see there). */
export function countTokens(text: string, encoding: EncodingName = 'o200k_base'): number {
  if (text.length === 0) return 0;
  return encodeBounded(getEncoder(encoding), text).length;
}

/** The longest prefix of `text` that fits in `maxTokens`, and whether anything was cut. */
export function truncateToTokens(
  text: string,
  maxTokens: number,
  encoding: EncodingName = 'o200k_base',
): { text: string; truncated: boolean; tokens: number } {
  const encoder = getEncoder(encoding);
  const tokens = encodeBounded(encoder, text);
  if (tokens.length <= maxTokens) return { text, truncated: false, tokens: tokens.length };
  let kept = textDecoder.decode(encoder.decode(tokens.slice(0, maxTokens)));
  // A cut inside a multi-byte character leaves U+FFFD at the end; drop it.
  // (A scan from the end: `/\uFFFD+$/` rescanned every run of U+FFFD inside the text up to its end.)
  let end = kept.length;
  while (end > 0 && kept.charCodeAt(end - 1) === 0xfffd) end -= 1;
  kept = kept.slice(0, end);
  return { text: kept, truncated: true, tokens: maxTokens };
}
