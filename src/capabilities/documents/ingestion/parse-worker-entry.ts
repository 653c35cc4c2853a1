/**
 * The worker thread one document is parsed in (started by `parse-in-worker.ts` with memory and stack limits, killed
 * at the wall-clock limit). It parses whatever it is sent with `parseDocument` — the same budgets as in the calling
 * thread — and answers with the blocks or the refusal; only structured-clone data crosses: the `ParsedDocument`,
 * or an error's code, messages and details (a class does not survive `postMessage`).
 */
import { parentPort } from 'node:worker_threads';
import { DeskhandError } from '../../../errors.ts';
import type { ParseReply, ParseRequest, SerializedError } from './parse-worker-protocol.ts';
import { parseDocument } from './parsers/parse-document.ts';
import { rejectDocument } from './safety.ts';

/** A parser failure that is not a refusal still says why: the file could not be read, with the parser's words. */
function serialize(fileName: string, thrown: unknown): SerializedError {
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  const error =
    thrown instanceof DeskhandError
      ? thrown
      : rejectDocument(
          'corrupt_file',
          `${fileName} could not be parsed: ${message}`,
          `"${fileName}" is damaged or in a form I cannot read (${message.slice(0, 200)}).`,
        );
  let details: Record<string, unknown>;
  try {
    details = structuredClone(error.details);
  } catch {
    details = { reason: error.details.reason };
  }
  return { code: error.code, message: error.message, userMessage: error.userMessage, details };
}

parentPort?.on('message', async (request: ParseRequest) => {
  let reply: ParseReply;
  try {
    reply = { id: request.id, ok: true, parsed: await parseDocument(request.file, request.limits) };
  } catch (error) {
    reply = { id: request.id, ok: false, error: serialize(request.file.fileName, error) };
  }
  parentPort?.postMessage(reply);
});
