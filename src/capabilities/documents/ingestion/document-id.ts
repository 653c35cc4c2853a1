/**
 * `documentIdFor`: how a document is identified, and the content hash the pipeline uses.
 *
 * Guarantees:
 * - A document's id is a UUIDv5 of (workspace, source): stable whatever its content or scope, so re-ingesting the
 *   same source replaces the same document.
 * - `sha256` is the hex digest of UTF-8 text; document, chunk and embedding-input hashes all use it.
 */
import { createHash } from 'node:crypto';
import { documentIdNamespace, uuidV5 } from './uuid-v5.ts';

/** The stable id of the document at `source` in a workspace (UUIDv5), whatever its content or scope. */
export function documentIdFor(workspaceId: string, source: string): string {
  return uuidV5(`${workspaceId}\n${source}`, documentIdNamespace);
}

/** Hex sha256 of UTF-8 text. */
export const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
