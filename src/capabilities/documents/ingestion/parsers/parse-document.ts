import { decodeText, type IngestionLimits } from '../safety.ts';
import { detectFormat } from './detect-format.ts';
import type { ParsedDocument } from './document-blocks.ts';
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
 * it refuses; never returns a partial document.
 */
export async function parseDocument(file: DocumentFile, limits: IngestionLimits): Promise<ParsedDocument> {
  const format = detectFormat(file.fileName, file.bytes, file.mimeType);
  switch (format) {
    case 'pdf':
      return parsePdf(file.fileName, file.bytes, limits);
    case 'docx':
      return parseDocx(file.fileName, file.bytes, limits);
    case 'html':
      return parseHtml(decodeText(file.fileName, file.bytes));
    case 'markdown':
      return parseMarkdown(decodeText(file.fileName, file.bytes));
    case 'text':
      return parseText(decodeText(file.fileName, file.bytes));
    default:
      return format satisfies never;
  }
}
