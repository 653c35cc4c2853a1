/**
 * Budgets checked before and while a document is parsed (issue 14, "Bounded work"), in the calling thread: DOCX
 * part sizes from the ZIP directory and its text counted while inflating, PDF page counts before any page and text
 * and time page by page, text formats by length, and a parser's stack overflow as a refusal with its reason.
 * The hostile inputs are the review's, generated at test time (test/support/hostile-inputs.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DocxTextCounter } from '../../src/capabilities/documents/ingestion/docx-text-counter.ts';
import { ingestText } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { parseDocument } from '../../src/capabilities/documents/ingestion/parsers/parse-document.ts';
import { defaultIngestionLimits, type IngestionLimits } from '../../src/capabilities/documents/ingestion/safety.ts';
import { MemoryVectorIndex } from '../fakes/memory-vector-index.ts';
import { docxEntries, textPdfObjects, writePdf, writeZip } from '../fixtures/documents/fixture-writers.ts';
import { bigDocx, sharedStreamPdf } from '../support/hostile-inputs.ts';
import { assertRejected } from './ingestion-test-support.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const parse = (fileName: string, bytes: Uint8Array, limits: Partial<IngestionLimits> = {}) =>
  parseDocument({ fileName, bytes }, { ...defaultIngestionLimits, ...limits });

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number; heapGrowthMb: number }> {
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const value = await run();
  return {
    value,
    ms: performance.now() - started,
    heapGrowthMb: (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024,
  };
}

/** Overwrites the middle of the entry's deflate data: inflating it fails, reading the directory does not. */
function corruptDeflateData(bytes: Buffer, entryName: string): Buffer {
  const copy = Buffer.from(bytes);
  const nameAt = copy.indexOf(Buffer.from(entryName, 'utf8'));
  const compressedSize = copy.readUInt32LE(nameAt - 30 + 18);
  const dataAt = nameAt + Buffer.byteLength(entryName);
  copy.fill(0xff, dataAt + Math.floor(compressedSize / 4), dataAt + Math.floor(compressedSize / 2));
  return copy;
}

describe('bounded parsing: DOCX', () => {
  test("the review's DOCX (~100 MB word/document.xml, 15.5 MB) is refused from its size in the ZIP directory", async () => {
    const docx = bigDocx();
    assert.ok(docx.bytes.length < defaultIngestionLimits.maxUploadBytes, 'under the upload limit, as in the review');
    const {
      value: error,
      ms,
      heapGrowthMb,
    } = await timed(() => assertRejected(parse('big.docx', docx.bytes), 'too_large', 'input_too_large'));
    assert.match(
      error.userMessage,
      /"big\.docx" is too large: its text part is 95\.4 MB uncompressed, the limit is 16\.0 MB/,
    );
    assert.deepEqual([error.details.actual, error.details.limit], [docx.documentXmlBytes, 16 * 1024 * 1024]);
    assert.ok(ms < 2_000, `refused in ${Math.round(ms)} ms`);
    assert.ok(heapGrowthMb < 64, `heap grew ${heapGrowthMb.toFixed(1)} MB`);
  });

  test('the part size is read from the directory: nothing is inflated (a damaged over-size part is still too_large)', async () => {
    const small = bigDocx({ documentXmlBytes: 2_000_000 });
    const damaged = corruptDeflateData(small.bytes, 'word/document.xml');
    await assertRejected(parse('damaged.docx', damaged), 'corrupt_file', 'invalid_input');
    const error = await assertRejected(
      parse('damaged.docx', damaged, { maxDocxPartBytes: 1_000_000 }),
      'too_large',
      'input_too_large',
    );
    assert.match(error.userMessage, /its text part is 1\.9 MB uncompressed, the limit is 1\.0 MB/);
  });

  test('text over the character budget is refused while document.xml is inflated, before mammoth runs', async () => {
    const docx = bigDocx({ documentXmlBytes: 1_000_000 });
    const limits = { maxTextCharacters: 300_000 };
    const error = await assertRejected(parse('long.docx', docx.bytes, limits), 'too_large', 'input_too_large');
    assert.match(error.userMessage, /more than 300,000 characters of text in its text part, the limit is 300,000/);
    // Under the budget the same document parses.
    const parsed = await parse('long.docx', docx.bytes, { maxTextCharacters: 2 * docx.textCharacters });
    assert.ok(parsed.blocks.length > 100);
  });

  test('the streaming text count matches the runs, whatever the chunk boundaries, entities and UTF-8', () => {
    const xml = encode(
      '<w:document><w:body><w:p><w:r><w:t>Caf\u00e9 &amp; cr\u00e8me</w:t></w:r><w:r><w:t xml:space="preserve"> 日本</w:t>' +
        '</w:r><w:r><w:t/></w:r><w:r><w:tab/><w:tbl>x</w:tbl></w:r></w:p></w:body></w:document>',
    );
    const expected = 'Café & crème 日本'.length;
    for (const size of [1, 2, 3, 7, xml.length]) {
      const counter = new DocxTextCounter();
      for (let offset = 0; offset < xml.length; offset += size) counter.feed(xml.subarray(offset, offset + size));
      assert.equal(counter.characters, expected, `chunks of ${size} bytes`);
    }
  });

  test('an ordinary DOCX still parses', async () => {
    const parsed = await parse('guide.docx', writeZip(docxEntries()));
    assert.equal(parsed.title, 'Onboarding Guide');
  });
});

describe('bounded parsing: PDF', () => {
  test("the review's PDF (2,000 pages sharing one content stream) is refused by its page count at once", async () => {
    const { value: error, ms } = await timed(() =>
      assertRejected(parse('shared.pdf', sharedStreamPdf(2_000)), 'too_large', 'input_too_large'),
    );
    assert.match(error.userMessage, /"shared\.pdf" is too large: it has 2,000 pages, the limit is 1,000/);
    assert.deepEqual([error.details.actual, error.details.limit], [2_000, 1_000]);
    assert.ok(ms < 3_000, `refused in ${Math.round(ms)} ms`);
  });

  test('under the page limit, text extraction stops at the character budget between pages', async () => {
    const error = await assertRejected(
      parse('shared.pdf', sharedStreamPdf(300, { operators: 200 }), { maxTextCharacters: 200_000 }),
      'too_large',
      'input_too_large',
    );
    assert.match(error.userMessage, /more than 200,000 characters of text by page \d+ of 300, the limit is 200,000/);
    const page = Number(/by page (\d+)/.exec(error.userMessage)?.[1]);
    assert.ok(page > 10 && page < 300, `stopped at page ${page}`);
  });

  test('and at the time budget between pages, naming the limit', async () => {
    const error = await assertRejected(
      parse('slow.pdf', sharedStreamPdf(400), { maxParseMilliseconds: 300 }),
      'too_slow',
      'deadline_exceeded',
    );
    assert.match(
      error.userMessage,
      /"slow\.pdf" takes too long to read: I stopped after [\d.]+ s at page \d+ of 400, the limit is 0\.3 s/,
    );
    assert.equal(error.details.limit, 300);
  });

  test('an ordinary PDF still parses, with its pages', async () => {
    const parsed = await parse('manual.pdf', writePdf(textPdfObjects('Manual', [['First page.'], ['Second page.']])));
    assert.deepEqual(
      parsed.blocks.map((block) => block.page),
      [1, 2],
    );
  });
});

describe('bounded parsing: text formats and parser limits', () => {
  test('Markdown and text over the character budget are refused by length before parsing', async () => {
    const text = `# Notes\n\n${'word '.repeat(30_000)}`;
    for (const name of ['notes.md', 'notes.txt']) {
      const error = await assertRejected(
        parse(name, encode(text), { maxTextCharacters: 100_000 }),
        'too_large',
        'input_too_large',
      );
      assert.match(error.userMessage, /has 150,009 characters of text, the limit is 100,000/);
    }
  });

  test('ingestText refuses text over the budget by its length, before parsing it', async () => {
    const index = new MemoryVectorIndex();
    const text = '> '.repeat(60_000);
    const error = await assertRejected(
      ingestText(
        { workspaceId: 'T1', scope: 'workspace', source: 'slack://note', title: 'Note', text, format: 'markdown' },
        { index, callScope: { workspaceId: 'T1', channelId: 'ingestion' }, limits: { maxTextCharacters: 100_000 } },
      ),
      'too_large',
      'input_too_large',
    );
    assert.match(
      error.userMessage,
      /"slack:\/\/note" is too large: it has 120,000 characters of text, the limit is 100,000/,
    );
    assert.ok(!index.calls.some((call) => call.method === 'replaceDocument'));
  });

  test('HTML over its markup budget is refused before parsing', async () => {
    const html = `<html><body>${'<p>x</p>'.repeat(20_000)}</body></html>`;
    const error = await assertRejected(
      parse('page.html', encode(html), { maxHtmlCharacters: 100_000 }),
      'too_large',
      'input_too_large',
    );
    assert.match(
      error.userMessage,
      /"page\.html" is too large: it is 160,026 characters of HTML, the limit is 100,000/,
    );
  });

  test('a parser that overflows its stack is a too_large refusal with the reason, not an internal error', async () => {
    const html = `<html><body>${'<div>'.repeat(20_000)}deep${'</div>'.repeat(20_000)}</body></html>`;
    const error = await assertRejected(parse('deep.html', encode(html)), 'too_large', 'input_too_large');
    assert.match(
      error.userMessage,
      /"deep\.html" is too large or too deeply nested for me to read \(Maximum call stack/,
    );
  });
});
