import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { closestDocuments, createRetriever, termCoverage } from '../../src/capabilities/answers/retrieval-adapter.ts';
import { ingestText } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { DeskhandError } from '../../src/errors.ts';
import type { Embedder } from '../../src/ports/embedder.ts';

const workspaceId = 'T0ADAPTER';
const access = { workspaceId, channelId: 'C0ONE' };
const callScope = { ...access };

describe('relevance gate', () => {
  test('term coverage counts content terms only, stemmed', () => {
    assert.equal(termCoverage('How do I install the printers?', 'Installing a printer takes a minute.'), 1);
    assert.equal(termCoverage('What does the CEO have for breakfast?', 'The printer manual.'), 0);
    assert.equal(termCoverage('the and of', 'anything'), 0);
  });
});

describe('createRetriever over the embedded index (sparse)', () => {
  const index = new EmbeddedVectorIndex({ sync: false });

  before(async () => {
    await index.ensureReady();
    const documents = [
      [
        'channel:C0ONE',
        'https://wiki.example.com/printers',
        'Printers',
        '# Printers\n\nTo install a printer, open Settings and choose Add printer.',
      ],
      [
        'workspace',
        'https://wiki.example.com/holidays',
        'Holidays',
        '# Holidays\n\nThe office is closed on public holidays.',
      ],
      [
        'channel:C0TWO',
        'https://wiki.example.com/salaries',
        'Salaries',
        '# Salaries\n\nSalaries are paid on the 25th.',
      ],
    ] as const;
    for (const [scope, source, title, text] of documents) {
      await ingestText({ workspaceId, scope, source, title, text, format: 'markdown' }, { index, callScope });
    }
  });
  after(() => index.close());

  test('passes a question the channel’s documents answer, with metadata mapped onto the sources', async () => {
    const retrieve = createRetriever({ index }, { mode: 'sparse', contextTokens: 1000 });
    const context = await retrieve({ question: 'How do I install a printer?', access, callScope });
    assert.equal(context.passages[0]?.title, 'Printers');
    assert.equal(context.passages[0]?.source, 'https://wiki.example.com/printers');
    assert.deepEqual(context.passages[0]?.chunkIndexes, [0]);
    assert.equal(context.indexVersion, await index.indexVersion(workspaceId));
  });

  test('gates a question that only shares a stray word with the documents', async () => {
    const retrieve = createRetriever({ index }, { mode: 'sparse', contextTokens: 1000 });
    const context = await retrieve({
      question: 'Which public speaker opens the annual gala dinner?',
      access,
      callScope,
    });
    assert.deepEqual(context.passages, []);
    assert.equal(context.closest[0]?.title, 'Holidays');
  });

  test('never returns another channel’s document, as a passage or as a closest document', async () => {
    const retrieve = createRetriever({ index }, { mode: 'sparse', contextTokens: 1000 });
    const context = await retrieve({ question: 'When are salaries paid?', access, callScope });
    assert.ok(context.passages.every((passage) => passage.title !== 'Salaries'));
    assert.ok(context.closest.every((document) => document.title !== 'Salaries'));
  });

  test('sparseOnly skips the embedder entirely', async () => {
    let embedCalls = 0;
    const refusing: Embedder = {
      model: 'test',
      dimensions: 8,
      async embed() {
        embedCalls += 1;
        throw new DeskhandError('over_budget', 'no money');
      },
    };
    const retrieve = createRetriever({ index, embedder: refusing }, { mode: 'hybrid', contextTokens: 1000 });
    await assert.rejects(retrieve({ question: 'install printer', access, callScope }), /no money/);
    const context = await retrieve({ question: 'install printer', access, callScope, sparseOnly: true });
    assert.equal(context.passages[0]?.title, 'Printers');
    assert.equal(embedCalls, 1);
  });

  test('reports the query embedding’s usage as the embedder returned it, without counting the query again', async () => {
    const texts: string[] = [];
    const reporting: Embedder = {
      model: 'test',
      dimensions: 8,
      async embed(batch) {
        texts.push(...batch);
        // Deliberately not a token count of the query: the retriever must pass on what the embedder reported.
        return { vectors: batch.map(() => new Float32Array(8).fill(0.5)), inputTokens: 1234, costMicroUsd: 7 };
      },
    };
    const retrieve = createRetriever({ index, embedder: reporting }, { mode: 'hybrid', contextTokens: 1000 });
    const context = await retrieve({ question: 'How do I install a printer?', access, callScope });
    assert.deepEqual(texts, ['How do I install a printer?']);
    // The embedding's cost is charged to the budget by the gateway; an answer's shown cost is its chat calls.
    assert.deepEqual(context.usage, { modelCalls: 1, inputTokens: 1234, costMicroUsd: 0 });
  });

  test('closestDocuments keeps one entry per document in rank order', () => {
    const chunk = (documentId: string) =>
      ({ chunk: { documentId, title: documentId, source: `s/${documentId}` }, score: 1 }) as unknown as Parameters<
        typeof closestDocuments
      >[0][number];
    assert.deepEqual(
      closestDocuments([chunk('a'), chunk('a'), chunk('b'), chunk('c')], 2).map((document) => document.documentId),
      ['a', 'b'],
    );
  });
});
