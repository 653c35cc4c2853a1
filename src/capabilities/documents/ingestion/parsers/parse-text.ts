import { blocksFromPlainText, type ParsedDocument } from './document-blocks.ts';

/** Plain text: paragraphs are separated by blank lines; no structure is guessed. */
export function parseText(text: string): ParsedDocument {
  return { format: 'text', blocks: blocksFromPlainText(text.replace(/\r\n?/g, '\n')) };
}
