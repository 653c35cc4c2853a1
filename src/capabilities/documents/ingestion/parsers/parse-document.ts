/**
 * One file to blocks, in whatever thread calls it (`parse-in-worker.ts` runs it in a bounded worker thread). Every
 * size is checked before the work it bounds: text formats by length before their parser runs, DOCX parts and
 * text while the ZIP is inspected, PDF pages and text page by page; the result is checked once more.
 */
import {
  checkTextLength,
  decodeText,
  type IngestionLimits,
  rejectDocument,
  rejectionReason,
  tooMuchText,
} from '../safety.ts';
import { detectFormat } from './detect-format.ts';
import { blocksText, type ParsedDocument } from './document-blocks.ts';
import { parseDocx } from './parse-docx.ts';
import { parseHtml } from './parse-html.ts';
import { parseMarkdown } from './parse-markdown.ts';
import { parsePdf } from './parse-pdf.ts';
import { parseText } from './parse-text.ts';

export interface DocumentFile {
  fileName: string;
  bytes: Uint8Array;
  mimeType?: string;
}

/**
 * Detects the format and parses the file into blocks. Throws a `DeskhandError` (see `safety.ts`) for anything
 * it refuses, including a parser that overflows its stack or a string past V8's length limit (`too_large`, never a
 * generic error); never returns a partial document.
 */
export async function parseDocument(file: DocumentFile, limits: IngestionLimits): Promise<ParsedDocument> {
  let parsed: ParsedDocument;
  try {
    parsed = await parseByFormat(file, limits);
  } catch (error) {
    if (error instanceof RangeError && !rejectionReason(error)) throw tooComplex(file.fileName, error);
    throw error;
  }
  checkTextLength(file.fileName, blocksText(parsed.blocks), limits);
  return parsed;
}

async function parseByFormat(file: DocumentFile, limits: IngestionLimits): Promise<ParsedDocument> {
  const format = detectFormat(file.fileName, file.bytes, file.mimeType);
  switch (format) {
    case 'pdf':
      return parsePdf(file.fileName, file.bytes, limits);
    case 'docx':
      return parseDocx(file.fileName, file.bytes, limits);
    case 'html':
      return parseHtml(checkMarkupLength(file.fileName, decodeText(file.fileName, file.bytes), limits));
    case 'markdown':
      return parseMarkdown(checkLength(file.fileName, decodeText(file.fileName, file.bytes), limits));
    case 'text':
      return parseText(checkLength(file.fileName, decodeText(file.fileName, file.bytes), limits));
    default:
      return format satisfies never;
  }
}

/** Markdown and plain text keep nearly every character, so their length bounds their text before parsing. */
function checkLength(fileName: string, text: string, limits: IngestionLimits): string {
  if (text.length > limits.maxTextCharacters) throw tooMuchText(fileName, text.length, limits);
  return text;
}

function checkMarkupLength(fileName: string, html: string, limits: IngestionLimits): string {
  if (html.length <= limits.maxHtmlCharacters) return html;
  throw rejectDocument(
    'too_large',
    `${fileName} is ${html.length} characters of HTML, over the ${limits.maxHtmlCharacters} limit`,
    `"${fileName}" is too large: it is ${html.length.toLocaleString('en')} characters of HTML, the limit is ${limits.maxHtmlCharacters.toLocaleString('en')}. Split it into smaller pages.`,
    { actual: html.length, limit: limits.maxHtmlCharacters },
  );
}

/** A stack overflow or an over-long string in a parser: the document is too large or too deeply nested to read. */
function tooComplex(fileName: string, error: RangeError) {
  return rejectDocument(
    'too_large',
    `${fileName} exhausted the parser: ${error.message}`,
    `"${fileName}" is too large or too deeply nested for me to read (${error.message}). Split it or simplify it and share it again.`,
    { error: error.message },
    error,
  );
}
