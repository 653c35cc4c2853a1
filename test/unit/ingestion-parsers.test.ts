import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { detectFormat } from '../../src/capabilities/documents/ingestion/parsers/detect-format.ts';
import type { DocumentBlock } from '../../src/capabilities/documents/ingestion/parsers/document-blocks.ts';
import { parseDocument } from '../../src/capabilities/documents/ingestion/parsers/parse-document.ts';
import { defaultIngestionLimits } from '../../src/capabilities/documents/ingestion/safety.ts';
import { localFixture } from './ingestion-test-support.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const parse = (fileName: string, bytes: Uint8Array, mimeType?: string) =>
  parseDocument(mimeType ? { fileName, bytes, mimeType } : { fileName, bytes }, defaultIngestionLimits);
const headings = (blocks: DocumentBlock[]) =>
  blocks.filter((block) => block.kind === 'heading').map((block) => `${block.depth}:${block.text}`);

describe('document parsers', () => {
  test('Markdown keeps headings (without {#id}), code with its language, GFM tables and the front-matter title', async () => {
    const markdown = [
      '---',
      'title: "Refund policy"',
      'sidebar_label: Refunds',
      '---',
      '',
      '# Refunds {#refunds}',
      '',
      'Customers get their money back within **5 days**.',
      '',
      '## Limits',
      '',
      '| Plan | Limit |',
      '| --- | ---: |',
      '| Free | 10 |',
      '| Pro | 100 |',
      '',
      '```ts',
      'const refund = await api.refund(orderId);',
      '```',
      '',
      '- first item',
      '- second item',
    ].join('\n');
    const document = await parse('refunds.md', encode(markdown));
    assert.equal(document.format, 'markdown');
    assert.equal(document.title, 'Refund policy');
    assert.deepEqual(headings(document.blocks), ['1:Refunds', '2:Limits']);
    const table = document.blocks.find((block) => block.kind === 'table');
    assert.deepEqual(table, {
      kind: 'table',
      header: '| Plan | Limit |',
      separator: '| --- | ---: |',
      rows: ['| Free | 10 |', '| Pro | 100 |'],
    });
    const code = document.blocks.find((block) => block.kind === 'code');
    assert.deepEqual(code, { kind: 'code', lang: 'ts', value: 'const refund = await api.refund(orderId);' });
    const list = document.blocks.at(-1);
    assert.equal(list?.kind, 'prose');
    assert.equal(list?.kind === 'prose' ? list.text : '', '- first item\n- second item');
    assert.equal(list?.kind === 'prose' ? list.parts?.length : 0, 2);
    assert.ok(!document.blocks.some((block) => 'text' in block && block.text.includes('sidebar_label')));
  });

  test('plain text splits into paragraphs at blank lines', async () => {
    const document = await parse('notes.txt', encode('First paragraph\nstill first.\n\n\nSecond paragraph.\n'));
    assert.equal(document.format, 'text');
    assert.deepEqual(document.blocks, [
      { kind: 'prose', text: 'First paragraph\nstill first.' },
      { kind: 'prose', text: 'Second paragraph.' },
    ]);
  });

  test('HTML goes through the Markdown structure path: title, headings, tables and fenced code', async () => {
    const html = `<!doctype html><html><head><title>Shipping FAQ</title><style>p{color:red}</style></head><body>
      <h1>Shipping</h1><p>We ship <em>worldwide</em>.</p><script>alert(1)</script>
      <h2>Carriers</h2><table><tr><th>Carrier</th><th>Days</th></tr><tr><td>DHL</td><td>2</td></tr></table>
      <pre><code class="language-bash">curl https://example.com/track</code></pre></body></html>`;
    const document = await parse('faq.html', encode(html));
    assert.equal(document.format, 'html');
    assert.equal(document.title, 'Shipping FAQ');
    assert.deepEqual(headings(document.blocks), ['1:Shipping', '2:Carriers']);
    const table = document.blocks.find((block) => block.kind === 'table');
    assert.equal(table?.kind === 'table' ? table.header : '', '| Carrier | Days |');
    assert.deepEqual(table?.kind === 'table' ? table.rows : [], ['| DHL | 2 |']);
    assert.deepEqual(
      document.blocks.find((block) => block.kind === 'code'),
      { kind: 'code', lang: 'bash', value: 'curl https://example.com/track' },
    );
    const text = JSON.stringify(document.blocks);
    assert.ok(!text.includes('alert(1)') && !text.includes('color:red'), 'scripts and styles are not text');
  });

  test('HTML keeps the main content and drops navigation, sidebars and footers', async () => {
    const html = `<html><head><title>Help center</title></head><body>
      <nav><a href="/">Home</a> <a href="/pricing">Pricing</a></nav>
      <main><h1>Reset your password</h1><p>Open Settings and choose Reset password.</p>
      <aside>Related: billing FAQ</aside></main>
      <footer>© Example Inc. All rights reserved.</footer></body></html>`;
    const document = await parse('help.html', encode(html));
    const text = document.blocks.map((block) => ('text' in block ? block.text : '')).join('\n');
    assert.deepEqual(headings(document.blocks), ['1:Reset your password']);
    assert.match(text, /Open Settings and choose Reset password\./);
    assert.doesNotMatch(text, /Pricing|Related: billing|All rights reserved/);
  });

  test('inline images as data URLs never reach the text, in Markdown or HTML; their alt text does', async () => {
    const base64 = 'iVBORw0KGgo'.repeat(500);
    const markdown = await parse(
      'diagram.md',
      encode(`# Flow\n\nSee ![the refund flow](data:image/png;base64,${base64}) above.`),
    );
    const html = await parse(
      'diagram.html',
      encode(`<h1>Flow</h1><p>See <img alt="the refund flow" src="data:image/png;base64,${base64}"> above.</p>`),
    );
    for (const document of [markdown, html]) {
      const text = JSON.stringify(document.blocks);
      assert.ok(!text.includes('iVBORw0KGgo'), text.slice(0, 200));
    }
    assert.match(JSON.stringify(markdown.blocks), /See \[image: the refund flow\] above\./);
  });

  test('PDF text layer is read page by page: larger type becomes headings, hyphenation is joined, pages kept', async () => {
    const document = await parse('handbook.pdf', localFixture('sample.pdf'));
    assert.equal(document.format, 'pdf');
    assert.equal(document.title, 'Deskhand Returns Handbook');
    assert.deepEqual(
      document.blocks.map((block) => [block.page, block.kind, 'text' in block ? block.text : '']),
      [
        [1, 'heading', 'Deskhand Returns Handbook'],
        [
          1,
          'prose',
          'Customers may return unopened items within 30 days of delivery.\nRefunds are issued to the original payment method within 5 business days.',
        ],
        [1, 'heading', 'Exchanges'],
        [1, 'prose', 'An exchange ships once the returned item is scanned at the warehouse, usually within two days.'],
        [2, 'heading', 'Damaged deliveries'],
        [
          2,
          'prose',
          'If a parcel arrives damaged, ask the customer for a photo of the box and the label.\nOpen a ticket in the triage channel and attach the photo.',
        ],
      ],
    );
    assert.deepEqual(
      document.blocks.filter((block) => block.kind === 'heading').map((block) => block.depth),
      [1, 2, 2],
    );
  });

  test('DOCX keeps Word headings and tables through mammoth and the HTML path', async () => {
    const document = await parse('onboarding.docx', localFixture('sample.docx'));
    assert.equal(document.format, 'docx');
    assert.equal(document.title, 'Onboarding Guide');
    assert.deepEqual(headings(document.blocks), ['1:Onboarding Guide', '2:Accounts', '2:Escalation levels']);
    const table = document.blocks.find((block) => block.kind === 'table');
    assert.equal(table?.kind === 'table' ? table.header : '', '| Level | Owner |');
    assert.deepEqual(table?.kind === 'table' ? table.rows : [], ['| L1 | Support agent |', '| L2 | Team lead |']);
  });

  test('format comes from magic bytes, not from the claimed mime type or a wrong extension', () => {
    const pdf = localFixture('sample.pdf');
    assert.equal(detectFormat('report', pdf, 'text/plain'), 'pdf');
    assert.equal(detectFormat('report.txt', pdf), 'pdf');
    assert.equal(detectFormat('onboarding', localFixture('sample.docx'), 'application/octet-stream'), 'docx');
    assert.equal(detectFormat('page', encode('<!DOCTYPE html><html><body>x</body></html>')), 'html');
    assert.equal(detectFormat('readme', encode('# Title'), 'text/markdown'), 'markdown');
    assert.equal(detectFormat('readme', encode('# Title')), 'text');
    assert.equal(detectFormat('pdf-tips.md', encode('# PDF tips\n\nEvery file starts with %PDF-1.7.')), 'markdown');
    const junkThenPdf = new Uint8Array([...encode('junk\n'), ...pdf]);
    assert.equal(detectFormat('scan.pdf', junkThenPdf), 'pdf');
  });
});
