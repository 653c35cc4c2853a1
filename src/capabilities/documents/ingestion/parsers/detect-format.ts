/**
 * Decides a file's format from its first bytes and its name. The mime type a client sends is only a hint for
 * text files without a known extension: a browser or Slack may label anything `application/octet-stream`, and a
 * renamed file must not reach the wrong parser.
 */
import { extname } from 'node:path';
import { rejectDocument } from '../safety.ts';
import type { DocumentFormat } from './document-blocks.ts';

const markdownExtensions = new Set(['.md', '.markdown', '.mdx', '.mkd', '.mdown']);
const htmlExtensions = new Set(['.html', '.htm', '.xhtml']);
const textExtensions = new Set([
  '.txt',
  '.text',
  '.log',
  '.csv',
  '.tsv',
  '.rst',
  '.adoc',
  '.json',
  '.yaml',
  '.yml',
  '.xml',
  '.ini',
  '.conf',
]);

interface Signature {
  bytes: number[];
  offset?: number;
  description: string;
}

/** Formats we recognise but do not index, so the user learns what the file is rather than "binary data". */
const unsupportedSignatures: Signature[] = [
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    description: 'a legacy or password-protected Office file',
  },
  { bytes: [0x89, 0x50, 0x4e, 0x47], description: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], description: 'a JPEG image' },
  { bytes: [0x47, 0x49, 0x46, 0x38], description: 'a GIF image' },
  { bytes: [0x52, 0x49, 0x46, 0x46], description: 'a RIFF media file' },
  { bytes: [0x1f, 0x8b], description: 'a gzip archive' },
  { bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], description: 'a 7-Zip archive' },
  { bytes: [0x52, 0x61, 0x72, 0x21], description: 'a RAR archive' },
  { bytes: [0x7f, 0x45, 0x4c, 0x46], description: 'an executable' },
  { bytes: [0x25, 0x21, 0x50, 0x53], description: 'a PostScript file' },
  { bytes: [0x66, 0x74, 0x79, 0x70], offset: 4, description: 'a video or HEIC image' },
];

function startsWith(bytes: Uint8Array, signature: number[], offset = 0): boolean {
  return signature.every((byte, index) => bytes[offset + index] === byte);
}

function isPdf(bytes: Uint8Array, extension: string): boolean {
  const head = Buffer.from(bytes.subarray(0, 1024)).toString('latin1');
  if (head.startsWith('%PDF-')) return true;
  // ISO 32000 tolerates junk before the header (readers look in the first 1,024 bytes), but a text file that
  // merely mentions "%PDF-" must stay text: only trust a late header when nothing says the file is text.
  const textual = markdownExtensions.has(extension) || htmlExtensions.has(extension) || textExtensions.has(extension);
  return !textual && head.includes('%PDF-');
}

function unsupported(fileName: string, description: string): never {
  throw rejectDocument(
    'unsupported_format',
    `${fileName} is ${description}`,
    `"${fileName}" is ${description}, which I cannot index. Share Markdown, text, HTML, PDF (with a text layer) or DOCX.`,
    { detected: description },
  );
}

/** The format to parse `bytes` as; throws `unsupported_input` or `invalid_input` with the reason. */
export function detectFormat(fileName: string, bytes: Uint8Array, mimeType?: string): DocumentFormat {
  const extension = extname(fileName).toLowerCase();
  if (isPdf(bytes, extension)) return 'pdf';
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) {
    if (extension === '' || extension === '.docx' || extension === '.docm') return 'docx';
    return unsupported(fileName, `a ZIP-based "${extension}" file`);
  }
  for (const signature of unsupportedSignatures) {
    if (startsWith(bytes, signature.bytes, signature.offset)) unsupported(fileName, signature.description);
  }
  if (extension === '.pdf' || extension === '.docx') {
    throw rejectDocument(
      'corrupt_file',
      `${fileName} has a ${extension} name but not its content`,
      `"${fileName}" is named like a ${extension.slice(1).toUpperCase()} file but is not one (it may be damaged or renamed).`,
    );
  }
  if (extension === '.doc' || extension === '.rtf' || extension === '.odt') {
    unsupported(fileName, `a ${extension} document`);
  }
  if (markdownExtensions.has(extension)) return 'markdown';
  if (htmlExtensions.has(extension)) return 'html';
  if (textExtensions.has(extension)) return 'text';
  const mime = mimeType?.split(';')[0]?.trim().toLowerCase();
  if (mime === 'text/markdown' || mime === 'text/x-markdown') return 'markdown';
  if (mime === 'text/html' || mime === 'application/xhtml+xml') return 'html';
  const head = Buffer.from(bytes.subarray(0, 512))
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (head.startsWith('<!doctype html') || head.startsWith('<html')) return 'html';
  return 'text';
}
