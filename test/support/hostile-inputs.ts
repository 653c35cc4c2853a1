/**
 * Hostile inputs for the isolation tests and bench (issue 14), built at run time so nothing large is stored in the
 * repository: a DOCX whose `word/document.xml` is ~100 MB (the review's 15.5 MB file that stalled every channel
 * for minutes), a PDF whose pages all share one heavy content stream (316 KB, 2,000 pages, 70 s of CPU in
 * pdf.js), and a `/ticket` text that was quadratic for the old email pattern (40k digits took 12 s).
 *
 * Each is deterministic (seeded PRNG) and parameterisable so unit tests can use small ones. The DOCX is written
 * by a small ZIP writer (local headers, central directory, end record; CRC-32 by `zlib.crc32`), deflating the
 * document in 1 MiB pieces that are each sync-flushed and concatenated into one raw deflate stream, so the
 * generator never holds the uncompressed document at once.
 */
import { Buffer } from 'node:buffer';
import { constants, crc32, deflateRawSync } from 'node:zlib';

/** mulberry32: a tiny seeded PRNG, good enough to make text deflate does not collapse. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// ZIP writer

interface ZipEntry {
  name: string;
  /** The raw deflate stream of the entry's data. */
  compressed: Buffer[];
  compressedSize: number;
  uncompressedSize: number;
  crc: number;
}

/** Deflates `pieces` (produced lazily) into one raw deflate stream, tracking CRC-32 and sizes. */
function deflateEntry(name: string, pieces: Iterable<Buffer>): ZipEntry {
  const compressed: Buffer[] = [];
  let crc = 0;
  let uncompressedSize = 0;
  let compressedSize = 0;
  for (const piece of pieces) {
    crc = crc32(piece, crc);
    uncompressedSize += piece.length;
    // A sync flush ends the piece on a byte boundary without a final block, so pieces concatenate.
    const out = deflateRawSync(piece, { finishFlush: constants.Z_SYNC_FLUSH });
    compressed.push(out);
    compressedSize += out.length;
  }
  const last = deflateRawSync(Buffer.alloc(0)); // one empty final block
  compressed.push(last);
  compressedSize += last.length;
  return { name, compressed, compressedSize, uncompressedSize, crc };
}

/** A ZIP archive (method 8, no ZIP64: every size must stay under 4 GiB). */
function writeZip(entries: ZipEntry[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date 1980-01-01
    local.writeUInt32LE(entry.crc >>> 0, 14);
    local.writeUInt32LE(entry.compressedSize, 18);
    local.writeUInt32LE(entry.uncompressedSize, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    parts.push(local, name, ...entry.compressed);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4); // version made by
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt16LE(8, 10);
    header.writeUInt16LE(0, 12);
    header.writeUInt16LE(0x21, 14);
    header.writeUInt32LE(entry.crc >>> 0, 16);
    header.writeUInt32LE(entry.compressedSize, 20);
    header.writeUInt32LE(entry.uncompressedSize, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt32LE(offset, 42); // local header offset (other fields zero)
    central.push(header, name);
    offset += local.length + name.length + entry.compressedSize;
  }
  const centralSize = central.reduce((sum, part) => sum + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, end]);
}

// ---------------------------------------------------------------------------------------------------------------
// DOCX

export interface BigDocxOptions {
  /** Size of `word/document.xml` in bytes (default 100,000,000: under today's 100 MiB uncompressed limit). */
  documentXmlBytes?: number;
  /** PRNG seed (default 14). */
  seed?: number;
  /** Distinct pseudo-words the text draws from; fewer compress better (default 50 → ratio ~6.4). */
  vocabularySize?: number;
}

export interface BigDocx {
  bytes: Buffer;
  /** Bytes of `word/document.xml` once inflated. */
  documentXmlBytes: number;
  /** Characters of text in the document's runs (what an extractor would read). */
  textCharacters: number;
  /** Number of `<w:p>` paragraphs. */
  paragraphs: number;
}

const contentTypesXml =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
  '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
  '<Default Extension="xml" ContentType="application/xml"/>' +
  '<Override PartName="/word/document.xml" ' +
  'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>' +
  '</Types>';

const rootRelsXml =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
  '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Id="rId1" ' +
  'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" ' +
  'Target="word/document.xml"/></Relationships>';

const documentHead =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
  '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>';
const documentTail = '</w:body></w:document>';
const paragraphOpen = '<w:p><w:r><w:t xml:space="preserve">';
const paragraphClose = '</w:t></w:r></w:p>';

/** A vocabulary of pronounceable pseudo-words; its size sets how well deflate compresses the text. */
function vocabulary(random: () => number, size: number): string[] {
  const consonants = 'bcdfghjklmnprstvwz';
  const vowels = 'aeiou';
  const words: string[] = [];
  for (let i = 0; i < size; i++) {
    let word = '';
    const syllables = 1 + Math.floor(random() * 4);
    for (let s = 0; s < syllables; s++) {
      word += consonants[Math.floor(random() * consonants.length)];
      word += vowels[Math.floor(random() * vowels.length)];
      if (random() < 0.4) word += consonants[Math.floor(random() * consonants.length)];
    }
    words.push(word);
  }
  return words;
}

/**
 * A valid DOCX whose `word/document.xml` has `documentXmlBytes` bytes (±1 paragraph) of paragraphs of seeded
 * pseudo-random words; the whole file compresses about 6.4:1 (100 MB → ~15.5 MB), under a 100:1 zip-bomb limit.
 */
export function bigDocx(options: BigDocxOptions = {}): BigDocx {
  const target = options.documentXmlBytes ?? 100_000_000;
  const random = seededRandom(options.seed ?? 14);
  const words = vocabulary(random, options.vocabularySize ?? 50);
  let textCharacters = 0;
  let paragraphs = 0;
  let documentXmlBytes = 0;
  function* pieces(): Generator<Buffer> {
    const budget = target - documentHead.length - documentTail.length;
    let pending = documentHead;
    let written = 0;
    while (written < budget) {
      let text = '';
      const wordCount = 20 + Math.floor(random() * 60);
      for (let w = 0; w < wordCount; w++) {
        text += (w === 0 ? '' : ' ') + words[Math.floor(random() ** 2 * words.length)];
      }
      text += '.';
      const paragraph = paragraphOpen + text + paragraphClose;
      pending += paragraph;
      written += paragraph.length;
      textCharacters += text.length;
      paragraphs += 1;
      if (pending.length >= 1 << 20) {
        documentXmlBytes += pending.length;
        yield Buffer.from(pending, 'latin1');
        pending = '';
      }
    }
    pending += documentTail;
    documentXmlBytes += pending.length;
    yield Buffer.from(pending, 'latin1');
  }
  const entries = [
    deflateEntry('[Content_Types].xml', [Buffer.from(contentTypesXml, 'utf8')]),
    deflateEntry('_rels/.rels', [Buffer.from(rootRelsXml, 'utf8')]),
    deflateEntry('word/document.xml', pieces()),
  ];
  return { bytes: writeZip(entries), documentXmlBytes, textCharacters, paragraphs };
}

// ---------------------------------------------------------------------------------------------------------------
// PDF

export interface SharedStreamPdfOptions {
  /** Text-show operators in the one shared content stream (default 1,000: 2,000 pages ≈ 230 KB, ~40 s per pdf.js pass). */
  operators?: number;
}

/**
 * A valid PDF (correct xref offsets) of `pages` pages that all reference ONE heavy content stream: small on disk,
 * expensive to extract, because pdf.js interprets the stream once per page. 2,000 pages is the review's repro (316 KB, 70 s of CPU).
 */
export function sharedStreamPdf(pages: number, options: SharedStreamPdfOptions = {}): Buffer {
  const operators = options.operators ?? 1_000;
  const lines = ['BT', '/F1 9 Tf', '11 TL', '36 780 Td'];
  for (let i = 0; i < operators; i++) {
    lines.push(`(Line ${i} of one shared stream) Tj T*`);
    if (i % 64 === 63) lines.push('ET BT /F1 9 Tf 11 TL 36 780 Td');
  }
  lines.push('ET');
  const stream = `${lines.join('\n')}\n`;
  // Objects: 1 catalog, 2 pages tree, 3 content stream, 4 font, 5.. pages.
  const firstPage = 5;
  const kids: string[] = [];
  for (let p = 0; p < pages; p++) kids.push(`${firstPage + p} 0 R`);
  const objects: string[] = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Count ${pages} /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Kids [${kids.join(' ')}] >>`,
    `<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}endstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];
  for (let p = 0; p < pages; p++) {
    objects.push(
      '<< /Type /Page /Parent 2 0 R /Contents 3 0 R >>', // media box and resources inherited
    );
  }
  let body = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xrefOffset = Buffer.byteLength(body, 'latin1');
  let xref = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) xref += `${String(offset).padStart(10, '0')} 00000 n \n`;
  const trailer = `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xrefOffset}\n%%EOF\n`;
  return Buffer.from(body + xref + trailer, 'latin1');
}

// ---------------------------------------------------------------------------------------------------------------
// ReDoS ticket text

/**
 * A `/ticket` text of `length` characters (default 39,000): a short request followed by a run of digits with no
 * '@' or '.', which the old email pattern `[\p{L}\p{N}._%+-]+@…` retried from every start (quadratic: 40k digits
 * took 12 s in findEmails). It stays plausible as a ticket so the rules path reads all of it.
 */
export function redosTicketText(length = 39_000): string {
  const prefix = 'Refund request for order, the tracking number the courier gave me is ';
  if (length <= prefix.length) return '7'.repeat(length);
  const random = seededRandom(39);
  let digits = '';
  while (prefix.length + digits.length < length) digits += String(Math.floor(random() * 10));
  return prefix + digits;
}
