/**
 * What every `/docs` action takes and returns: the requester (whose `isAdmin` comes from configuration, never
 * from the request), the dependencies (one ingestion pipeline, a bounded download) and the reply to post.
 */
import type { Logger } from '../../observability/logger.ts';
import type { Block } from '../../ports/messenger.ts';
import type { AccessScope, VectorIndex } from '../../ports/vector-index.ts';
import type {
  IngestDocumentInput,
  IngestDocumentResult,
  IngestionProgress,
} from '../documents/ingestion/ingest-document.ts';
import type { UploaderStore } from './uploader-store.ts';

/** Who asks and where. `isAdmin` comes from configuration (ADMIN_USER_IDS), never from the request. */
export interface DocsRequester {
  access: AccessScope;
  userId: string;
  isAdmin: boolean;
}

export interface DocsDependencies {
  index: Pick<VectorIndex, 'listDocuments' | 'deleteDocument'>;
  uploaders: UploaderStore;
  /** The ingestion pipeline with its dependencies bound (index, embedder, cache, call scope, progress). */
  ingest: (
    input: IngestDocumentInput,
    onProgress: (progress: IngestionProgress) => void,
  ) => Promise<IngestDocumentResult>;
  /** Downloads a Slack file with the bot token; must refuse (throw) beyond `maxBytes`. */
  fetchFile: (urlPrivate: string, maxBytes: number) => Promise<Uint8Array>;
  maxUploadBytes: number;
  logger?: Logger;
}

/** What to post: `ephemeral` replies go to the requester only. */
export interface DocsReply {
  visibility: 'ephemeral' | 'in_channel';
  text: string;
  blocks?: Block[];
}
