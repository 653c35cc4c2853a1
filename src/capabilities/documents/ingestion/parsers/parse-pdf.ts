import { extractText, getDocumentProxy, getResolvedPDFJS } from 'unpdf';
import { type IngestionLimits, rejectDocument } from '../safety.ts';
import { blocksFromPlainText, type DocumentBlock, type ParsedDocument } from './document-blocks.ts';

type PdfDocument = Awaited<ReturnType<typeof getDocumentProxy>>;

async function hasImages(pdf: PdfDocument): Promise<boolean> {
  const { OPS } = await getResolvedPDFJS();
  const imageOperations = new Set<number>([
    OPS.paintImageXObject,
    OPS.paintInlineImageXObject,
    OPS.paintImageMaskXObject,
  ]);
  for (let pageNumber = 1; pageNumber <= pdf.numPages; pageNumber += 1) {
    const page = await pdf.getPage(pageNumber);
    const operations = await page.getOperatorList();
    if (operations.fnArray.some((operation) => imageOperations.has(operation))) return true;
  }
  return false;
}

/**
 * The PDF's text layer, page by page, so every chunk knows its page. A PDF that needs a password, or whose
 * pages are only images (a scan without OCR), is refused with that reason rather than indexed as empty.
 */
export async function parsePdf(fileName: string, bytes: Uint8Array, limits: IngestionLimits): Promise<ParsedDocument> {
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
        `"${fileName}" has ${pdf.numPages} pages; I index at most ${limits.maxPdfPages} pages per file. Split it.`,
        { pages: pdf.numPages, limit: limits.maxPdfPages },
      );
    }
    const { text: pages } = await extractText(pdf, { mergePages: false });
    const blocks: DocumentBlock[] = [];
    pages.forEach((pageText, index) => {
      blocks.push(...blocksFromPlainText(pageText, index + 1));
    });
    if (blocks.length === 0) {
      if (await hasImages(pdf)) {
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
    const title = typeof info?.Title === 'string' ? info.Title.trim() : '';
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
