/**
 * Writes the PDF and DOCX pages of the example handbook (`examples/handbook/`) with the byte-level writers the
 * test fixtures use, so no external tool is needed. Run once and commit the output:
 * `node scripts/demo/generate-examples.ts`. The Markdown pages are written by hand.
 *
 * The PDF has a real text layer (Helvetica, WinAnsi: keep its text ASCII); larger lines become headings when
 * ingested, and an empty line separates paragraphs. The DOCX uses Heading1/Heading2 styles and one table.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PdfLine, textPdfObjects, writePdf, writeZip } from '../../test/fixtures/documents/fixture-writers.ts';

const handbook = fileURLToPath(new URL('../../examples/handbook/', import.meta.url));

// ---------------------------------------------------------------- account-security.pdf

type Section = { heading: string; paragraphs: string[] };

const security: { title: string; intro: string; sections: Section[] } = {
  title: 'Account security',
  intro:
    'How Larkspur Outfitters support agents help customers with passwords, two-factor authentication and ' +
    'suspicious activity. Security requests are never handled on trust: verify first, then act.',
  sections: [
    {
      heading: 'What we never ask for',
      paragraphs: [
        'Never ask a customer for their password, a one-time code or a full card number, not even to "check" it. ' +
          'If a customer pastes one into a chat, delete the message and tell them to change it.',
      ],
    },
    {
      heading: 'Verifying identity',
      paragraphs: [
        'Before changing anything on an account, the customer must confirm two of: the email address on file, ' +
          'the number of their last order (LK-...), or the billing postcode. Write in the ticket which two were used.',
      ],
    },
    {
      heading: 'Locked accounts and password resets',
      paragraphs: [
        'After 5 failed sign-in attempts an account is locked for 15 minutes and unlocks by itself. Agents may ' +
          'unlock it sooner only after verifying identity.',
        'Password reset links are sent from the account page to the email on file and are valid for 30 minutes. ' +
          'If the link has expired, send a new one; never set a password for the customer.',
      ],
    },
    {
      heading: 'Lost two-factor device',
      paragraphs: [
        'A customer who lost the phone with their authenticator app can use one of their ten backup codes. ' +
          'Without a backup code, verify identity, then turn off two-factor authentication from the admin page ' +
          'and ask the customer to enrol again right after signing in. File an account_access ticket.',
      ],
    },
    {
      heading: 'Suspected account takeover',
      paragraphs: [
        'Signs: orders the customer did not place, a changed email address or delivery address, or sign-in ' +
          'alerts from another country. Treat it as critical: lock the account, cancel open orders that have not ' +
          'shipped, and escalate to Trust and Safety (L3) at once. Do not discuss order details until the ' +
          'customer is verified.',
      ],
    },
  ],
};

/** Wraps text into lines of at most `width` characters (12 pt Helvetica fits about 80 on a letter page). */
function wrap(text: string, width = 80): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** One page per few sections: a section never straddles two pages (about 34 lines of 18 pt fit on one). */
function securityPages(): PdfLine[][] {
  const pages: PdfLine[][] = [[{ text: security.title, size: 20 }, ...wrap(security.intro), '']];
  for (const section of security.sections) {
    const lines: PdfLine[] = [{ text: section.heading, size: 15 }];
    for (const paragraph of section.paragraphs) lines.push(...wrap(paragraph), '');
    const page = pages.at(-1) as PdfLine[];
    if (page.length + lines.length > 22) pages.push(lines);
    else page.push(...lines);
  }
  return pages;
}

// ---------------------------------------------------------------- escalation-policy.docx

const xmlText = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const xml = (text: string) => Buffer.from(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n${text}`, 'utf8');
const w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';

function paragraph(text: string, style?: string): string {
  const properties = style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : '';
  return `<w:p>${properties}<w:r><w:t xml:space="preserve">${xmlText(text)}</w:t></w:r></w:p>`;
}

function table(rows: string[][]): string {
  const cell = (text: string) => `<w:tc><w:tcPr><w:tcW w:w="3000" w:type="dxa"/></w:tcPr>${paragraph(text)}</w:tc>`;
  const body = rows.map((row) => `<w:tr>${row.map(cell).join('')}</w:tr>`).join('');
  return `<w:tbl><w:tblPr><w:tblW w:w="9000" w:type="dxa"/></w:tblPr>${body}</w:tbl>`;
}

function escalationDocument(): string {
  return [
    paragraph('Escalation policy', 'Heading1'),
    paragraph(
      'Who handles what at Larkspur Outfitters support, how fast, and when a conversation moves up a level. ' +
        'Every escalation is a ticket: file it with the right urgency and category, the order ids and a link ' +
        'to the Slack thread.',
    ),
    paragraph('Support levels', 'Heading2'),
    table([
      ['Level', 'Who', 'Handles'],
      ['L1', 'Support agents', 'Every new conversation'],
      ['L2', 'Team leads', 'Exceptions, refunds above $500, unhappy customers'],
      ['L3', 'Specialist teams', 'Payments, Trust and Safety, Warehouse'],
    ]),
    paragraph('Response targets by urgency', 'Heading2'),
    paragraph(
      'How fast we answer a new ticket depends on its urgency: critical tickets within 1 hour, day and night; ' +
        'high within 4 business hours; medium within 1 business day; low within 3 business days.',
    ),
    table([
      ['Urgency', 'First response', 'Examples'],
      ['critical', '1 hour, day and night', 'Account takeover, money lost, many customers blocked'],
      ['high', '4 business hours', 'One customer blocked, a deadline within 3 days'],
      ['medium', '1 business day', 'A problem without time pressure'],
      ['low', '3 business days', 'Questions and wishes'],
    ]),
    paragraph('When to escalate to a team lead (L2)', 'Heading2'),
    paragraph(
      'Escalate to L2 when a customer has waited longer than the response target, when a refund or replacement ' +
        'is worth more than $500, when this is the customer’s third contact about the same problem, or when the ' +
        'customer mentions a chargeback or legal action. Never promise compensation above $50 without a team ' +
        'lead’s approval.',
    ),
    paragraph('When to escalate to a specialist team (L3)', 'Heading2'),
    paragraph(
      'Payments: a double charge that a refund did not fix, or a refund that has not arrived 10 business days ' +
        'after it was issued. Trust and Safety: a suspected account takeover or fraud, at once and as critical. ' +
        'Warehouse: a parcel that a carrier trace could not find, or items damaged in the same way twice.',
    ),
    paragraph('Outside business hours', 'Heading2'),
    paragraph(
      'Critical tickets outside business hours page the on-call team lead through the #support-oncall channel. ' +
        'Everything else waits for the next business day; tell the customer when they will hear from us.',
    ),
  ].join('');
}

function escalationDocx(): Buffer {
  const part = (name: string, text: string) => ({ name, data: xml(text) });
  return writeZip([
    part(
      '[Content_Types].xml',
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>',
    ),
    part(
      '_rels/.rels',
      '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
    ),
    part(
      'word/_rels/document.xml.rels',
      '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>',
    ),
    part(
      'word/styles.xml',
      `<w:styles ${w}><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/></w:style><w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Normal"/></w:style></w:styles>`,
    ),
    part('word/document.xml', `<w:document ${w}><w:body>${escalationDocument()}</w:body></w:document>`),
  ]);
}

const files: Record<string, Buffer> = {
  'account-security.pdf': writePdf(textPdfObjects(security.title, securityPages())),
  'escalation-policy.docx': escalationDocx(),
};
for (const [name, bytes] of Object.entries(files)) {
  writeFileSync(join(handbook, name), bytes);
  console.log(`examples/handbook/${name}: ${bytes.length} bytes`);
}
