/**
 * Checks that run before and during parsing so hostile or broken files are refused with a specific reason
 * instead of exhausting memory or being half-indexed. Every refusal is a `DeskhandError` whose
 * `details.reason` is one of `RejectionReason` and whose `userMessage` says what to do about it.
 */
import { Buffer } from 'node:buffer';
import yauzl from 'yauzl';
import { DeskhandError, type OutcomeCode } from '../../../errors.ts';
import { DocxTextCounter } from './docx-text-counter.ts';

export type RejectionReason =
  | 'too_large'
  | 'zip_bomb'
  | 'binary_content'
  | 'encrypted_pdf'
  | 'image_only_pdf'
  | 'empty_document'
  | 'unsupported_format'
  | 'corrupt_file'
  | 'too_slow';

export interface IngestionLimits {
  /** Largest file accepted, in bytes (`MAX_UPLOAD_BYTES`). */
  maxUploadBytes: number;
  /** Largest total uncompressed size of a DOCX's ZIP entries. */
  maxUncompressedBytes: number;
  /** Largest uncompressed:compressed ratio of one ZIP entry (or of the whole archive) above 1 MiB. */
  maxCompressionRatio: number;
  /** Most entries a DOCX's ZIP may have. */
  maxZipEntries: number;
  /**
   * Largest uncompressed size of one XML part of a DOCX (`word/document.xml`, footnotes…), read from the ZIP
   * directory. Measured with Word-like markup (~6 bytes of XML per character of text): 8 MB parsed in 14 s on a
   * busy 2-core machine, 14 and 20 MB passed the 30 s limit there, 30 MB passed the 512 MB heap; 16 MB is ~2.5M
   * characters of such text (plainer XML with more text is stopped by the character count instead).
   */
  maxDocxPartBytes: number;
  /** Most pages read from a PDF (its page count is read before any text is extracted). */
  maxPdfPages: number;
  /**
   * Most characters of extracted text (bounds chunking and embedding work per document). Extraction stops as soon
   * as it is passed: PDF text page by page, DOCX text runs while the ZIP is inspected, text formats by length.
   */
  maxTextCharacters: number;
  /** Largest HTML file read, in characters: the markup around `maxTextCharacters` of text. */
  maxHtmlCharacters: number;
  /** Wall-clock limit of one parse; the PDF parser checks it between pages, the parse worker is killed past it. */
  maxParseMilliseconds: number;
  /** Heap (V8 old generation) of the worker thread one parse runs in; past it the parse is refused. */
  maxParseHeapMb: number;
}

export const defaultIngestionLimits: IngestionLimits = {
  maxUploadBytes: 20 * 1024 * 1024,
  maxUncompressedBytes: 100 * 1024 * 1024,
  maxCompressionRatio: 100,
  maxZipEntries: 2_000,
  maxDocxPartBytes: 16 * 1024 * 1024,
  maxPdfPages: 1_000,
  maxTextCharacters: 5_000_000,
  maxHtmlCharacters: 15_000_000,
  maxParseMilliseconds: 30_000,
  maxParseHeapMb: 512,
};

const reasonCodes: Record<RejectionReason, OutcomeCode> = {
  too_large: 'input_too_large',
  zip_bomb: 'input_too_large',
  binary_content: 'invalid_input',
  encrypted_pdf: 'unsupported_input',
  image_only_pdf: 'unsupported_input',
  empty_document: 'invalid_input',
  unsupported_format: 'unsupported_input',
  corrupt_file: 'invalid_input',
  too_slow: 'deadline_exceeded',
};

/** A refusal with its reason; `message` is for logs, `userMessage` is safe to show in Slack. */
export function rejectDocument(
  reason: RejectionReason,
  message: string,
  userMessage: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): DeskhandError {
  return new DeskhandError(reasonCodes[reason], message, {
    userMessage,
    details: { reason, ...details },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The reason of a refusal made by `rejectDocument`, if it is one. */
export function rejectionReason(error: unknown): RejectionReason | undefined {
  if (!(error instanceof DeskhandError)) return undefined;
  const reason = error.details.reason;
  return typeof reason === 'string' && reason in reasonCodes ? (reason as RejectionReason) : undefined;
}

const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function checkSize(fileName: string, size: number, limits: IngestionLimits): void {
  if (size > limits.maxUploadBytes) {
    throw rejectDocument(
      'too_large',
      `${fileName} is ${size} bytes, over the ${limits.maxUploadBytes}-byte limit`,
      `"${fileName}" is ${mebibytes(size)}, over the ${mebibytes(limits.maxUploadBytes)} limit. Split it or share a smaller file.`,
      { size, limit: limits.maxUploadBytes },
    );
  }
}

export function checkNotEmpty(fileName: string, text: string): void {
  if (text.trim().length === 0) {
    throw rejectDocument('empty_document', `${fileName} has no text`, `"${fileName}" contains no text to index.`);
  }
}

export function checkTextLength(fileName: string, text: string, limits: IngestionLimits): void {
  if (text.length > limits.maxTextCharacters) throw tooMuchText(fileName, text.length, limits);
}

/**
 * The refusal for text over `maxTextCharacters`. `where` says how far extraction got when it stopped counting
 * (e.g. "by page 12 of 900"): `actual` is then a lower bound, which is all a budget that stops early can know.
 */
export function tooMuchText(fileName: string, actual: number, limits: IngestionLimits, where = ''): DeskhandError {
  const limit = limits.maxTextCharacters;
  const counted = where
    ? `more than ${limit.toLocaleString('en')} characters of text ${where}`
    : `${actual.toLocaleString('en')} characters of text`;
  return rejectDocument(
    'too_large',
    `${fileName} has ${actual} characters of text${where ? ` ${where}` : ''}, over the ${limit} limit`,
    `"${fileName}" is too large: it has ${counted}, the limit is ${limit.toLocaleString('en')}. Split it into smaller documents.`,
    { characters: actual, actual, limit },
  );
}

/**
 * The refusal for a parse past `maxParseMilliseconds`: from a parser that checks its clock between steps (`where`
 * says how far it got), or from the worker killed at the wall-clock limit.
 */
export function tooSlow(fileName: string, elapsedMs: number, limits: IngestionLimits, where = ''): DeskhandError {
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  return rejectDocument(
    'too_slow',
    `${fileName}: parsing stopped after ${Math.round(elapsedMs)} ms${where ? ` ${where}` : ''}, over the ${limits.maxParseMilliseconds} ms limit`,
    `"${fileName}" takes too long to read: I stopped after ${seconds(elapsedMs)}${where ? ` ${where}` : ''}, the limit is ${seconds(limits.maxParseMilliseconds)}. Split it into smaller documents.`,
    { actual: Math.round(elapsedMs), limit: limits.maxParseMilliseconds },
  );
}

// Above these ratios a "text" file is not text: real text has no NUL bytes and almost no C0 control characters,
// while random bytes have about 0.4 % NULs and 11 % control characters.
const maxNulRatio = 0.001;
const maxControlRatio = 0.01;
const maxInvalidUtf8Ratio = 0.01;

function binaryContent(fileName: string, details: Record<string, unknown>): DeskhandError {
  return rejectDocument(
    'binary_content',
    `${fileName} looks like binary data, not text`,
    `"${fileName}" does not look like text (it contains binary data). Share it as Markdown, text, HTML, PDF or DOCX.`,
    details,
  );
}

/**
 * Decodes a text-format file: UTF-8 (BOM optional), UTF-16 with a BOM, or Windows-1252 when the bytes are not
 * UTF-8 but are clearly text. Refuses binary content by NUL-byte, control-character and invalid-UTF-8 ratios.
 */
export function decodeText(fileName: string, bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return checkDecoded(fileName, new TextDecoder('utf-16le').decode(bytes));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return checkDecoded(fileName, new TextDecoder('utf-16be').decode(bytes));
  let nulBytes = 0;
  for (const byte of bytes) if (byte === 0) nulBytes += 1;
  if (bytes.length > 0 && nulBytes / bytes.length > maxNulRatio) {
    throw binaryContent(fileName, { nulBytes, size: bytes.length });
  }
  // TextDecoder strips a UTF-8 BOM by default.
  const text = new TextDecoder('utf-8').decode(bytes);
  const replacements = countMatches(text, /\uFFFD/g) - countLiteralReplacementCharacters(bytes);
  if (text.length > 0 && replacements / text.length > maxInvalidUtf8Ratio) {
    return checkDecoded(fileName, decodeLegacy(bytes), { invalidUtf8Sequences: replacements });
  }
  return checkDecoded(fileName, text);
}

/** East Asian legacy encodings, in the order a tie is resolved (Shift_JIS and GB18030 can both read the same bytes). */
const eastAsianEncodings = ['shift_jis', 'euc-jp', 'gb18030', 'big5', 'euc-kr'];

/** Share of non-ASCII characters that are ordinary CJK text (half-width katakana and symbols count against). */
function eastAsianPlausibility(text: string): number {
  let nonAscii = 0;
  let plausible = 0;
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    if (code < 0x80) continue;
    nonAscii += 1;
    if (
      (code >= 0x3000 && code <= 0x30ff) || // CJK punctuation, hiragana, katakana
      (code >= 0x4e00 && code <= 0x9fff) || // CJK unified ideographs
      (code >= 0xac00 && code <= 0xd7af) || // Hangul syllables
      (code >= 0xff01 && code <= 0xff5e) // full-width ASCII forms
    ) {
      plausible += 1;
    }
  }
  return nonAscii === 0 ? 0 : plausible / nonAscii;
}

/**
 * Bytes that are not UTF-8: an East Asian legacy encoding when one decodes them without error into ordinary
 * CJK text (Japanese support teams still receive Shift_JIS exports), otherwise Windows-1252, which reads any
 * byte and is what Western legacy text is in practice.
 */
function decodeLegacy(bytes: Uint8Array): string {
  let best: { text: string; score: number } | undefined;
  for (const encoding of eastAsianEncodings) {
    let text: string;
    try {
      text = new TextDecoder(encoding, { fatal: true }).decode(bytes);
    } catch {
      continue;
    }
    const score = eastAsianPlausibility(text);
    if (score >= 0.9 && (!best || score > best.score)) best = { text, score };
  }
  return best?.text ?? new TextDecoder('windows-1252').decode(bytes);
}

function checkDecoded(fileName: string, text: string, details: Record<string, unknown> = {}): string {
  const controls = countControlCharacters(text);
  if (text.length > 0 && controls / text.length > maxControlRatio) {
    throw binaryContent(fileName, { ...details, controlCharacters: controls, characters: text.length });
  }
  return text;
}

/** C0 controls other than tab, line feed, vertical tab, form feed and carriage return, plus DEL. */
function countControlCharacters(text: string): number {
  let count = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code <= 0x08 || (code >= 0x0e && code <= 0x1f) || code === 0x7f) count += 1;
  }
  return count;
}

function countMatches(text: string, pattern: RegExp): number {
  let count = 0;
  for (const _ of text.matchAll(pattern)) count += 1;
  return count;
}

function countLiteralReplacementCharacters(bytes: Uint8Array): number {
  let count = 0;
  for (let index = 0; index + 2 < bytes.length; index += 1) {
    if (bytes[index] === 0xef && bytes[index + 1] === 0xbf && bytes[index + 2] === 0xbd) count += 1;
  }
  return count;
}

function zipBomb(fileName: string, message: string, details: Record<string, unknown>): DeskhandError {
  return rejectDocument(
    'zip_bomb',
    `${fileName}: ${message}`,
    `"${fileName}" expands to far more data than a document should (${message}), so I did not open it.`,
    details,
  );
}

/**
 * Inspects a ZIP container (DOCX) before any parser inflates it: entry count, declared total size and
 * compression ratios and the size of each XML part from the central directory, encrypted entries, then inflates
 * every entry once while counting bytes — yauzl's `validateEntrySizes` fails an entry that inflates past its
 * declared size, so a central directory that lies about sizes is caught too — and the characters of text in
 * `word/document.xml` (stopping at `maxTextCharacters`). Returns the entry names.
 */
export async function inspectZip(fileName: string, bytes: Uint8Array, limits: IngestionLimits): Promise<string[]> {
  const zip = await openZip(fileName, bytes);
  try {
    const entries = await checkZipDirectory(fileName, zip, limits);
    await inflateZipEntries(fileName, zip, entries, limits);
    return entries.map((entry) => entry.fileName);
  } finally {
    zip.close();
  }
}

/** The archive's central directory, or `corrupt_file` when it is not a readable ZIP. */
async function openZip(fileName: string, bytes: Uint8Array): Promise<yauzl.ZipFile> {
  try {
    return await yauzl.fromBufferPromise(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      lazyEntries: true,
      validateEntrySizes: true,
      autoClose: false,
    });
  } catch (error) {
    throw rejectDocument(
      'corrupt_file',
      `${fileName} is not a readable ZIP archive: ${(error as Error).message}`,
      `"${fileName}" is damaged: I could not read it as a Word document.`,
      {},
      error,
    );
  }
}

/**
 * What the central directory declares, checked before anything is inflated: the entry count, encrypted entries,
 * each entry's and the whole archive's compression ratio, the declared total size. Returns the entries.
 */
async function checkZipDirectory(
  fileName: string,
  zip: yauzl.ZipFile,
  limits: IngestionLimits,
): Promise<yauzl.Entry[]> {
  if (zip.entryCount > limits.maxZipEntries) {
    throw zipBomb(fileName, `${zip.entryCount} files inside, the limit is ${limits.maxZipEntries}`, {
      entries: zip.entryCount,
      limit: limits.maxZipEntries,
    });
  }
  const entries: yauzl.Entry[] = [];
  let declaredTotal = 0;
  let compressedTotal = 0;
  for await (const entry of zip.eachEntry()) {
    if (entry.isEncrypted()) {
      throw rejectDocument(
        'unsupported_format',
        `${fileName} has encrypted ZIP entries`,
        `"${fileName}" is password-protected. Remove the password and share it again.`,
      );
    }
    checkPartSize(fileName, entry, limits);
    declaredTotal += entry.uncompressedSize;
    compressedTotal += entry.compressedSize;
    const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
    if (entry.uncompressedSize > 1024 * 1024 && ratio > limits.maxCompressionRatio) {
      throw zipBomb(fileName, `"${entry.fileName}" is compressed ${Math.round(ratio)}:1`, {
        entry: entry.fileName,
        ratio,
        limit: limits.maxCompressionRatio,
      });
    }
    if (declaredTotal > limits.maxUncompressedBytes) {
      throw zipBomb(fileName, `${mebibytes(declaredTotal)} uncompressed`, {
        declaredTotal,
        limit: limits.maxUncompressedBytes,
      });
    }
    entries.push(entry);
  }
  const totalRatio = declaredTotal / Math.max(1, compressedTotal);
  if (declaredTotal > 1024 * 1024 && totalRatio > limits.maxCompressionRatio) {
    throw zipBomb(fileName, `compressed ${Math.round(totalRatio)}:1 overall`, {
      ratio: totalRatio,
      limit: limits.maxCompressionRatio,
    });
  }
  return entries;
}

/** The XML parts mammoth parses (`word/document.xml`, footnotes, comments…); media files are never parsed. */
const isParsedPart = (name: string) => name.startsWith('word/') && name.endsWith('.xml');

/**
 * A DOCX part that mammoth would parse is refused from its declared size, before anything is inflated: the XML
 * tree mammoth builds is many times the part's size (a 96 MB `word/document.xml` took 92 s, 3.5 GB and ended in
 * a stack overflow). A lying declared size is caught while inflating (`validateEntrySizes`).
 */
function checkPartSize(fileName: string, entry: yauzl.Entry, limits: IngestionLimits): void {
  if (!isParsedPart(entry.fileName) || entry.uncompressedSize <= limits.maxDocxPartBytes) return;
  const part = entry.fileName === 'word/document.xml' ? 'its text part' : `its part "${entry.fileName}"`;
  throw rejectDocument(
    'too_large',
    `${fileName}: ${entry.fileName} is ${entry.uncompressedSize} bytes uncompressed, over the ${limits.maxDocxPartBytes}-byte part limit`,
    `"${fileName}" is too large: ${part} is ${mebibytes(entry.uncompressedSize)} uncompressed, the limit is ${mebibytes(limits.maxDocxPartBytes)}. Split it into smaller documents.`,
    { entry: entry.fileName, actual: entry.uncompressedSize, limit: limits.maxDocxPartBytes },
  );
}

/**
 * Inflates every file entry once, counting bytes: an entry that inflates past its declared size (yauzl's
 * `validateEntrySizes`) or a total past the limit is a zip bomb; any other failure is `corrupt_file`.
 */
async function inflateZipEntries(
  fileName: string,
  zip: yauzl.ZipFile,
  entries: yauzl.Entry[],
  limits: IngestionLimits,
): Promise<void> {
  let inflatedTotal = 0;
  for (const entry of entries) {
    if (entry.fileName.endsWith('/')) continue;
    const text = entry.fileName === 'word/document.xml' ? new DocxTextCounter() : undefined;
    try {
      const stream = await zip.openReadStreamPromise(entry);
      for await (const chunk of stream) {
        inflatedTotal += (chunk as Buffer).length;
        text?.feed(chunk as Buffer);
        if (text && text.characters > limits.maxTextCharacters) {
          stream.destroy();
          throw tooMuchText(fileName, text.characters, limits, 'in its text part');
        }
      }
    } catch (error) {
      if (rejectionReason(error)) throw error;
      if (/too many bytes/.test((error as Error).message)) {
        throw zipBomb(fileName, `"${entry.fileName}" inflates past the size its header declares`, {
          entry: entry.fileName,
          declared: entry.uncompressedSize,
        });
      }
      throw rejectDocument(
        'corrupt_file',
        `${fileName}: entry "${entry.fileName}" does not match its declared size or is damaged: ${(error as Error).message}`,
        `"${fileName}" is damaged or altered (an embedded file does not match its description), so I did not open it.`,
        { entry: entry.fileName },
        error,
      );
    }
    if (inflatedTotal > limits.maxUncompressedBytes) {
      throw zipBomb(fileName, `${mebibytes(inflatedTotal)} uncompressed`, {
        inflatedTotal,
        limit: limits.maxUncompressedBytes,
      });
    }
  }
}
