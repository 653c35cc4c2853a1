/**
 * `/docs` and files shared with a mention: list the documents a channel can see, add a shared file to the
 * channel's scope (or the workspace, for admins), forget a document (admins or its uploader). Everything goes
 * through the one ingestion pipeline (`ingestDocument`), so a file added from Slack is parsed, checked,
 * chunked and indexed exactly like one added from the CLI, and every refusal has its specific reason.
 *
 * Slack-side wiring stays small: the listener resolves which file `/docs add` means (the file shared in the
 * thread, or the newest one the user shared in the channel), injects `fetchFile` (a download with the bot
 * token, bounded by `maxBytes`) and posts the returned replies.
 *
 * This file is the command's dispatch; the parts live beside it: `parse-docs-command.ts` (the text),
 * `list-documents.ts`, `forget-document.ts`, `add-shared-file.ts` (also files shared with a mention),
 * `shared-files-of.ts` (reading files from Slack payloads), `uploader-store.ts` and `docs-dependencies.ts`.
 */

import type { IngestionProgress } from '../documents/ingestion/ingest-document.ts';
import { addSharedFile } from './add-shared-file.ts';
import type { DocsDependencies, DocsReply, DocsRequester } from './docs-dependencies.ts';
import { forgetDocument } from './forget-document.ts';
import { listDocuments } from './list-documents.ts';
import { docsUsage, parseDocsCommand } from './parse-docs-command.ts';
import type { SharedFile } from './shared-files-of.ts';

// Still importable from here for the composition root, which another change is moving (src/composition/).
export { UploaderStore } from './uploader-store.ts';

/**
 * The whole `/docs` command. `file` is the shared file `/docs add` refers to, resolved by the listener (absent
 * when there is none). Never throws for user input; index or Redis failures propagate as `DeskhandError`.
 */
export async function handleDocsCommand(
  request: DocsRequester & {
    text: string;
    file?: SharedFile;
    onProgress?: (text: string, progress: IngestionProgress) => void;
  },
  dependencies: DocsDependencies,
): Promise<DocsReply> {
  const command = parseDocsCommand(request.text);
  switch (command.action) {
    case 'list':
      return listDocuments(request, dependencies);
    case 'forget':
      return (await forgetDocument(request, command.target, dependencies)).reply;
    case 'add': {
      if (!request.file) {
        return {
          visibility: 'ephemeral',
          text: 'I found no file to add. Share the file in this channel first (or run `/docs add` in the thread where it was shared).',
        };
      }
      const { file, onProgress } = request;
      return (
        await addSharedFile(
          { ...request, file, scope: command.scope, ...(onProgress ? { onProgress } : {}) },
          dependencies,
        )
      ).reply;
    }
    case 'help':
      return { visibility: 'ephemeral', text: command.problem ? `${command.problem}\n\n${docsUsage}` : docsUsage };
  }
}
