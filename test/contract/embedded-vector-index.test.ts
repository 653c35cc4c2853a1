import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { makeChunks, vectorIndexContract } from './vector-index.contract.ts';

const dimensions = 16;

function temporaryDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'deskhand-embedded-index-'));
}

vectorIndexContract('EmbeddedVectorIndex (persistent)', {
  dimensions,
  create: async () => {
    const directory = temporaryDirectory();
    let current = new EmbeddedVectorIndex({ directory });
    return {
      index: current,
      reopen: async () => {
        await current.close();
        current = new EmbeddedVectorIndex({ directory });
        await current.ensureReady();
        return current;
      },
      cleanup: async () => {
        await current.close();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  },
});

vectorIndexContract('EmbeddedVectorIndex (in memory)', {
  dimensions,
  isolationQueries: 300,
  create: async () => {
    const index = new EmbeddedVectorIndex();
    return { index, cleanup: () => index.close() };
  },
});

// The dense side's other modes: exact (every float resident, the reference) and the sign-bit cascade, each with
// a rescoring depth of 1 so the quantized candidates, not a rescoring of everything, decide what is found.
vectorIndexContract('EmbeddedVectorIndex (persistent, exact dense)', {
  dimensions,
  create: async () => {
    const directory = temporaryDirectory();
    let current = new EmbeddedVectorIndex({ directory, dense: { mode: 'exact' } });
    return {
      index: current,
      reopen: async () => {
        await current.close();
        current = new EmbeddedVectorIndex({ directory, dense: { mode: 'exact' } });
        await current.ensureReady();
        return current;
      },
      cleanup: async () => {
        await current.close();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  },
});

for (const dense of [
  { mode: 'exact' },
  { mode: 'quantized', rescore: 1 },
  { mode: 'quantized', rescore: 1, prefilter: 'binary' },
] as const) {
  vectorIndexContract(`EmbeddedVectorIndex (in memory, ${JSON.stringify(dense)})`, {
    dimensions,
    isolationQueries: 300,
    create: async () => {
      const index = new EmbeddedVectorIndex({ dense });
      return { index, cleanup: () => index.close() };
    },
  });
}

describe('EmbeddedVectorIndex crash safety', () => {
  const chunk = (documentId: string, text: string) =>
    makeChunks({ workspaceId: 'W1', documentId, scope: 'workspace', texts: [text] }, dimensions);

  test('drops a torn final log record and keeps every acknowledged change', async () => {
    const directory = temporaryDirectory();
    try {
      const index = new EmbeddedVectorIndex({ directory });
      await index.replaceDocument('W1', 'a', chunk('a', 'first document'));
      await index.replaceDocument('W1', 'b', chunk('b', 'second document'));
      await index.close();
      const logPath = join(directory, 'index.log');
      const goodSize = statSync(logPath).size;
      appendFileSync(logPath, '{"type":"replace","workspaceId":"W1","documentId":"c","vers');
      const reopened = new EmbeddedVectorIndex({ directory });
      assert.equal((await reopened.listDocuments({ workspaceId: 'W1', channelId: 'C1' })).length, 2);
      assert.equal(await reopened.indexVersion('W1'), 2);
      assert.equal(statSync(logPath).size, goodSize, 'the torn tail was truncated');
      await reopened.replaceDocument('W1', 'c', chunk('c', 'third document'));
      await reopened.close();
      const third = new EmbeddedVectorIndex({ directory });
      assert.equal((await third.getDocument('W1', 'c'))?.chunkCount, 1);
      await third.close();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test('compaction writes a snapshot, empties the log and loses nothing', async () => {
    const directory = temporaryDirectory();
    try {
      const index = new EmbeddedVectorIndex({ directory });
      for (let round = 0; round < 5; round += 1) {
        await index.replaceDocument('W1', `d${round}`, chunk(`d${round}`, `document ${round} about refunds`));
      }
      await index.deleteDocument('W1', 'd0');
      await index.compact();
      assert.equal(statSync(join(directory, 'index.log')).size, 0);
      assert.match(readFileSync(join(directory, 'snapshot.jsonl'), 'utf8'), /"type":"header"/);
      await index.replaceDocument('W1', 'd9', chunk('d9', 'after the snapshot'));
      await index.close();
      const reopened = new EmbeddedVectorIndex({ directory });
      const documents = await reopened.listDocuments({ workspaceId: 'W1', channelId: 'C1' });
      assert.deepEqual(documents.map((document) => document.documentId).sort(), ['d1', 'd2', 'd3', 'd4', 'd9']);
      assert.equal(await reopened.indexVersion('W1'), 7);
      const hits = await reopened.search({
        access: { workspaceId: 'W1', channelId: 'C1' },
        text: 'refunds',
        mode: 'sparse',
        limit: 10,
      });
      assert.equal(hits.length, 4);
      await reopened.close();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test('refuses a dense vector whose dimensions differ from the index’s', async () => {
    const index = new EmbeddedVectorIndex();
    await index.replaceDocument('W1', 'a', chunk('a', 'sixteen dimensions'));
    const wrong = makeChunks({ workspaceId: 'W1', documentId: 'b', scope: 'workspace', texts: ['eight'] }, 8);
    await assert.rejects(index.replaceDocument('W1', 'b', wrong), /dimensions/);
    await index.close();
  });
});
