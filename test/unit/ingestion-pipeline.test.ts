import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { documentIdFor } from '../../src/capabilities/documents/ingestion/document-id.ts';
import type { EmbeddingCache } from '../../src/capabilities/documents/ingestion/embedding-cache.ts';
import { RedisEmbeddingCache } from '../../src/capabilities/documents/ingestion/embedding-cache.ts';
import {
  ingestDocument,
  ingestText,
  removeDocument,
} from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import type {
  IngestDocumentDependencies,
  IngestDocumentInput,
  IngestionProgress,
} from '../../src/capabilities/documents/ingestion/ingestion-types.ts';
import { uuidV5 } from '../../src/capabilities/documents/ingestion/uuid-v5.ts';
import { DeskhandError } from '../../src/errors.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { MemoryVectorIndex } from '../fakes/memory-vector-index.ts';
import { assertRejected, DeterministicEmbedder, localFixture } from './ingestion-test-support.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function handbook(sections: string[]): string {
  return sections
    .map((body, index) => `## Section ${index + 1}\n\n${body} This paragraph belongs to section ${index + 1}.`)
    .join('\n\n');
}

const sections = Array.from({ length: 6 }, (_, index) => `Policy text number ${index + 1} about refunds and returns.`);

describe('ingestDocument pipeline', () => {
  const prefix = `test:${randomUUID()}:`;
  let redis: Redis;

  before(() => {
    redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: false, maxRetriesPerRequest: 1 });
  });

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  function setup(overrides: Partial<IngestDocumentDependencies> = {}) {
    const index = new MemoryVectorIndex();
    const embedder = new DeterministicEmbedder();
    const cache = new RedisEmbeddingCache(redis, { keyPrefix: `${prefix}${randomUUID()}:` });
    const dependencies: IngestDocumentDependencies = {
      index,
      embedder,
      embeddingCache: cache,
      callScope: { workspaceId: 'T100', channelId: 'C100' },
      now: () => new Date('2026-11-28T08:00:00.000Z'),
      ...overrides,
    };
    return { index, embedder, cache, dependencies };
  }

  const markdownInput = (text: string, overrides: Partial<IngestDocumentInput> = {}): IngestDocumentInput => ({
    workspaceId: 'T100',
    scope: 'workspace',
    source: '/docs/handbook.md',
    fileName: 'handbook.md',
    bytes: encode(text),
    ...overrides,
  });

  test('uuidV5 matches the RFC 9562 test vector', () => {
    assert.equal(
      uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  test('indexes a document with every chunk field filled, deterministic ids and dense vectors', async () => {
    const { index, embedder, dependencies } = setup();
    const result = await ingestDocument(markdownInput(`# Handbook\n\n${handbook(sections)}`), dependencies);
    assert.equal(result.kind, 'indexed');
    assert.equal(result.documentId, documentIdFor('T100', '/docs/handbook.md'));
    assert.match(result.documentId, uuidPattern);
    assert.equal(result.chunkCount, 6);
    assert.equal(result.embeddedChunks, 6);
    assert.equal(result.cachedChunks, 0);
    const chunks = index.chunksOf('T100').sort((left, right) => left.chunkIndex - right.chunkIndex);
    assert.deepEqual(
      chunks.map((chunk) => chunk.chunkIndex),
      [0, 1, 2, 3, 4, 5],
    );
    for (const chunk of chunks) {
      assert.equal(chunk.documentId, result.documentId);
      assert.equal(chunk.workspaceId, 'T100');
      assert.equal(chunk.scope, 'workspace');
      assert.equal(chunk.title, 'Handbook');
      assert.equal(chunk.source, '/docs/handbook.md');
      assert.equal(chunk.ingestedAt, '2026-11-28T08:00:00.000Z');
      assert.equal(chunk.contentHash, sha256(chunk.text));
      assert.match(chunk.documentHash, /^[0-9a-f]{64}$/);
      assert.equal(
        chunk.id,
        uuidV5(`${chunk.documentId}:${chunk.documentHash}:${chunk.chunkIndex}`, 'c3a1e7d2-8b4f-4e61-a0b9-2d7e5f3c9a40'),
      );
      assert.equal(chunk.dense?.length, embedder.dimensions);
      assert.ok(chunk.tokenCount > 0);
    }
    assert.deepEqual(chunks[2]?.sectionPath, ['Handbook', 'Section 3']);
    assert.ok(chunks[2]?.text.startsWith('## Section 3\n\nPolicy text number 3'));
    // The embedded text carries the chunk's place in the document; the call is scoped for budgets.
    assert.ok(embedder.embeddedTexts.includes(`Handbook\nSection 3\n\n${chunks[2]?.text}`));
    assert.deepEqual(embedder.calls[0]?.scope, { workspaceId: 'T100', channelId: 'C100' });
  });

  test('re-ingesting an unchanged document is a no-op: no embedding call, no index write', async () => {
    const { index, embedder, dependencies } = setup();
    const input = markdownInput(handbook(sections));
    await ingestDocument(input, dependencies);
    const callsBefore = embedder.calls.length;
    const writesBefore = index.writes().length;
    const versionBefore = await index.indexVersion('T100');
    const progress: IngestionProgress[] = [];
    const again = await ingestDocument(
      { ...input, bytes: encode(handbook(sections)) },
      { ...dependencies, onProgress: (event) => progress.push(event) },
    );
    assert.deepEqual(progress, [], 'not even parsed');
    assert.deepEqual(again, {
      kind: 'unchanged',
      documentId: documentIdFor('T100', '/docs/handbook.md'),
      chunkCount: 6,
      embeddedChunks: 0,
      cachedChunks: 0,
    });
    assert.equal(embedder.calls.length, callsBefore);
    assert.equal(index.writes().length, writesBefore);
    assert.equal(await index.indexVersion('T100'), versionBefore);
  });

  test('a changed document replaces its chunks and embeds only the chunks that changed', async () => {
    const { index, embedder, dependencies } = setup();
    await ingestDocument(markdownInput(handbook(sections)), dependencies);
    const before = index.chunksOf('T100');
    const changed = [...sections];
    changed[4] = 'Policy text number 5 now says returns need a receipt.';
    const result = await ingestDocument(markdownInput(handbook(changed)), dependencies);
    assert.equal(result.kind, 'replaced');
    assert.equal(result.chunkCount, 6);
    assert.equal(result.embeddedChunks, 1);
    assert.equal(result.cachedChunks, 5);
    assert.equal(embedder.embeddedTexts.length, 7);
    assert.match(embedder.embeddedTexts.at(-1) ?? '', /returns need a receipt/);
    const after = index.chunksOf('T100');
    assert.equal(after.length, 6, 'old chunks are gone, not added to');
    assert.ok(after.some((chunk) => chunk.text.includes('returns need a receipt')));
    assert.ok(!after.some((chunk) => chunk.text.includes('Policy text number 5 about refunds')));
    const oldIds = new Set(before.map((chunk) => chunk.id));
    assert.ok(
      after.every((chunk) => !oldIds.has(chunk.id)),
      'a new version gets new point ids',
    );
    // Unchanged chunks reuse the cached vectors exactly.
    const vectorOf = (chunks: typeof before, text: string) => chunks.find((chunk) => chunk.text === text)?.dense;
    const unchangedText = before[0]?.text ?? '';
    assert.deepEqual(vectorOf(after, unchangedText), vectorOf(before, unchangedText));
  });

  test('moving a document to another scope re-indexes it even when its text is unchanged', async () => {
    const { index, dependencies } = setup();
    await ingestDocument(markdownInput(handbook(sections)), dependencies);
    const moved = await ingestDocument(markdownInput(handbook(sections), { scope: 'channel:C200' }), dependencies);
    assert.equal(moved.kind, 'replaced');
    assert.equal(moved.embeddedChunks, 0, 'vectors come from the cache');
    assert.ok(index.chunksOf('T100').every((chunk) => chunk.scope === 'channel:C200'));
  });

  test('the embedding cache is per workspace: another tenant with the same text pays for its own vectors', async () => {
    const { embedder, dependencies } = setup();
    await ingestDocument(markdownInput(handbook(sections)), dependencies);
    const other = await ingestDocument(markdownInput(handbook(sections), { workspaceId: 'T999' }), {
      ...dependencies,
      callScope: { workspaceId: 'T999', channelId: 'C1' },
    });
    assert.equal(other.kind, 'indexed');
    assert.equal(other.embeddedChunks, 6);
    assert.equal(embedder.embeddedTexts.length, 12);
  });

  test('removes a document, and reports not_found the second time', async () => {
    const { index, dependencies } = setup();
    await ingestDocument(markdownInput(handbook(sections)), dependencies);
    const removed = await removeDocument({ workspaceId: 'T100', source: '/docs/handbook.md' }, { index });
    assert.deepEqual(removed, { kind: 'removed', documentId: documentIdFor('T100', '/docs/handbook.md') });
    assert.equal(index.chunksOf('T100').length, 0);
    assert.equal(
      (await removeDocument({ workspaceId: 'T100', source: '/docs/handbook.md' }, { index })).kind,
      'not_found',
    );
  });

  test('nothing is half-indexed when embedding fails midway, and the retry pays only for the rest', async () => {
    const { index, embedder, dependencies } = setup({ embeddingBatchSize: 2 });
    const original = await ingestDocument(markdownInput(handbook(sections)), dependencies);
    const changed = sections.map((text) => `${text} Revised.`);
    embedder.failOnCall = embedder.calls.length + 2;
    await assert.rejects(ingestDocument(markdownInput(handbook(changed)), dependencies), (error: unknown) => {
      return error instanceof DeskhandError && error.code === 'upstream_unavailable';
    });
    // The previous version is still the one indexed, whole.
    const chunks = index.chunksOf('T100');
    assert.equal(chunks.length, original.chunkCount);
    assert.ok(chunks.every((chunk) => !chunk.text.includes('Revised.')));
    assert.equal(index.writes().length, 1);
    embedder.failOnCall = undefined;
    const retried = await ingestDocument(markdownInput(handbook(changed)), dependencies);
    assert.equal(retried.kind, 'replaced');
    assert.equal(retried.cachedChunks, 2, 'the batch embedded before the failure was cached');
    assert.equal(retried.embeddedChunks, 4);
  });

  test('nothing is half-indexed when the first ingestion fails: the index is never written', async () => {
    const { index, embedder, dependencies } = setup();
    embedder.failOnCall = 1;
    await assert.rejects(ingestDocument(markdownInput(handbook(sections)), dependencies));
    assert.deepEqual(index.writes(), []);
    assert.equal(await index.getDocument('T100', documentIdFor('T100', '/docs/handbook.md')), undefined);
  });

  test('a failed index write surfaces the error and leaves the previous version searchable', async () => {
    const { index, dependencies } = setup();
    await ingestDocument(markdownInput(handbook(sections)), dependencies);
    index.failNextReplace = new DeskhandError('upstream_unavailable', 'index write failed (scripted)');
    const changed = sections.map((text) => `${text} Revised.`);
    await assert.rejects(ingestDocument(markdownInput(handbook(changed)), dependencies), /index write failed/);
    assert.ok(index.chunksOf('T100').every((chunk) => !chunk.text.includes('Revised.')));
    assert.equal(index.chunksOf('T100').length, 6);
    // The retry embeds nothing: the vectors were cached before the failed write.
    const retried = await ingestDocument(markdownInput(handbook(changed)), dependencies);
    assert.deepEqual([retried.kind, retried.embeddedChunks, retried.cachedChunks], ['replaced', 0, 6]);
  });

  test('concurrent ingestions of one document apply in call order, so the last one shared wins', async () => {
    const { index, embedder, dependencies } = setup();
    const slowEmbedder = {
      model: embedder.model,
      dimensions: embedder.dimensions,
      embed: async (texts: string[], scope: { workspaceId: string; channelId: string }) => {
        // The first (older) version embeds slowly: without ordering it would be written last.
        if (texts.some((text) => text.includes('version one'))) await new Promise((done) => setTimeout(done, 150));
        return embedder.embed(texts, scope);
      },
    };
    const concurrent = { ...dependencies, embedder: slowEmbedder };
    const [first, second] = await Promise.all([
      ingestDocument(markdownInput('# Policy\n\nThis is version one.'), concurrent),
      ingestDocument(markdownInput('# Policy\n\nThis is version two.'), concurrent),
    ]);
    assert.equal(first.kind, 'indexed');
    assert.equal(second.kind, 'replaced');
    assert.deepEqual(
      index.chunksOf('T100').map((chunk) => chunk.text),
      ['# Policy\n\nThis is version two.'],
    );
  });

  test('refuses a malformed scope or workspace id before touching the index', async () => {
    const { index, dependencies } = setup();
    for (const overrides of [
      { scope: 'channel:' as const },
      { scope: 'everyone' as unknown as 'workspace' },
      { workspaceId: 'T1\nT2' },
      { workspaceId: '' },
      { source: '  ' },
    ]) {
      await assert.rejects(
        ingestDocument(markdownInput('# Title\n\nText.', overrides), dependencies),
        (error: unknown) => {
          return error instanceof DeskhandError && error.code === 'invalid_input';
        },
      );
    }
    assert.deepEqual(index.calls, []);
  });

  test('a runaway title is clipped so the embedded header cannot crowd out the chunk text', async () => {
    const { embedder, dependencies } = setup();
    await ingestDocument(markdownInput('Short body text.', { title: 'T'.repeat(20_000) }), dependencies);
    const [embedded] = embedder.embeddedTexts;
    assert.ok((embedded?.length ?? 0) < 400, `embedded ${embedded?.length} characters`);
    assert.ok(embedded?.endsWith('Short body text.'));
  });

  test('without an embedder chunks are sparse-only and no model is called', async () => {
    const { index, dependencies } = setup();
    const { embedder: _embedder, ...sparseOnly } = dependencies;
    const result = await ingestDocument(markdownInput(handbook(sections)), sparseOnly);
    assert.equal(result.kind, 'indexed');
    assert.equal(result.embeddedChunks, 0);
    assert.ok(index.chunksOf('T100').every((chunk) => chunk.dense === undefined));
    // Adding an embedder later re-indexes with vectors instead of calling the sparse version "unchanged".
    const withVectors = await ingestDocument(markdownInput(handbook(sections)), dependencies);
    assert.equal(withVectors.kind, 'replaced');
    assert.ok(index.chunksOf('T100').every((chunk) => chunk.dense !== undefined));
  });

  test('a cache outage costs money, not the ingestion', async () => {
    const brokenCache: EmbeddingCache = {
      getMany: async () => {
        throw new Error('redis down');
      },
      setMany: async () => {
        throw new Error('redis down');
      },
    };
    const { dependencies } = setup({ embeddingCache: brokenCache });
    const result = await ingestDocument(markdownInput(handbook(sections)), dependencies);
    assert.equal(result.kind, 'indexed');
    assert.equal(result.embeddedChunks, 6);
  });

  test('PDF chunks carry their page numbers through the pipeline', async () => {
    const { index, dependencies } = setup();
    const result = await ingestDocument(
      {
        workspaceId: 'T100',
        scope: 'channel:C100',
        source: 'slack://F123',
        fileName: 'returns.pdf',
        bytes: localFixture('sample.pdf'),
      },
      dependencies,
    );
    assert.equal(result.kind, 'indexed');
    const chunks = index.chunksOf('T100');
    assert.deepEqual(
      chunks.map((chunk) => [chunk.page, chunk.sectionPath]),
      [
        [1, ['Deskhand Returns Handbook']],
        [1, ['Deskhand Returns Handbook', 'Exchanges']],
        [2, ['Deskhand Returns Handbook', 'Damaged deliveries']],
      ],
    );
    assert.ok(chunks.every((chunk) => chunk.title === 'Deskhand Returns Handbook' && chunk.scope === 'channel:C100'));
  });

  test('a refused file is logged with its reason and never reaches the index', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } });
    const { index, dependencies } = setup({ logger, limits: { maxUploadBytes: 1024 } });
    await assertRejected(
      ingestDocument(markdownInput('x'.repeat(2048), { fileName: 'big.md' }), dependencies),
      'too_large',
      'input_too_large',
    );
    await assertRejected(
      ingestDocument(
        { ...markdownInput(''), fileName: 'scan.pdf', bytes: localFixture('image-only.pdf') },
        dependencies,
      ),
      'image_only_pdf',
      'unsupported_input',
    );
    assert.deepEqual(index.writes(), []);
    const entries = lines.map((line) => JSON.parse(line) as { level: string; reason?: string; msg: string });
    assert.deepEqual(
      entries.map((entry) => [entry.level, entry.reason, entry.msg]),
      [
        ['warn', 'too_large', 'document rejected'],
        ['warn', 'image_only_pdf', 'document rejected'],
      ],
    );
  });

  test('reports progress through parsing, chunking, embedding and indexing in order', async () => {
    const progress: IngestionProgress[] = [];
    const { dependencies } = setup({ embeddingBatchSize: 4, onProgress: (event) => progress.push(event) });
    await ingestDocument(markdownInput(handbook(sections)), dependencies);
    assert.deepEqual(progress, [
      { stage: 'parsing', done: 0, total: 1 },
      { stage: 'parsing', done: 1, total: 1 },
      { stage: 'chunking', done: 0, total: 1 },
      { stage: 'chunking', done: 1, total: 1 },
      { stage: 'embedding', done: 0, total: 6 },
      { stage: 'embedding', done: 4, total: 6 },
      { stage: 'embedding', done: 6, total: 6 },
      { stage: 'indexing', done: 0, total: 1 },
      { stage: 'indexing', done: 1, total: 1 },
    ]);
  });

  test('ingestText indexes a title and text without a file (BEIR corpora) and is idempotent too', async () => {
    const { index, embedder, dependencies } = setup();
    const input = {
      workspaceId: 'T100',
      scope: 'workspace' as const,
      source: 'scifact:4983',
      title: 'Microstructural development of human newborn cerebral white matter',
      text: 'Alterations of the architecture of cerebral white matter in the developing human brain can affect cortical development.',
    };
    const first = await ingestText(input, dependencies);
    assert.equal(first.kind, 'indexed');
    assert.equal(first.chunkCount, 1);
    const [chunk] = index.chunksOf('T100');
    assert.equal(chunk?.title, input.title);
    assert.equal(chunk?.text, input.text);
    assert.equal(chunk?.source, 'scifact:4983');
    const calls = embedder.calls.length;
    assert.equal((await ingestText(input, dependencies)).kind, 'unchanged');
    assert.equal(embedder.calls.length, calls);
  });
});
