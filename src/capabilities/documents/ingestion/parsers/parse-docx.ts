import { Buffer } from 'node:buffer';
import mammoth from 'mammoth';
import { type IngestionLimits, inspectZip, rejectDocument } from '../safety.ts';
import type { ParsedDocument } from './document-blocks.ts';
import { parseHtml } from './parse-html.ts';

/** Images carry no text to index; dropping them keeps base64 data URLs out of the HTML. */
const dropImages = mammoth.images.imgElement(async () => ({ src: '' }));

/**
 * DOCX → HTML (mammoth maps Word's heading styles to h1–h6, keeps tables and lists) → the HTML path. The ZIP is
 * inspected for bombs before mammoth inflates anything.
 */
export async function parseDocx(fileName: string, bytes: Uint8Array, limits: IngestionLimits): Promise<ParsedDocument> {
  const entries = await inspectZip(fileName, bytes, limits);
  if (!entries.includes('word/document.xml')) {
    throw rejectDocument(
      'unsupported_format',
      `${fileName} is a ZIP archive without word/document.xml`,
      `"${fileName}" is a ZIP archive, not a Word document. Share the documents inside it one by one.`,
    );
  }
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      { convertImage: dropImages, externalFileAccess: false },
    );
    html = result.value;
  } catch (error) {
    throw rejectDocument(
      'corrupt_file',
      `${fileName} could not be converted: ${(error as Error).message}`,
      `"${fileName}" is damaged: I could not read it as a Word document.`,
      {},
      error,
    );
  }
  return parseHtml(html, 'docx');
}
