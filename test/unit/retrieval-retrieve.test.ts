import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { type RetrievalSettings, retrieve } from '../../src/capabilities/documents/retrieval/retrieve.ts';
import { DeskhandError } from '../../src/errors.ts';
import type { CallScope } from '../../src/ports/language-model.ts';
import type { AccessScope, SearchHit, SearchRequest, VectorIndex } from '../../src/ports/vector-index.ts';
import { makeChunks } from '../contract/vector-index.contract.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';

const access: AccessScope = { workspaceId: 'W1', channelId: 'C1' };
const callScope: CallScope = { workspaceId: 'W1', channelId: 'C1' };
const sparse: RetrievalSettings = { mode: 'sparse', contextTokens: 500 };

async function indexWith(documents: Record<string, string[]>): Promise<EmbeddedVectorIndex> {
  const index = new EmbeddedVectorIndex();
  for (const [documentId, texts] of Object.entries(documents)) {
    await index.replaceDocument(
      'W1',
      documentId,
      makeChunks({ workspaceId: 'W1', documentId, scope: 'workspace', texts }, 8),
    );
  }
  return index;
}

describe('retrieve', () => {
  test('fails closed without an access scope, before touching the index', async () => {
    const index = await indexWith({ a: ['password reset'] });
    await assert.rejects(
      retrieve({ index }, { access: undefined, query: 'password', callScope }, sparse),
      (error: unknown) => error instanceof DeskhandError && error.code === 'not_authorised',
    );
  });

  test('sparse mode answers without any embedding provider and packs the best passage first', async () => {
    const index = await indexWith({
      reset: ['To reset a password open Settings and choose Reset password.'],
      billing: ['Invoices are emailed monthly.'],
    });
    const outcome = await retrieve({ index }, { access, query: 'how do I reset my password', callScope }, sparse);
    assert.equal(outcome.kind, 'retrieved');
    assert.equal(outcome.kind === 'retrieved' && outcome.context.passages[0]?.documentId, 'reset');
    assert.ok(
      outcome.kind === 'retrieved' && outcome.context.passages.every((passage) => passage.documentId !== 'billing'),
    );
    assert.equal(outcome.indexVersion, 2);
  });

  test('sparse candidates rank a document with a supporting second chunk above a slightly better lone chunk', async () => {
    const [lone] = makeChunks({ workspaceId: 'W1', documentId: 'lone', scope: 'workspace', texts: ['a'] }, 8);
    const [first, second] = makeChunks(
      { workspaceId: 'W1', documentId: 'split', scope: 'workspace', texts: ['b', 'c'] },
      8,
    );
    const indexHits: SearchHit[] = [
      { chunk: lone as SearchHit['chunk'], score: 10, sparseScore: 10 },
      { chunk: first as SearchHit['chunk'], score: 9.8, sparseScore: 9.8 },
      { chunk: second as SearchHit['chunk'], score: 6, sparseScore: 6 },
    ];
    const requests: SearchRequest[] = [];
    // Only the two methods retrieve calls; the hits are fixed so the ranking arithmetic is exact.
    const index = {
      indexVersion: async () => 1,
      search: async (request: SearchRequest) => {
        requests.push(request);
        return indexHits;
      },
    } as unknown as VectorIndex;
    const supported = await retrieve({ index }, { access, query: 'q', callScope }, sparse);
    assert.deepEqual(
      supported.candidates.map((hit) => `${hit.chunk.documentId}:${hit.chunk.chunkIndex}`),
      ['split:0', 'lone:0', 'split:1'],
    );
    assert.equal(supported.candidates[0]?.sparseScore, 9.8, 'the raw index score is kept');
    const plain = await retrieve({ index }, { access, query: 'q', callScope }, { ...sparse, documentSupportShare: 0 });
    assert.deepEqual(
      plain.candidates.map((hit) => hit.chunk.documentId),
      ['lone', 'split', 'split'],
    );
    assert.equal(requests.length, 2);
  });

  test('returns no_sources when nothing visible matches', async () => {
    const index = await indexWith({ a: ['password reset'] });
    const outcome = await retrieve({ index }, { access, query: 'quarterly revenue', callScope }, sparse);
    assert.equal(outcome.kind, 'no_sources');
  });

  test('dense and hybrid modes without an embedder fail with a configuration error', async () => {
    const index = await indexWith({ a: ['password reset'] });
    await assert.rejects(
      retrieve({ index }, { access, query: 'password', callScope }, { mode: 'hybrid', contextTokens: 500 }),
      (error: unknown) => error instanceof DeskhandError && error.code === 'configuration',
    );
  });

  test('the re-ranker re-orders by the model’s grades, drops grade-0 passages and fences passages as data', async () => {
    const index = await indexWith({
      first: ['password policy overview for admins'],
      second: ['reset a forgotten password from the login page'],
    });
    const gateway = new ScriptedModel().enqueue({
      value: {
        grades: [
          { passage: 1, relevance: 0 },
          { passage: 2, relevance: 3 },
        ],
      },
    });
    const outcome = await retrieve(
      { index, gateway },
      { access, query: 'password', callScope },
      { ...sparse, rerankerEnabled: true },
    );
    assert.equal(outcome.kind, 'retrieved');
    const passages = outcome.kind === 'retrieved' ? outcome.context.passages : [];
    assert.equal(passages.length, 1);
    const kept = passages[0]?.documentId;
    const [request] = gateway.calls.map((call) => call.request);
    const userMessage = request?.messages.find((message) => message.role === 'user')?.content ?? '';
    assert.match(userMessage, /<passage id="1">/);
    const secondShown = /<passage id="2">\n([^\n]*)/.exec(userMessage)?.[1] ?? '';
    assert.ok(secondShown.includes(kept === 'second' ? 'forgotten' : 'policy'), 'the passage graded 3 is the one kept');
  });

  test('a failing re-ranker degrades to the index order instead of failing the question', async () => {
    const index = await indexWith({ a: ['password reset steps'] });
    const gateway = new ScriptedModel().enqueue({ error: new DeskhandError('upstream_unavailable', 'model down') });
    const outcome = await retrieve(
      { index, gateway },
      { access, query: 'password', callScope },
      { ...sparse, rerankerEnabled: true },
    );
    assert.equal(outcome.kind, 'retrieved');
  });

  test('an over-budget re-ranker call is not hidden', async () => {
    const index = await indexWith({ a: ['password reset steps'] });
    const gateway = new ScriptedModel().enqueue({ error: new DeskhandError('over_budget', 'cap reached') });
    await assert.rejects(
      retrieve({ index, gateway }, { access, query: 'password', callScope }, { ...sparse, rerankerEnabled: true }),
      (error: unknown) => error instanceof DeskhandError && error.code === 'over_budget',
    );
  });
});
