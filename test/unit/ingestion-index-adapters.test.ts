import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { Redis } from 'ioredis';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { QdrantVectorIndex } from '../../src/adapters/qdrant-vector-index.ts';
import { RedisEmbeddingCache } from '../../src/capabilities/documents/ingestion/embedding-cache.ts';
import { ingestDocument, removeDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import type { IngestDocumentDependencies } from '../../src/capabilities/documents/ingestion/ingestion-types.ts';
import type { AccessScope } from '../../src/ports/vector-index.ts';
import { FakeQdrantServer } from '../fakes/qdrant-server.ts';
import { DeterministicEmbedder, japaneseDocs, openApiManual } from './ingestion-test-support.ts';

const channelOne: AccessScope = { workspaceId: 'T1', channelId: 'C1' };
const channelTwo: AccessScope = { workspaceId: 'T1', channelId: 'C2' };

describe('ingestion into the real index adapters', () => {
  const prefix = `test:${randomUUID()}:`;
  let redis: Redis;

  before(() => {
    redis = new Redis('redis://127.0.0.1:6379');
  });

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  test('the long manual and the Japanese docs are searchable, scoped, re-ingested as no-ops, replaced and removed', async () => {
    const index = new EmbeddedVectorIndex();
    await index.ensureReady();
    const embedder = new DeterministicEmbedder();
    const dependencies: IngestDocumentDependencies = {
      index,
      embedder,
      embeddingCache: new RedisEmbeddingCache(redis, { keyPrefix: prefix }),
      callScope: { workspaceId: 'T1', channelId: 'C1' },
    };
    const manual = new Uint8Array(readFileSync(openApiManual));
    const manualInput = {
      workspaceId: 'T1',
      scope: 'workspace' as const,
      source: 'https://example.com/openapi.md',
      fileName: 'openapi-spec-3.2.0.md',
      bytes: manual,
    };
    const indexed = await ingestDocument(manualInput, dependencies);
    assert.equal(indexed.kind, 'indexed');
    const japanese = await ingestDocument(
      {
        workspaceId: 'T1',
        scope: 'channel:C1',
        source: 'bolt-ja/reference.md',
        fileName: 'reference.md',
        bytes: new Uint8Array(readFileSync(join(japaneseDocs, 'reference.md'))),
      },
      dependencies,
    );
    assert.equal(japanese.kind, 'indexed');

    const infoHits = await index.search({
      access: channelTwo,
      text: 'Info Object title REQUIRED',
      mode: 'sparse',
      limit: 5,
    });
    assert.ok(infoHits.some((hit) => hit.chunk.sectionPath.includes('Info Object')));
    // The Japanese document is private to C1.
    const fromOne = await index.search({ access: channelOne, text: 'リスナー関数', mode: 'sparse', limit: 5 });
    assert.ok(fromOne.some((hit) => hit.chunk.source === 'bolt-ja/reference.md'));
    const fromTwo = await index.search({ access: channelTwo, text: 'リスナー関数', mode: 'sparse', limit: 50 });
    assert.ok(fromTwo.every((hit) => hit.chunk.scope === 'workspace'));

    const version = await index.indexVersion('T1');
    const again = await ingestDocument(manualInput, dependencies);
    assert.equal(again.kind, 'unchanged');
    assert.equal(await index.indexVersion('T1'), version, 'a no-op does not bump the index version');

    const edited = new TextDecoder()
      .decode(manual)
      .replace('The object provides metadata about the API.', 'The object provides zanzibarian metadata.');
    const replaced = await ingestDocument({ ...manualInput, bytes: new TextEncoder().encode(edited) }, dependencies);
    assert.equal(replaced.kind, 'replaced');
    assert.equal(replaced.embeddedChunks, 1, 'only the edited chunk is embedded again');
    assert.ok((await index.indexVersion('T1')) > version);
    const zanzibar = await index.search({ access: channelTwo, text: 'zanzibarian', mode: 'sparse', limit: 5 });
    assert.equal(zanzibar.length, 1);
    const summary = await index.getDocument('T1', indexed.documentId);
    assert.equal(summary?.chunkCount, replaced.chunkCount);

    assert.equal((await removeDocument({ workspaceId: 'T1', source: manualInput.source }, { index })).kind, 'removed');
    assert.deepEqual(await index.search({ access: channelTwo, text: 'zanzibarian', mode: 'sparse', limit: 5 }), []);
    await index.close();
  });

  test('into Qdrant (spec-validating fake): dense and sparse points, scoped reads, no-op re-ingestion, replacement', async () => {
    const qdrant = new FakeQdrantServer();
    const url = await qdrant.start();
    try {
      const embedder = new DeterministicEmbedder();
      const index = new QdrantVectorIndex({
        client: new QdrantClient({ url, timeout: 10_000, checkCompatibility: false }),
        collection: 'ingestion_test',
        dimensions: embedder.dimensions,
      });
      await index.ensureReady();
      const dependencies: IngestDocumentDependencies = {
        index,
        embedder,
        embeddingCache: new RedisEmbeddingCache(redis, { keyPrefix: `${prefix}qdrant:` }),
        callScope: { workspaceId: 'T1', channelId: 'C1' },
      };
      const japanese = new Uint8Array(readFileSync(join(japaneseDocs, 'reference.md')));
      const input = {
        workspaceId: 'T1',
        scope: 'channel:C1' as const,
        source: 'bolt-ja/reference.md',
        fileName: 'reference.md',
        bytes: japanese,
      };
      const indexed = await ingestDocument(input, dependencies);
      assert.equal(indexed.kind, 'indexed');
      assert.equal(indexed.embeddedChunks, indexed.chunkCount);
      const [dense] = (await embedder.embed(['リスナー関数'], dependencies.callScope)).vectors;
      assert.ok(dense);
      const hits = await index.search({ access: channelOne, text: 'リスナー関数', dense, mode: 'hybrid', limit: 5 });
      assert.ok(hits.length > 0 && hits.every((hit) => hit.chunk.source === 'bolt-ja/reference.md'));
      assert.deepEqual(await index.search({ access: channelTwo, text: 'リスナー関数', mode: 'sparse', limit: 5 }), []);

      assert.equal((await ingestDocument(input, dependencies)).kind, 'unchanged');
      const edited = new TextDecoder().decode(japanese).replace('# リファレンス', '# リファレンス（改訂）');
      const replaced = await ingestDocument({ ...input, bytes: new TextEncoder().encode(edited) }, dependencies);
      assert.equal(replaced.kind, 'replaced');
      // The title changed, so every embedded header changed: all chunks are embedded again.
      assert.equal(replaced.embeddedChunks, replaced.chunkCount);
      const summary = await index.getDocument('T1', indexed.documentId);
      assert.equal(summary?.title, 'リファレンス（改訂）（Appインターフェイスと設定）');
      assert.equal(summary?.chunkCount, replaced.chunkCount);
      assert.deepEqual(qdrant.problems, [], 'every request the pipeline caused matches the Qdrant 1.19 spec');
      await index.close();
    } finally {
      await qdrant.close();
    }
  });
});
