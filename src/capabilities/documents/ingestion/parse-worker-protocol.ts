/**
 * The messages between `parse-in-worker.ts` and `parse-worker-entry.ts`: structured-clone data only.
 *
 * Guarantees: types and the error rebuild only, no behaviour of their own.
 */
import { DeskhandError, type OutcomeCode } from '../../../errors.ts';
import type { ParsedDocument } from './parsers/document-blocks.ts';
import type { DocumentFile } from './parsers/parse-document.ts';
import type { IngestionLimits } from './safety.ts';

export interface ParseRequest {
  id: number;
  file: DocumentFile;
  limits: IngestionLimits;
}

export interface SerializedError {
  code: OutcomeCode;
  message: string;
  userMessage?: string;
  details?: Record<string, unknown>;
}

export type ParseReply =
  | { id: number; ok: true; parsed: ParsedDocument }
  | { id: number; ok: false; error: SerializedError };

/** The worker's refusal as the `DeskhandError` the caller would have got from `parseDocument` in its own thread. */
export function deserializeError(error: SerializedError): DeskhandError {
  return new DeskhandError(error.code, error.message, {
    ...(error.userMessage === undefined ? {} : { userMessage: error.userMessage }),
    details: error.details ?? {},
  });
}
