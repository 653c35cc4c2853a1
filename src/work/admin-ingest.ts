/**
 * The admin ingestion request (`POST /admin/ingest`, src/slack/admin-ingest-route.ts): one file handed to the
 * running app by `npm run ingest -- … --app-url`, ingested on the work side with the same pipeline and the same
 * per-workspace cap as a file shared in Slack. Plain, structured-clone data: it crosses to a work thread.
 */
import type { DocumentScope } from '../ports/vector-index.ts';

export interface AdminIngestRequest {
  workspaceId: string;
  scope: DocumentScope;
  /** The document's identity (the CLI sends the file's absolute path, as it does when it writes itself). */
  source: string;
  fileName: string;
  bytes: Uint8Array;
  /** `true`: remove the document at `source` instead (`bytes` ignored). */
  remove?: boolean;
  requestId: string;
}

/**
 * What happened to it. Resolving means it is durable in the index (the embedded index fsyncs before it answers),
 * so a client told `indexed`/`replaced`/`removed` can rely on it surviving a crash of the app.
 */
export interface AdminIngestResult {
  kind: 'indexed' | 'unchanged' | 'replaced' | 'removed' | 'not_found';
  chunkCount: number;
  embeddedChunks: number;
  cachedChunks: number;
}
