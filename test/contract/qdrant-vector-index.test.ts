import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { QdrantVectorIndex } from '../../src/adapters/qdrant-vector-index.ts';
import { DeskhandError } from '../../src/errors.ts';
import { FakeQdrantServer } from '../fakes/qdrant-server.ts';
import { makeChunks, testEmbedding, vectorIndexContract } from './vector-index.contract.ts';

const dimensions = 16;
const fake = new FakeQdrantServer();
let fakeUrl = '';

before(async () => {
  fakeUrl = await fake.start();
});

after(async () => {
  await fake.close();
});

function client(url: string): QdrantClient {
  return new QdrantClient({ url, timeout: 5_000, checkCompatibility: false });
}

function qdrantFactory(url: () => string, dropCollections: boolean) {
  return async () => {
    const collection = `test_${randomUUID().replaceAll('-', '')}`;
    const qdrant = client(url());
    const open = () => new QdrantVectorIndex({ client: qdrant, collection, dimensions });
    return {
      index: open(),
      reopen: async () => {
        const reopened = open();
        await reopened.ensureReady();
        return reopened;
      },
      cleanup: async () => {
        if (dropCollections) await qdrant.deleteCollection(collection);
      },
    };
  };
}

vectorIndexContract('QdrantVectorIndex against the spec-validating fake', {
  dimensions,
  create: qdrantFactory(() => fakeUrl, false),
});

// The same suite against a real Qdrant whenever one is configured (not reachable in this sandbox).
const liveUrl = process.env.QDRANT_URL;
if (liveUrl) {
  vectorIndexContract(`QdrantVectorIndex against live Qdrant at ${liveUrl}`, {
    dimensions,
    create: qdrantFactory(() => liveUrl, true),
  });
}

describe('QdrantVectorIndex requests', () => {
  test('every request the contract suite made matched the Qdrant 1.19 OpenAPI spec', () => {
    assert.ok(fake.requests.length > 1000, `only ${fake.requests.length} requests were recorded`);
    assert.deepEqual(fake.problems, []);
  });

  test('creates one collection with a named cosine dense vector, an IDF sparse vector and a tenant index', async () => {
    const collection = `shape_${randomUUID().replaceAll('-', '')}`;
    const index = new QdrantVectorIndex({ client: client(fakeUrl), collection, dimensions });
    await index.ensureReady();
    await index.ensureReady();
    const creates = fake.requests.filter(
      (request) => request.method === 'PUT' && request.path === `/collections/${collection}`,
    );
    assert.equal(creates.length, 1);
    assert.deepEqual(creates[0]?.body, {
      vectors: { dense: { size: dimensions, distance: 'Cosine' } },
      sparse_vectors: { sparse: { modifier: 'idf' } },
    });
    const indexes = fake.requests
      .filter((request) => request.path === `/collections/${collection}/index`)
      .map((request) => request.body);
    assert.deepEqual(indexes[0], { field_name: 'workspaceId', field_schema: { type: 'keyword', is_tenant: true } });
    assert.ok(indexes.some((body) => (body as { field_name: string }).field_name === 'scope'));
    assert.ok(indexes.some((body) => (body as { field_name: string }).field_name === 'documentId'));
  });

  test('a hybrid query prefetches dense and sparse candidates under the access filter and fuses them with RRF', async () => {
    const collection = `hybrid_${randomUUID().replaceAll('-', '')}`;
    const index = new QdrantVectorIndex({ client: client(fakeUrl), collection, dimensions });
    const chunks = makeChunks(
      { workspaceId: 'W1', documentId: 'd', scope: 'workspace', texts: ['password reset guide'] },
      dimensions,
    );
    await index.replaceDocument('W1', 'd', chunks);
    const hits = await index.search({
      access: { workspaceId: 'W1', channelId: 'C7' },
      text: 'password reset',
      dense: testEmbedding('password reset', dimensions),
      mode: 'hybrid',
      limit: 5,
    });
    assert.equal(hits.length, 1);
    const [query] = fake.requestsTo('/points/query').filter((request) => request.path.includes(collection));
    const body = query?.body as {
      prefetch: { using: string; filter: unknown; query: unknown }[];
      query: unknown;
      filter: unknown;
    };
    const accessFilter = {
      must: [
        { key: 'workspaceId', match: { value: 'W1' } },
        { key: 'scope', match: { any: ['workspace', 'channel:C7'] } },
      ],
    };
    assert.deepEqual(body.query, { fusion: 'rrf' });
    assert.deepEqual(body.filter, accessFilter);
    assert.deepEqual(
      body.prefetch.map((prefetch) => prefetch.using),
      ['dense', 'sparse'],
    );
    for (const prefetch of body.prefetch) assert.deepEqual(prefetch.filter, accessFilter);
  });

  test('point ids are deterministic UUIDs, so re-writing a chunk overwrites the same point', async () => {
    const collection = `ids_${randomUUID().replaceAll('-', '')}`;
    const index = new QdrantVectorIndex({ client: client(fakeUrl), collection, dimensions });
    const chunks = makeChunks(
      { workspaceId: 'W1', documentId: 'd', scope: 'workspace', texts: ['one', 'two'] },
      dimensions,
    );
    await index.replaceDocument('W1', 'd', chunks);
    const firstIds = [...(fake.collections.get(collection)?.points.keys() ?? [])].sort();
    await index.replaceDocument('W1', 'd', chunks);
    const secondIds = [...(fake.collections.get(collection)?.points.keys() ?? [])].sort();
    assert.deepEqual(secondIds, firstIds);
    const chunkIds = firstIds.filter(
      (id) => fake.collections.get(collection)?.points.get(id)?.payload.kind !== 'index-version',
    );
    assert.equal(chunkIds.length, 2);
    for (const id of chunkIds)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('the fake rejects bodies and paths that the Qdrant 1.19 spec does not allow', async () => {
    const checker = new FakeQdrantServer();
    const url = await checker.start();
    try {
      const badBody = await fetch(`${url}/collections/c/points/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: { fusion: 'average' }, limit: 'ten' }),
      });
      assert.equal(badBody.status, 400);
      const removedPath = await fetch(`${url}/collections/c/points/search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ vector: [1, 0], limit: 3 }),
      });
      assert.equal(removedPath.status, 404);
      assert.equal(checker.problems.length, 2);
      assert.match(checker.problems[0] ?? '', /points\/query/);
      assert.match(checker.problems[1] ?? '', /not an operation/);
    } finally {
      await checker.close();
    }
  });

  test('a Qdrant outage becomes a retryable upstream_unavailable error', async () => {
    const collection = `outage_${randomUUID().replaceAll('-', '')}`;
    const index = new QdrantVectorIndex({ client: client(fakeUrl), collection, dimensions });
    await index.ensureReady();
    fake.failNext(503);
    await assert.rejects(
      index.search({ access: { workspaceId: 'W1', channelId: 'C1' }, text: 'anything', mode: 'sparse', limit: 3 }),
      (error: unknown) => {
        assert.ok(error instanceof DeskhandError);
        assert.equal(error.code, 'upstream_unavailable');
        assert.equal(error.retryable, true);
        return true;
      },
    );
  });
});
