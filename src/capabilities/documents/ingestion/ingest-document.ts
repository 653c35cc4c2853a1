/**
 * THE ingestion pipeline: the CLI, files shared in Slack and the evaluation script all call `ingestDocument`
 * (or `ingestText` for text without a file). Parse → chunk → embed → one `replaceDocument` call: the index is
 * touched only after the whole document parsed, chunked and embedded, so a failure anywhere leaves the previous
 * version searchable and nothing half-indexed.
 *
 * Files are parsed in a bounded worker thread (`parse-in-worker.ts`: heap and wall-clock limits, at most 2 parses
 * per process) unless the caller passes another `parse`.
 *
 * This file keeps the entry points; the parts live beside it: `ingestion-types.ts` (inputs, results, progress,
 * dependencies), `check-access.ts` (who may see the document), `input-hash.ts` (the document hash and the
 * unchanged check), `document-id.ts` (document ids, `sha256`), `one-at-a-time.ts` (changes to one document in call
 * order), `ingest-parsed.ts` (chunk, embed, one `replaceDocument`), `embed-chunks.ts` (cache and embedder),
 * `embedding-input.ts` (the contextual header embedded with each chunk).
 */
import { createHash } from 'node:crypto';
import { basename, extname } from 'node:path';
import type { Logger } from '../../../observability/logger.ts';
import type { VectorIndex } from '../../../ports/vector-index.ts';
import { checkAccess } from './check-access.ts';
import { documentIdFor, sha256 } from './document-id.ts';
import { clip } from './embedding-input.ts';
import { ingestParsed } from './ingest-parsed.ts';
import type {
  IngestDocumentDependencies,
  IngestDocumentInput,
  IngestDocumentResult,
  IngestTextInput,
  RemoveDocumentResult,
} from './ingestion-types.ts';
import { inputHash, lookUp } from './input-hash.ts';
import { oneAtATime } from './one-at-a-time.ts';
import { parseInWorker } from './parse-in-worker.ts';
import { parseMarkdown } from './parsers/parse-markdown.ts';
import { parseText } from './parsers/parse-text.ts';
import { checkSize, defaultIngestionLimits, rejectionReason, tooMuchText } from './safety.ts';

// Still importable from here for `src/capabilities/answers/*` (docs-command and the files split from it), which
// another change is editing now; new code imports them from `ingestion-types.ts`.
export type { IngestDocumentInput, IngestDocumentResult, IngestionProgress } from './ingestion-types.ts';

/**
 * Parses, chunks, embeds and indexes one file. Guarantees:
 * - a refused file throws a `DeskhandError` with a specific `details.reason` (see `safety.ts`) and a log entry;
 * - re-ingesting an unchanged document (same bytes, title, scope, chunking and embedding model) returns
 *   `unchanged` after one hash and one index lookup: no parsing, no embedding, no write;
 * - a changed document replaces its chunks in one `replaceDocument` call, embedding only chunks whose vectors
 *   are not cached;
 * - any failure before that call leaves the index as it was.
 */
export async function ingestDocument(
  input: IngestDocumentInput,
  dependencies: IngestDocumentDependencies,
): Promise<IngestDocumentResult> {
  const limits = { ...defaultIngestionLimits, ...dependencies.limits };
  const describe = () => {
    checkSize(input.fileName, input.bytes.byteLength, limits);
    return {
      kind: 'file',
      extension: extname(input.fileName).toLowerCase(),
      mimeType: input.mimeType ?? '',
      title: input.title?.trim() ?? '',
      content: createHash('sha256').update(input.bytes).digest('hex'),
    };
  };
  return ingestUnlessUnchanged(input, dependencies, describe, async (known) => {
    dependencies.onProgress?.({ stage: 'parsing', done: 0, total: 1 });
    const parse = dependencies.parse ?? parseInWorker;
    const parsed = await parse(
      input.mimeType === undefined
        ? { fileName: input.fileName, bytes: input.bytes }
        : { fileName: input.fileName, bytes: input.bytes, mimeType: input.mimeType },
      limits,
    );
    dependencies.onProgress?.({ stage: 'parsing', done: 1, total: 1 });
    const fallbackTitle = basename(input.fileName, extname(input.fileName)) || input.fileName;
    const title = clip((input.title?.trim() || parsed.title || fallbackTitle).replace(/\s+/g, ' '), 500);
    return ingestParsed(parsed, { ...input, title }, known, dependencies, limits);
  });
}

/** `ingestDocument` for text that has no file (BEIR corpora, Slack messages): same chunking, caching, indexing. */
export async function ingestText(
  input: IngestTextInput,
  dependencies: IngestDocumentDependencies,
): Promise<IngestDocumentResult> {
  const limits = { ...defaultIngestionLimits, ...dependencies.limits };
  const describe = () => ({
    kind: 'text',
    format: input.format ?? 'text',
    title: input.title.trim(),
    content: sha256(input.text),
  });
  return ingestUnlessUnchanged(input, dependencies, describe, async (known) => {
    // Text is parsed in this thread: its length, which bounds its text, is checked before the parser runs.
    if (input.text.length > limits.maxTextCharacters) throw tooMuchText(input.source, input.text.length, limits);
    const parsed = input.format === 'markdown' ? parseMarkdown(input.text) : parseText(input.text);
    const title = clip((input.title.trim() || parsed.title || input.source).replace(/\s+/g, ' '), 500);
    return ingestParsed(parsed, { ...input, fileName: input.source, title }, known, dependencies, limits);
  });
}

/**
 * What both entry points share, in this order: one change per document at a time, the outcome logged, access
 * checked, the input described (`describe` may refuse it, e.g. too large) and hashed, and an unchanged document
 * returned before `ingest` parses anything.
 */
function ingestUnlessUnchanged(
  input: IngestDocumentInput | IngestTextInput,
  dependencies: IngestDocumentDependencies,
  describe: () => Record<string, string>,
  ingest: (known: { documentHash: string; exists: boolean }) => Promise<IngestDocumentResult>,
): Promise<IngestDocumentResult> {
  return oneAtATime(dependencies.index, input.workspaceId, input.source, () =>
    logOutcome(input.source, dependencies.logger, async () => {
      checkAccess(input);
      const documentHash = inputHash(dependencies, describe());
      const { exists, unchanged } = await lookUp(input, documentHash, dependencies.index);
      if (unchanged) return unchanged;
      return ingest({ documentHash, exists });
    }),
  );
}

/** Removes the document at `source` from the workspace's index. */
export async function removeDocument(
  input: { workspaceId: string; source: string },
  dependencies: { index: VectorIndex; logger?: Logger },
): Promise<RemoveDocumentResult> {
  checkAccess({ ...input, scope: 'workspace' });
  const documentId = documentIdFor(input.workspaceId, input.source);
  const removed = await oneAtATime(dependencies.index, input.workspaceId, input.source, () =>
    dependencies.index.deleteDocument(input.workspaceId, documentId),
  );
  dependencies.logger?.info(
    { workspaceId: input.workspaceId, documentId, source: input.source, removed },
    removed ? 'document removed' : 'document to remove was not indexed',
  );
  return { kind: removed ? 'removed' : 'not_found', documentId };
}

async function logOutcome(
  source: string,
  logger: Logger | undefined,
  run: () => Promise<IngestDocumentResult>,
): Promise<IngestDocumentResult> {
  try {
    const result = await run();
    logger?.info({ source, ...result }, `document ${result.kind}`);
    return result;
  } catch (error) {
    const reason = rejectionReason(error);
    if (reason) logger?.warn({ source, reason, err: error }, 'document rejected');
    else logger?.error({ source, err: error }, 'document ingestion failed');
    throw error;
  }
}
