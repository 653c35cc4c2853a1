/**
 * The one `VectorIndex` contract suite, run against every adapter (hono's `common.case.test.ts` pattern).
 * Each adapter's test file calls `vectorIndexContract` with a factory that builds a fresh, empty index.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { deskhandUuidNamespace, uuidV5 } from '../../src/adapters/vector-index-shared.ts';
import { DeskhandError } from '../../src/errors.ts';
import type {
  AccessScope,
  ChunkRecord,
  DocumentScope,
  SearchRequest,
  VectorIndex,
} from '../../src/ports/vector-index.ts';

export interface ContractIndex {
  index: VectorIndex;
  /** Closes this instance and opens a new one over the same storage (persistent adapters only). */
  reopen?: () => Promise<VectorIndex>;
  cleanup: () => Promise<void>;
}

export interface VectorIndexContractOptions {
  create: () => Promise<ContractIndex>;
  /** Dense dimensions the factory's index accepts. */
  dimensions: number;
  /** How many scope-isolation queries to run (the issue asks for 1,000). */
  isolationQueries?: number;
}

const dimensionsSeed = ['password', 'invoice', 'deploy', 'secret', 'holiday', 'refund', 'crash', 'login'];

/** A deterministic embedding: topic words light up fixed axes, so dense search is meaningful in tests. */
export function testEmbedding(text: string, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  const lower = text.toLowerCase();
  dimensionsSeed.forEach((word, axis) => {
    if (lower.includes(word)) vector[axis % dimensions] = (vector[axis % dimensions] ?? 0) + 1;
  });
  const hash = createHash('sha256').update(text).digest();
  for (let index = 0; index < dimensions; index += 1) {
    vector[index] = (vector[index] ?? 0) + ((hash[index % hash.length] ?? 0) / 255) * 0.05;
  }
  return vector;
}

export function makeChunks(
  options: {
    workspaceId: string;
    documentId: string;
    scope: DocumentScope;
    texts: string[];
    title?: string;
    version?: string;
  },
  dimensions: number,
): ChunkRecord[] {
  const documentHash = createHash('sha256')
    .update(`${options.documentId}:${options.version ?? '1'}:${options.texts.join('|')}`)
    .digest('hex');
  return options.texts.map((text, chunkIndex) => ({
    id: uuidV5(`${options.documentId}:${documentHash}:${chunkIndex}`, deskhandUuidNamespace),
    documentId: options.documentId,
    workspaceId: options.workspaceId,
    scope: options.scope,
    title: options.title ?? `Doc ${options.documentId}`,
    sectionPath: ['Guide', `Part ${chunkIndex}`],
    source: `${options.documentId}.md`,
    chunkIndex,
    contentHash: createHash('sha256').update(text).digest('hex'),
    documentHash,
    ingestedAt: '2026-11-28T00:00:00.000Z',
    text,
    tokenCount: text.split(/\s+/).length,
    dense: testEmbedding(text, dimensions),
  }));
}

function expectNotAuthorised(error: unknown): true {
  assert.ok(error instanceof DeskhandError, `expected a DeskhandError, got ${String(error)}`);
  assert.equal(error.code, 'not_authorised');
  return true;
}

export function vectorIndexContract(name: string, options: VectorIndexContractOptions): void {
  const { dimensions } = options;
  const chunks = (spec: Parameters<typeof makeChunks>[0]) => makeChunks(spec, dimensions);
  const request = (access: AccessScope, text: string, mode: SearchRequest['mode'], limit = 20): SearchRequest => ({
    access,
    text,
    mode,
    limit,
    ...(mode === 'sparse' ? {} : { dense: testEmbedding(text, dimensions) }),
  });
  const cleanups: (() => Promise<void>)[] = [];
  const fresh = async () => {
    const created = await options.create();
    cleanups.push(created.cleanup);
    await created.index.ensureReady();
    return created;
  };
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  describe(`VectorIndex contract: ${name}`, () => {
    test('ensureReady is idempotent and ping reports a reachable index', async () => {
      const { index } = await fresh();
      await index.ensureReady();
      assert.equal(await index.ping(), true);
    });

    test('1,000 queries from one channel never return another channel’s private chunks', async () => {
      const { index } = await fresh();
      const channelOne: AccessScope = { workspaceId: 'W1', channelId: 'C1' };
      await index.replaceDocument(
        'W1',
        'shared',
        chunks({
          workspaceId: 'W1',
          documentId: 'shared',
          scope: 'workspace',
          texts: ['How to reset a password for any account', 'Invoice and refund policy for all customers'],
        }),
      );
      await index.replaceDocument(
        'W1',
        'mine',
        chunks({
          workspaceId: 'W1',
          documentId: 'mine',
          scope: 'channel:C1',
          texts: ['Channel one deploy runbook: password rotation steps', 'Channel one holiday rota'],
        }),
      );
      await index.replaceDocument(
        'W1',
        'theirs',
        chunks({
          workspaceId: 'W1',
          documentId: 'theirs',
          scope: 'channel:C2',
          texts: [
            'Channel two secret password vault location',
            'Channel two refund exceptions and crash reports',
            'Channel two login secret recovery codes',
          ],
        }),
      );
      const words = [
        'password',
        'secret',
        'refund',
        'crash',
        'login',
        'channel two',
        'vault',
        'holiday',
        'deploy',
        'invoice',
      ];
      const modes: SearchRequest['mode'][] = ['sparse', 'dense', 'hybrid'];
      const seen = new Set<string>();
      const total = options.isolationQueries ?? 1000;
      for (let query = 0; query < total; query += 1) {
        const text = `${words[query % words.length]} ${words[(query * 7 + 3) % words.length]}`;
        const hits = await index.search(request(channelOne, text, modes[query % modes.length] ?? 'sparse'));
        for (const hit of hits) {
          assert.notEqual(hit.chunk.documentId, 'theirs', `query "${text}" leaked a channel C2 chunk`);
          assert.ok(hit.chunk.scope === 'workspace' || hit.chunk.scope === 'channel:C1');
          seen.add(hit.chunk.documentId);
        }
      }
      assert.deepEqual([...seen].sort(), ['mine', 'shared'], 'both visible documents were found');
      const fromTwo = await index.search(
        request({ workspaceId: 'W1', channelId: 'C2' }, 'secret password vault', 'sparse'),
      );
      assert.ok(
        fromTwo.some((hit) => hit.chunk.documentId === 'theirs'),
        'channel C2 sees its own document',
      );
    });

    test('a workspace never sees another workspace’s chunks, even with the same document ids', async () => {
      const { index } = await fresh();
      await index.replaceDocument(
        'W1',
        'doc',
        chunks({ workspaceId: 'W1', documentId: 'doc', scope: 'workspace', texts: ['alpha password guide'] }),
      );
      await index.replaceDocument(
        'W2',
        'doc',
        chunks({ workspaceId: 'W2', documentId: 'doc', scope: 'workspace', texts: ['beta password guide'] }),
      );
      for (const mode of ['sparse', 'dense', 'hybrid'] as const) {
        const hits = await index.search(request({ workspaceId: 'W1', channelId: 'C1' }, 'password guide', mode));
        assert.ok(hits.length > 0);
        assert.ok(
          hits.every((hit) => hit.chunk.workspaceId === 'W1' && hit.chunk.text.startsWith('alpha')),
          mode,
        );
      }
      const listed = await index.listDocuments({ workspaceId: 'W2', channelId: 'C9' });
      assert.deepEqual(
        listed.map((document) => document.workspaceId),
        ['W2'],
      );
    });

    test('a channel-only scope (a Slack Connect channel) sees its own documents and no workspace-wide ones', async () => {
      const { index } = await fresh();
      const texts = ['Refund policy: refunds are paid within five days', 'Refund exceptions for damaged goods'];
      await index.replaceDocument(
        'W1',
        'internal',
        chunks({ workspaceId: 'W1', documentId: 'internal', scope: 'workspace', texts }),
      );
      await index.replaceDocument(
        'W1',
        'connect',
        chunks({ workspaceId: 'W1', documentId: 'connect', scope: 'channel:C5', texts: ['Refund desk for partners'] }),
      );
      const shared: AccessScope = { workspaceId: 'W1', channelId: 'C5', channelOnly: true };
      for (const mode of ['sparse', 'dense', 'hybrid'] as const) {
        const hits = await index.search(request(shared, 'refund policy', mode, 50));
        assert.deepEqual([...new Set(hits.map((hit) => hit.chunk.documentId))], ['connect'], mode);
        // The same channel without the restriction sees both: the filter, not the data, made the difference.
        const open = await index.search(request({ workspaceId: 'W1', channelId: 'C5' }, 'refund policy', mode, 50));
        assert.deepEqual([...new Set(open.map((hit) => hit.chunk.documentId))].sort(), ['connect', 'internal'], mode);
      }
      // Asking for more than exists still returns only the channel's chunks (no post-filtered short page).
      assert.equal((await index.search(request(shared, 'refund', 'sparse', 2))).length, 1);
      assert.deepEqual(
        (await index.listDocuments(shared)).map((document) => document.documentId),
        ['connect'],
      );
      assert.deepEqual(await index.getChunks(shared, 'internal', [0, 1]), []);
      assert.equal((await index.getChunks(shared, 'connect', [0])).length, 1);
      const notBoolean = { ...shared, channelOnly: 'yes' } as unknown as AccessScope;
      await assert.rejects(index.search(request(notBoolean, 'refund', 'sparse')), expectNotAuthorised);
    });

    test('queries without an access scope fail closed', async () => {
      const { index } = await fresh();
      await index.replaceDocument(
        'W1',
        'doc',
        chunks({ workspaceId: 'W1', documentId: 'doc', scope: 'workspace', texts: ['password reset'] }),
      );
      const missing = { text: 'password', mode: 'sparse', limit: 5 } as unknown as SearchRequest;
      await assert.rejects(index.search(missing), expectNotAuthorised);
      await assert.rejects(
        index.search({ ...request({ workspaceId: 'W1', channelId: '' }, 'password', 'sparse') }),
        expectNotAuthorised,
      );
      await assert.rejects(
        index.search({ ...request({ workspaceId: '', channelId: 'C1' }, 'password', 'sparse') }),
        expectNotAuthorised,
      );
      await assert.rejects(index.listDocuments(undefined as unknown as AccessScope), expectNotAuthorised);
      await assert.rejects(index.getChunks(undefined as unknown as AccessScope, 'doc', [0]), expectNotAuthorised);
    });

    test('sparse, dense and hybrid modes each find the matching chunk; sparse needs no embedding', async () => {
      const { index } = await fresh();
      const access = { workspaceId: 'W1', channelId: 'C1' };
      await index.replaceDocument(
        'W1',
        'topics',
        chunks({
          workspaceId: 'W1',
          documentId: 'topics',
          scope: 'workspace',
          texts: [
            'Resetting your password takes two minutes',
            'Our holiday calendar lists every closure',
            'The app may crash when the cache is full',
          ],
        }),
      );
      const sparse = await index.search({ access, text: 'holiday closures', mode: 'sparse', limit: 3 });
      assert.equal(sparse[0]?.chunk.chunkIndex, 1);
      assert.ok((sparse[0]?.sparseScore ?? 0) > 0);
      const dense = await index.search(request(access, 'crash', 'dense', 3));
      assert.equal(dense[0]?.chunk.chunkIndex, 2);
      assert.ok(dense[0]?.denseScore !== undefined);
      const hybrid = await index.search(request(access, 'password reset', 'hybrid', 3));
      assert.equal(hybrid[0]?.chunk.chunkIndex, 0);
      assert.ok(hybrid[0]?.chunk.dense instanceof Float32Array, 'hits carry their dense vector for MMR');
      await assert.rejects(index.search({ access, text: 'crash', mode: 'dense', limit: 3 }));
    });

    test('replaceDocument is atomic for concurrent searches: old or new chunks, never both, never neither', async () => {
      const { index } = await fresh();
      const access = { workspaceId: 'W1', channelId: 'C1' };
      const versionA = chunks({
        workspaceId: 'W1',
        documentId: 'flip',
        scope: 'workspace',
        version: 'a',
        texts: ['flip password one', 'flip password two', 'flip password three'],
      });
      const versionB = chunks({
        workspaceId: 'W1',
        documentId: 'flip',
        scope: 'workspace',
        version: 'b',
        texts: ['flip password new one', 'flip password new two'],
      });
      await index.replaceDocument('W1', 'flip', versionA);
      let writing = true;
      const writer = (async () => {
        for (let round = 0; round < 20; round += 1) {
          await index.replaceDocument('W1', 'flip', round % 2 === 0 ? versionB : versionA);
          await new Promise((resolve) => setImmediate(resolve));
        }
        writing = false;
      })();
      let observations = 0;
      while (writing || observations === 0) {
        const hits = await index.search({ access, text: 'flip password', mode: 'sparse', limit: 10 });
        const hashes = new Set(hits.map((hit) => hit.chunk.documentHash));
        assert.equal(hashes.size, 1, 'a search saw chunks of two versions, or none');
        const expected = hits[0]?.chunk.documentHash === versionA[0]?.documentHash ? versionA.length : versionB.length;
        assert.equal(hits.length, expected, 'a search saw a partial version');
        observations += 1;
        // Real concurrent searches arrive as I/O events; yield so a writer waiting on disk or network can run.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await writer;
      assert.ok(observations > 1);
      const final = await index.getDocument('W1', 'flip');
      assert.equal(final?.documentHash, versionA[0]?.documentHash);
      assert.equal(final?.chunkCount, 3);
    });

    test('deleteDocument removes the document and reports whether anything was removed', async () => {
      const { index } = await fresh();
      const access = { workspaceId: 'W1', channelId: 'C1' };
      await index.replaceDocument(
        'W1',
        'gone',
        chunks({ workspaceId: 'W1', documentId: 'gone', scope: 'workspace', texts: ['refund exceptions'] }),
      );
      assert.equal(await index.deleteDocument('W1', 'gone'), true);
      assert.equal(await index.deleteDocument('W1', 'gone'), false);
      assert.equal(await index.getDocument('W1', 'gone'), undefined);
      assert.deepEqual(await index.search({ access, text: 'refund', mode: 'sparse', limit: 5 }), []);
    });

    test('deleteWorkspace removes every document of one workspace, in any scope, and nothing of another', async () => {
      const { index } = await fresh();
      const put = (workspaceId: string, documentId: string, scope: 'workspace' | `channel:${string}`, text: string) =>
        index.replaceDocument(workspaceId, documentId, chunks({ workspaceId, documentId, scope, texts: [text] }));
      await put('W1', 'shared', 'workspace', 'refund policy');
      await put('W1', 'private', 'channel:C7', 'refund secrets');
      await put('W2', 'shared', 'workspace', 'refund policy elsewhere');
      const before = await index.indexVersion('W1');
      assert.deepEqual((await index.deleteWorkspace('W1')).sort(), ['private', 'shared']);
      assert.ok((await index.indexVersion('W1')) > before, 'the version moves on, so cached answers go stale');
      assert.equal(await index.getDocument('W1', 'private'), undefined);
      assert.deepEqual(await index.search(request({ workspaceId: 'W1', channelId: 'C7' }, 'refund', 'sparse')), []);
      assert.equal((await index.getDocument('W2', 'shared'))?.chunkCount, 1);
      assert.equal((await index.search(request({ workspaceId: 'W2', channelId: 'C1' }, 'refund', 'sparse'))).length, 1);
      assert.deepEqual(await index.deleteWorkspace('W1'), []);
    });

    test('getDocument, listDocuments and getChunks describe what is indexed and respect scope', async () => {
      const { index } = await fresh();
      const texts = ['first part about login', 'second part about login', 'third part'];
      const indexed = chunks({
        workspaceId: 'W1',
        documentId: 'guide',
        scope: 'channel:C1',
        texts,
        title: 'Login guide',
      });
      await index.replaceDocument('W1', 'guide', indexed);
      await index.replaceDocument(
        'W1',
        'public',
        chunks({ workspaceId: 'W1', documentId: 'public', scope: 'workspace', texts: ['public'], title: 'Public' }),
      );
      const summary = await index.getDocument('W1', 'guide');
      assert.deepEqual(summary, {
        documentId: 'guide',
        workspaceId: 'W1',
        scope: 'channel:C1',
        title: 'Login guide',
        source: 'guide.md',
        documentHash: indexed[0]?.documentHash,
        chunkCount: 3,
        ingestedAt: '2026-11-28T00:00:00.000Z',
      });
      assert.equal(await index.getDocument('W2', 'guide'), undefined);
      const fromOne = await index.listDocuments({ workspaceId: 'W1', channelId: 'C1' });
      assert.deepEqual(fromOne.map((document) => document.documentId).sort(), ['guide', 'public']);
      const fromTwo = await index.listDocuments({ workspaceId: 'W1', channelId: 'C2' });
      assert.deepEqual(
        fromTwo.map((document) => document.documentId),
        ['public'],
      );
      const neighbours = await index.getChunks({ workspaceId: 'W1', channelId: 'C1' }, 'guide', [0, 2, 7]);
      assert.deepEqual(
        neighbours.map((chunk) => [chunk.chunkIndex, chunk.text]),
        [
          [0, texts[0]],
          [2, texts[2]],
        ],
      );
      assert.deepEqual(neighbours[0]?.sectionPath, ['Guide', 'Part 0']);
      assert.deepEqual(await index.getChunks({ workspaceId: 'W1', channelId: 'C2' }, 'guide', [0]), []);
    });

    test('every change bumps the workspace’s index version and only that workspace’s', async () => {
      const { index } = await fresh();
      const start = await index.indexVersion('W1');
      const other = await index.indexVersion('W2');
      await index.replaceDocument(
        'W1',
        'v',
        chunks({ workspaceId: 'W1', documentId: 'v', scope: 'workspace', texts: ['one'] }),
      );
      const afterReplace = await index.indexVersion('W1');
      assert.ok(afterReplace > start);
      await index.deleteDocument('W1', 'v');
      const afterDelete = await index.indexVersion('W1');
      assert.ok(afterDelete > afterReplace);
      assert.equal(await index.indexVersion('W2'), other);
    });

    test('rejects chunks that do not belong to the document being replaced', async () => {
      const { index } = await fresh();
      const foreign = chunks({ workspaceId: 'W2', documentId: 'x', scope: 'workspace', texts: ['text'] });
      await assert.rejects(index.replaceDocument('W1', 'x', foreign), (error: unknown) => {
        assert.ok(error instanceof DeskhandError);
        assert.equal(error.code, 'invalid_input');
        return true;
      });
    });

    test('a reopened persistent index keeps documents, search results and versions', async (context) => {
      const created = await fresh();
      if (!created.reopen) {
        context.diagnostic('adapter has no local persistence to reopen; covered by the service itself');
        assert.equal(created.reopen, undefined);
        return;
      }
      const access = { workspaceId: 'W1', channelId: 'C1' };
      await created.index.replaceDocument(
        'W1',
        'kept',
        chunks({
          workspaceId: 'W1',
          documentId: 'kept',
          scope: 'workspace',
          texts: ['durable crash report', 'second'],
        }),
      );
      await created.index.replaceDocument(
        'W1',
        'dropped',
        chunks({ workspaceId: 'W1', documentId: 'dropped', scope: 'workspace', texts: ['temporary'] }),
      );
      await created.index.deleteDocument('W1', 'dropped');
      const version = await created.index.indexVersion('W1');
      const before = await created.index.search(request(access, 'crash report', 'hybrid', 5));
      const reopened = await created.reopen();
      assert.equal(await reopened.indexVersion('W1'), version);
      assert.equal(await reopened.getDocument('W1', 'dropped'), undefined);
      assert.equal((await reopened.getDocument('W1', 'kept'))?.chunkCount, 2);
      const afterReopen = await reopened.search(request(access, 'crash report', 'hybrid', 5));
      assert.deepEqual(
        afterReopen.map((hit) => [hit.chunk.id, hit.score]),
        before.map((hit) => [hit.chunk.id, hit.score]),
      );
      assert.deepEqual(afterReopen[0]?.chunk.dense, before[0]?.chunk.dense);
    });
  });
}
