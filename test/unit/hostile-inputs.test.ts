/**
 * The hostile-input generators (test/support/hostile-inputs.ts) make what they promise: a DOCX that a ZIP reader
 * and mammoth accept with the stated sizes, a PDF that pdf.js opens with the stated page count, and a ticket text
 * of the stated length that the old email pattern took quadratic time on. The isolation test and bench rely on
 * these; a generator that silently produced a broken file would make them measure a parse error, not a stall.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import mammoth from 'mammoth';
import { extractTextItems, getDocumentProxy } from 'unpdf';
import yauzl from 'yauzl';
import { bigDocx, redosTicketText, sharedStreamPdf } from '../support/hostile-inputs.ts';

interface ReadEntry {
  name: string;
  compressedSize: number;
  uncompressedSize: number;
  crc: number;
  data: Buffer;
}

/** Every entry of a ZIP, read and inflated by yauzl (which checks the sizes it reads against the headers). */
function readZip(bytes: Buffer): Promise<ReadEntry[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (error, zip) => {
      if (error) return reject(error);
      const entries: ReadEntry[] = [];
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          const parts: Buffer[] = [];
          stream.on('data', (part: Buffer) => parts.push(part));
          stream.on('error', reject);
          stream.on('end', () => {
            entries.push({
              name: entry.fileName,
              compressedSize: entry.compressedSize,
              uncompressedSize: entry.uncompressedSize,
              crc: entry.crc32,
              data: Buffer.concat(parts),
            });
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

describe('bigDocx', () => {
  test('is a ZIP whose document.xml has the asked size, a matching CRC and a ratio near 6.4', async () => {
    const docx = bigDocx({ documentXmlBytes: 4_000_000 });
    const entries = await readZip(docx.bytes);
    assert.deepEqual(
      entries.map((entry) => entry.name),
      ['[Content_Types].xml', '_rels/.rels', 'word/document.xml'],
    );
    const document = entries[2];
    assert.ok(document);
    assert.equal(document.data.length, docx.documentXmlBytes);
    assert.equal(document.uncompressedSize, docx.documentXmlBytes);
    assert.ok(Math.abs(docx.documentXmlBytes - 4_000_000) < 2_000, `${docx.documentXmlBytes} bytes`);
    assert.equal(crc32(document.data), document.crc);
    const ratio = docx.documentXmlBytes / docx.bytes.length;
    assert.ok(ratio > 5 && ratio < 8, `ratio ${ratio.toFixed(2)}`);
    const xml = document.data.toString('utf8');
    assert.match(xml, /^<\?xml[^>]*\?>\n<w:document [^>]*><w:body><w:p>/);
    assert.ok(xml.endsWith('</w:p></w:body></w:document>'));
    assert.equal((xml.match(/<w:p>/g) ?? []).length, docx.paragraphs);
  });

  test('mammoth reads all of its text', async () => {
    const docx = bigDocx({ documentXmlBytes: 300_000, seed: 3 });
    const { value } = await mammoth.extractRawText({ buffer: docx.bytes });
    // mammoth separates paragraphs by a blank line.
    assert.equal(value.replaceAll('\n\n', '').length, docx.textCharacters);
    assert.ok(docx.textCharacters > 200_000);
  });

  test("the default is the review's file: ~100 MB of XML in ~15.5 MB, under a 20 MiB upload", () => {
    const docx = bigDocx();
    assert.ok(Math.abs(docx.documentXmlBytes - 100_000_000) < 2_000);
    assert.ok(docx.bytes.length > 14_000_000 && docx.bytes.length < 17_000_000, `${docx.bytes.length} bytes`);
    assert.ok(docx.textCharacters > 5_000_000 * 10);
  });

  test('the same seed gives the same bytes, another seed other bytes', () => {
    const one = bigDocx({ documentXmlBytes: 100_000 });
    assert.ok(one.bytes.equals(bigDocx({ documentXmlBytes: 100_000 }).bytes));
    assert.ok(!one.bytes.equals(bigDocx({ documentXmlBytes: 100_000, seed: 2 }).bytes));
  });
});

describe('sharedStreamPdf', () => {
  test('pdf.js opens it with the asked page count and every page shows the one shared stream', async () => {
    const bytes = sharedStreamPdf(7, { operators: 50 });
    const pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
    assert.equal(pdf.numPages, 7);
    const { items } = await extractTextItems(pdf);
    assert.equal(items.length, 7);
    for (const page of items) {
      const texts = page.map((item) => item.str).filter((text) => text !== '');
      assert.equal(texts.length, 50);
      assert.equal(texts[49], 'Line 49 of one shared stream');
    }
  });

  test('its xref offsets point at the objects they name', () => {
    const text = sharedStreamPdf(30).toString('latin1');
    const start = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(text)?.[1]);
    assert.ok(text.startsWith('xref\n0 35\n', start));
    const rows = text
      .slice(start)
      .split('\n')
      .slice(3, 3 + 34);
    rows.forEach((row, index) => {
      const offset = Number(row.slice(0, 10));
      assert.ok(text.startsWith(`${index + 1} 0 obj\n`, offset), `object ${index + 1} at ${offset}`);
    });
  });

  test("2,000 pages stay small on disk (the review's file was 316 KB)", () => {
    const size = sharedStreamPdf(2_000).length;
    assert.ok(size > 150_000 && size < 400_000, `${size} bytes`);
  });
});

describe('redosTicketText', () => {
  test('has the asked length, no "@" and no "." after its prefix', () => {
    const text = redosTicketText();
    assert.equal(text.length, 39_000);
    assert.equal(redosTicketText(40_000).length, 40_000);
    assert.match(text.slice(100), /^\d+$/);
  });

  test('is quadratic for the old email pattern: 8× the digits take well over 8× the time', () => {
    const oldEmailPattern = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.\p{L}{2,}/gu;
    const time = (text: string) => {
      const started = performance.now();
      [...text.matchAll(oldEmailPattern)];
      return performance.now() - started;
    };
    time(redosTicketText(1_000)); // warm up
    const short = time(redosTicketText(2_000));
    const long = time(redosTicketText(16_000));
    // Linear would be ~8×, quadratic ~64×.
    assert.ok(long > short * 24, `2k: ${short.toFixed(1)} ms, 16k: ${long.toFixed(1)} ms`);
  });
});
