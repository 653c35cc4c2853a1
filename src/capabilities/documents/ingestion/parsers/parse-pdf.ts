/**
 * PDF to blocks from its text layer, within budgets checked while it runs: the page count is read before any page,
 * then pages are read one at a time, stopping at `maxTextCharacters` and at `maxParseMilliseconds` (unpdf's
 * `extractTextItems` reads every page at once: a 318 KB PDF of 2,000 pages sharing one content stream took 74 s
 * and 1.4 GB).
 */
import { getDocumentProxy, getResolvedPDFJS } from 'unpdf';
import { type IngestionLimits, rejectDocument, tooMuchText, tooSlow } from '../safety.ts';
import { type DocumentBlock, type ParsedDocument, titleFromBlocks } from './document-blocks.ts';

type PdfDocument = Awaited<ReturnType<typeof getDocumentProxy>>;

/** Items of a page's text layer as `linesOf` needs them (what unpdf's `extractTextItems` computes). */
interface TextItem {
  str: string;
  fontSize: number;
  y: number;
}

interface Budget {
  fileName: string;
  limits: IngestionLimits;
  startedAt: number;
}

function checkClock(budget: Budget, pageNumber: number, pages: number): void {
  const elapsed = performance.now() - budget.startedAt;
  if (elapsed > budget.limits.maxParseMilliseconds) {
    throw tooSlow(budget.fileName, elapsed, budget.limits, `at page ${pageNumber} of ${pages}`);
  }
}

async function hasImages(pdf: PdfDocument, budget: Budget): Promise<boolean> {
  const { OPS } = await getResolvedPDFJS();
  const imageOperations = new Set<number>([
    OPS.paintImageXObject,
    OPS.paintInlineImageXObject,
    OPS.paintImageMaskXObject,
  ]);
  for (let pageNumber = 1; pageNumber <= pdf.numPages; pageNumber += 1) {
    checkClock(budget, pageNumber, pdf.numPages);
    const page = await pdf.getPage(pageNumber);
    const operations = await page.getOperatorList();
    page.cleanup();
    if (operations.fnArray.some((operation) => imageOperations.has(operation))) return true;
  }
  return false;
}

interface PdfLine {
  text: string;
  size: number;
  y: number;
}

/** Items on one baseline form a line (pdf.js splits lines into runs by font and spacing). */
function linesOf(items: TextItem[]): PdfLine[] {
  const lines: PdfLine[] = [];
  for (const item of items) {
    if (item.str === '') continue;
    const current = lines.at(-1);
    if (current && Math.abs(current.y - item.y) <= Math.max(2, item.fontSize * 0.3)) {
      current.text += item.str;
      current.size = Math.max(current.size, item.fontSize);
    } else {
      lines.push({ text: item.str, size: item.fontSize, y: item.y });
    }
  }
  return lines.filter((line) => line.text.trim() !== '');
}

const roundSize = (size: number) => Math.round(size * 2) / 2;

/** The font size most of the text is set in. */
function bodySize(pages: PdfLine[][]): number {
  const weight = new Map<number, number>();
  for (const line of pages.flat()) {
    const size = roundSize(line.size);
    weight.set(size, (weight.get(size) ?? 0) + line.text.length);
  }
  return [...weight].sort((left, right) => right[1] - left[1])[0]?.[0] ?? 0;
}

/** Joins words hyphenated across a line break ("ware-\nhouse") so search finds them. */
function joinHyphenation(text: string): string {
  return text.replace(/(\p{L})-\n(\p{Ll})/gu, '$1$2');
}

/**
 * Blocks from the text layer. PDFs carry no heading markup, so short lines set clearly larger than the body text
 * become headings (the largest size is level 1), which gives PDF chunks a section path; a vertical gap larger
 * than usual starts a new paragraph. Every block carries its page.
 */
function pdfBlocks(pages: PdfLine[][]): DocumentBlock[] {
  const body = bodySize(pages);
  const isHeading = (line: PdfLine) =>
    body > 0 && roundSize(line.size) >= body * 1.15 && line.text.trim().length <= 150 && /\p{L}/u.test(line.text);
  const headingSizes = [
    ...new Set(
      pages
        .flat()
        .filter(isHeading)
        .map((line) => roundSize(line.size)),
    ),
  ].sort((left, right) => right - left);
  const blocks: DocumentBlock[] = [];
  pages.forEach((lines, pageIndex) => {
    const page = pageIndex + 1;
    let paragraph: PdfLine[] = [];
    const emit = () => {
      const text = joinHyphenation(paragraph.map((line) => line.text.trimEnd()).join('\n')).trim();
      if (text) blocks.push({ kind: 'prose', text, page });
      paragraph = [];
    };
    for (const line of lines) {
      if (isHeading(line)) {
        emit();
        const depth = Math.min(6, headingSizes.indexOf(roundSize(line.size)) + 1);
        blocks.push({ kind: 'heading', depth, text: line.text.replace(/\s+/g, ' ').trim(), page });
        continue;
      }
      const previous = paragraph.at(-1);
      if (previous && previous.y - line.y > Math.max(previous.size, line.size) * 1.8) emit();
      paragraph.push(line);
    }
    emit();
  });
  return blocks;
}

/** One page's lines (pdf.js's text items: `transform` is [a b c d e f], the font size is the length of (c, d)). */
async function pageLines(pdf: PdfDocument, pageNumber: number): Promise<PdfLine[]> {
  const page = await pdf.getPage(pageNumber);
  const content = await page.getTextContent();
  page.cleanup();
  const items: TextItem[] = [];
  for (const item of content.items) {
    if (!('str' in item)) continue;
    const [, , c = 0, d = 0, , f = 0] = item.transform as number[];
    items.push({ str: item.str, fontSize: Math.hypot(c, d), y: f });
  }
  return linesOf(items);
}

/** Every page's lines, one page at a time, stopping at the character and time budgets. */
async function readPages(pdf: PdfDocument, budget: Budget): Promise<PdfLine[][]> {
  const pages: PdfLine[][] = [];
  let characters = 0;
  for (let pageNumber = 1; pageNumber <= pdf.numPages; pageNumber += 1) {
    checkClock(budget, pageNumber, pdf.numPages);
    const lines = await pageLines(pdf, pageNumber);
    for (const line of lines) characters += line.text.length;
    if (characters > budget.limits.maxTextCharacters) {
      throw tooMuchText(budget.fileName, characters, budget.limits, `by page ${pageNumber} of ${pdf.numPages}`);
    }
    pages.push(lines);
  }
  return pages;
}

/**
 * The PDF's text layer, page by page, so every chunk knows its page. A PDF that needs a password, or whose
 * pages are only images (a scan without OCR), is refused with that reason rather than indexed as empty.
 */
export async function parsePdf(fileName: string, bytes: Uint8Array, limits: IngestionLimits): Promise<ParsedDocument> {
  const budget: Budget = { fileName, limits, startedAt: performance.now() };
  let pdf: PdfDocument;
  try {
    // pdf.js may transfer (detach) the buffer it is given; keep the caller's bytes intact.
    pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
  } catch (error) {
    if ((error as Error | undefined)?.name === 'PasswordException') {
      throw rejectDocument(
        'encrypted_pdf',
        `${fileName} is an encrypted PDF that needs a password`,
        `"${fileName}" is password-protected. Remove the password (or export an unprotected copy) and share it again.`,
        {},
        error,
      );
    }
    throw rejectDocument(
      'corrupt_file',
      `${fileName} could not be read as a PDF: ${(error as Error).message}`,
      `"${fileName}" is damaged: I could not read it as a PDF.`,
      {},
      error,
    );
  }
  try {
    if (pdf.numPages > limits.maxPdfPages) {
      throw rejectDocument(
        'too_large',
        `${fileName} has ${pdf.numPages} pages, over the ${limits.maxPdfPages}-page limit`,
        `"${fileName}" is too large: it has ${pdf.numPages.toLocaleString('en')} pages, the limit is ${limits.maxPdfPages.toLocaleString('en')}. Split it into smaller documents.`,
        { pages: pdf.numPages, actual: pdf.numPages, limit: limits.maxPdfPages },
      );
    }
    const blocks = pdfBlocks(await readPages(pdf, budget));
    if (!blocks.some((block) => block.kind === 'prose')) {
      if (await hasImages(pdf, budget)) {
        throw rejectDocument(
          'image_only_pdf',
          `${fileName} has no text layer, only images`,
          `"${fileName}" is a scanned or image-only PDF with no text layer. Run it through OCR (or export the text) and share that.`,
          { pages: pdf.numPages },
        );
      }
      throw rejectDocument('empty_document', `${fileName} has no text`, `"${fileName}" contains no text to index.`);
    }
    const metadata = await pdf.getMetadata().catch(() => undefined);
    const info = metadata?.info as Record<string, unknown> | undefined;
    const title = (typeof info?.Title === 'string' ? info.Title.trim() : '') || titleFromBlocks(blocks);
    return title ? { format: 'pdf', title, blocks } : { format: 'pdf', blocks };
  } catch (error) {
    if ((error as { details?: { reason?: unknown } }).details?.reason !== undefined) throw error;
    throw rejectDocument(
      'corrupt_file',
      `${fileName} could not be read as a PDF: ${(error as Error).message}`,
      `"${fileName}" is damaged: I could not read its text.`,
      {},
      error,
    );
  } finally {
    await pdf.destroy();
  }
}
