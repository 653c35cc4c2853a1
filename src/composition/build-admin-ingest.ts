/**
 * The work side's `adminIngest` (`POST /admin/ingest`, src/slack/admin-ingest-route.ts): a file handed over by
 * `npm run ingest -- … --app-url` goes through the same `ingestDocument` pipeline as a file shared in Slack — the
 * same parsing limits, the same embedder and budgets, the same per-workspace cap (`IngestionSlots`, shared in
 * Redis with Slack's shares, so a CLI run cannot starve a workspace's sharers of more than its slots) — into the
 * index the work side already has open. That index is the one writer: nothing else opens its files.
 * Resolves only once the index has made the change durable (the embedded index fsyncs its log first).
 */
import { ingestDocument, removeDocument } from '../capabilities/documents/ingestion/ingest-document.ts';
import { IngestionSlots } from '../capabilities/documents/ingestion/ingestion-slots.ts';
import { checkSize, defaultIngestionLimits } from '../capabilities/documents/ingestion/safety.ts';
import type { Logger } from '../observability/logger.ts';
import type { Embedder } from '../ports/embedder.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import type { AdminIngestRequest, AdminIngestResult } from '../work/admin-ingest.ts';
import type { Configuration } from './config.ts';

export function buildAdminIngest(
  configuration: Pick<Configuration, 'redis' | 'retrieval'>,
  parts: {
    vectorIndex: VectorIndex;
    embedder: Embedder | undefined;
    redis: ConstructorParameters<typeof IngestionSlots>[0];
    logger: Logger;
  },
): (request: AdminIngestRequest) => Promise<AdminIngestResult> {
  const { vectorIndex, embedder, logger } = parts;
  const slots = new IngestionSlots(parts.redis, { keyPrefix: configuration.redis.keyPrefix, logger });
  const limits = { ...defaultIngestionLimits, maxUploadBytes: configuration.retrieval.maxUploadBytes };
  return async (request) => {
    const log = logger.child({ requestId: request.requestId, workspaceId: request.workspaceId });
    if (request.remove) {
      const removed = await removeDocument(request, { index: vectorIndex, logger: log });
      return { kind: removed.kind, chunkCount: 0, embeddedChunks: 0, cachedChunks: 0 };
    }
    checkSize(request.fileName, request.bytes.byteLength, limits);
    const result = await slots.run(request.workspaceId, () =>
      ingestDocument(
        {
          workspaceId: request.workspaceId,
          scope: request.scope,
          source: request.source,
          fileName: request.fileName,
          bytes: request.bytes,
        },
        {
          index: vectorIndex,
          ...(embedder ? { embedder } : {}),
          callScope: { workspaceId: request.workspaceId, channelId: 'admin-ingest', requestId: request.requestId },
          logger: log,
          limits,
        },
      ),
    );
    log.info({ source: request.source, kind: result.kind, chunks: result.chunkCount }, 'admin ingestion done');
    return {
      kind: result.kind,
      chunkCount: result.chunkCount,
      embeddedChunks: result.embeddedChunks,
      cachedChunks: result.cachedChunks,
    };
  };
}
