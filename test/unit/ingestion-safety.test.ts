import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ingestDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { parseDocument } from '../../src/capabilities/documents/ingestion/parsers/parse-document.ts';
import {
  checkSize,
  decodeText,
  defaultIngestionLimits,
  type IngestionLimits,
} from '../../src/capabilities/documents/ingestion/safety.ts';
import { MemoryVectorIndex } from '../fakes/memory-vector-index.ts';
import { docxEntries, textPdfObjects, writePdf, writeZip } from '../fixtures/documents/fixture-writers.ts';
import { assertRejected, localFixture } from './ingestion-test-support.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const parse = (fileName: string, bytes: Uint8Array, limits: Partial<IngestionLimits> = {}) =>
  parseDocument({ fileName, bytes }, { ...defaultIngestionLimits, ...limits });

describe('ingestion safety checks', () => {
  test('refuses a file over MAX_UPLOAD_BYTES before reading it, saying the size and the limit', () => {
    let thrown: unknown;
    try {
      checkSize('manual.pdf', 25 * 1024 * 1024, { ...defaultIngestionLimits, maxUploadBytes: 20 * 1024 * 1024 });
    } catch (error) {
      thrown = error;
    }
    return assertRejected(Promise.reject(thrown), 'too_large', 'input_too_large').then((error) => {
      assert.match(error.userMessage, /"manual\.pdf" is 25\.0 MB, over the 20\.0 MB limit/);
    });
  });

  test('refuses a DOCX whose entry inflates 1,000-fold (zip bomb) before mammoth opens it', async () => {
    const error = await assertRejected(
      parse('report.docx', localFixture('zip-bomb.docx')),
      'zip_bomb',
      'input_too_large',
    );
    assert.match(error.userMessage, /"report\.docx" expands to far more data/);
    assert.equal(error.details.entry, 'word/media/padding.bin');
  });

  test('refuses a DOCX whose central directory understates an entry size (lying zip bomb)', async () => {
    // Declares 1 KiB for 512 KiB of data: ratio and total checks pass, the inflating check must catch it.
    const bytes = writeZip(
      docxEntries([{ name: 'word/media/lie.bin', data: new Uint8Array(512 * 1024), declaredSize: 1024 }]),
    );
    await assertRejected(parse('lie.docx', bytes), 'zip_bomb', 'input_too_large');
  });

  test('refuses a DOCX with more ZIP entries than allowed and one over the total uncompressed size', async () => {
    const many = writeZip(
      docxEntries(Array.from({ length: 30 }, (_, index) => ({ name: `word/media/${index}.bin`, data: encode('x') }))),
    );
    await assertRejected(parse('many.docx', many, { maxZipEntries: 20 }), 'zip_bomb', 'input_too_large');
    const large = writeZip(docxEntries([{ name: 'word/media/big.bin', data: randomBytes(64 * 1024) }]));
    await assertRejected(
      parse('large.docx', large, { maxUncompressedBytes: 32 * 1024 }),
      'zip_bomb',
      'input_too_large',
    );
  });

  test('refuses binary garbage named as text, and NUL-laden Markdown', async () => {
    const garbage = randomBytes(4096);
    const error = await assertRejected(parse('notes.txt', garbage), 'binary_content', 'invalid_input');
    assert.match(error.userMessage, /"notes\.txt" does not look like text/);
    const nuls = encode(`# Title\n\n${'text\u0000'.repeat(200)}`);
    await assertRejected(parse('notes.md', nuls), 'binary_content', 'invalid_input');
  });

  test('accepts legacy Windows-1252, Shift_JIS and GBK text and UTF-16 with a BOM instead of calling them binary', () => {
    const latin = Uint8Array.from([
      ...encode('Caf'),
      0xe9,
      ...encode(' cr'),
      0xe8,
      ...encode('me br'),
      0xfb,
      0x6c,
      0xe9,
      0x65,
    ]);
    assert.equal(decodeText('menu.txt', latin), 'Café crème brûlée');
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Grüße aus Köln', 'utf16le')]);
    assert.equal(decodeText('gruss.txt', utf16), 'Grüße aus Köln');
    // Japanese in Shift_JIS and Chinese in GBK, as older tools export them (bytes made with iconv-lite).
    const shiftJis = Buffer.from(
      '95d4956982cd333093fa88c893e082c98ef382af957482af82dc82b78142919797bf82cd82a88b71976c82cc82b29589925382c682c882e882dc82b78142',
      'hex',
    );
    assert.equal(decodeText('henpin.txt', shiftJis), '返品は30日以内に受け付けます。送料はお客様のご負担となります。');
    const gbk = Buffer.from(
      'cdcbbbf5d5feb2dfa3ba3330ccecc4dabfc9d2d4cdcbbbf5a3acd4cbb7d1d3c9b9cbbfcdb3d0b5a3a1a3',
      'hex',
    );
    assert.equal(decodeText('tuihuo.txt', gbk), '退货政策：30天内可以退货，运费由顾客承担。');
  });

  test('refuses an encrypted PDF that needs a password', async () => {
    const error = await assertRejected(
      parse('pricing.pdf', localFixture('encrypted.pdf')),
      'encrypted_pdf',
      'unsupported_input',
    );
    assert.match(error.userMessage, /password-protected/);
  });

  test('refuses an image-only (scanned) PDF with no text layer, and tells the user to OCR it', async () => {
    const error = await assertRejected(
      parse('scan.pdf', localFixture('image-only.pdf')),
      'image_only_pdf',
      'unsupported_input',
    );
    assert.match(error.userMessage, /OCR/);
  });

  test('refuses empty documents of every kind through the pipeline, without touching the index', async () => {
    const index = new MemoryVectorIndex();
    const ingest = (fileName: string, bytes: Uint8Array) =>
      ingestDocument(
        { workspaceId: 'T1', scope: 'workspace', source: `/docs/${fileName}`, fileName, bytes },
        { index, callScope: { workspaceId: 'T1', channelId: 'C1' } },
      );
    for (const [fileName, bytes] of [
      ['empty.txt', new Uint8Array()],
      ['blank.md', encode('  \n\n\t\n')],
      ['script-only.html', encode('<html><head><script>var x = 1;</script></head><body> </body></html>')],
      ['blank.pdf', writePdf(textPdfObjects('Blank', [[]]))],
    ] as const) {
      const error = await assertRejected(ingest(fileName, bytes), 'empty_document', 'invalid_input');
      assert.match(error.userMessage, new RegExp(`"${fileName.replace('.', '\\.')}" contains no text`));
    }
    assert.deepEqual(index.writes(), []);
  });

  test('refuses recognised non-document formats and misnamed files with what they are', async () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...randomBytes(64)]);
    const error = await assertRejected(parse('diagram.md', png), 'unsupported_format', 'unsupported_input');
    assert.match(error.userMessage, /a PNG image/);
    const spreadsheet = writeZip([{ name: 'xl/workbook.xml', data: encode('<workbook/>') }]);
    await assertRejected(parse('numbers.xlsx', spreadsheet), 'unsupported_format', 'unsupported_input');
    const plainZip = writeZip([{ name: 'notes.txt', data: encode('hello') }]);
    await assertRejected(parse('bundle.docx', plainZip), 'unsupported_format', 'unsupported_input');
    await assertRejected(parse('contract.pdf', encode('not really a pdf')), 'corrupt_file', 'invalid_input');
    await assertRejected(
      parse('broken.pdf', encode('%PDF-1.7\nthis is not a pdf body')),
      'corrupt_file',
      'invalid_input',
    );
  });
});
