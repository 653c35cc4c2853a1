/**
 * `RemoteVectorIndex` (src/composition/worker/shared-index.ts): the embedded index on the other end of a
 * MessagePort, as the pool's work threads use it. The whole `VectorIndex` contract holds through it (every argument
 * and result crosses a structured clone); two connections see each other's writes at once (one index, not one per
 * thread); closing a connection leaves the index open; a connection whose other end goes away fails its calls
 * with a reason instead of hanging.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { RemoteVectorIndex, serveVectorIndex } from '../../src/composition/worker/shared-index.ts';
import { isDeskhandError } from '../../src/errors.ts';
import type { VectorIndex } from '../../src/ports/vector-index.ts';
import { makeChunks, vectorIndexContract } from './vector-index.contract.ts';

const dimensions = 16;

function connect(index: VectorIndex): { remote: RemoteVectorIndex; closeServer: () => void } {
  const { port1, port2 } = new MessageChannel();
  serveVectorIndex(port1, index);
  return { remote: new RemoteVectorIndex(port2), closeServer: () => port1.close() };
}

vectorIndexContract('RemoteVectorIndex (an embedded index across a MessagePort)', {
  dimensions,
  isolationQueries: 300,
  create: async () => {
    const index = new EmbeddedVectorIndex();
    const { remote, closeServer } = connect(index);
    return {
      index: remote,
      cleanup: async () => {
        await remote.close();
        closeServer();
        await index.close();
      },
    };
  },
});

describe('RemoteVectorIndex connections', () => {
  const chunk = (documentId: string, text: string) =>
    makeChunks({ workspaceId: 'W1', documentId, scope: 'workspace', texts: [text] }, dimensions);

  test('two connections share one index: a write through one is seen through the other at once', async () => {
    const index = new EmbeddedVectorIndex();
    const first = connect(index);
    const second = connect(index);
    await first.remote.replaceDocument('W1', 'refunds', chunk('refunds', 'refunds take a week'));
    assert.equal((await second.remote.getDocument('W1', 'refunds'))?.chunkCount, 1);
    assert.equal(await second.remote.indexVersion('W1'), 1);

    await first.remote.close();
    assert.equal(await first.remote.ping(), false);
    assert.equal(await second.remote.ping(), true, 'closing a connection does not close the index');
    assert.equal((await second.remote.listDocuments({ workspaceId: 'W1', channelId: 'C1' })).length, 1);
    second.closeServer();
    first.closeServer();
    await index.close();
  });

  test('an error keeps its code across the port', async () => {
    const index = new EmbeddedVectorIndex();
    const { remote, closeServer } = connect(index);
    await assert.rejects(remote.replaceDocument('W1', 'doc', chunk('other', 'mismatched id')), (error) => {
      assert.ok(isDeskhandError(error));
      assert.equal(error.code, 'invalid_input');
      return true;
    });
    await remote.close();
    closeServer();
    await index.close();
  });

  test('when the serving end goes away, pending and later calls fail with a reason', async () => {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', () => {}); // receives, never answers: as an index thread that died mid-call
    const remote = new RemoteVectorIndex(port2);
    const pending = remote.search({
      access: { workspaceId: 'W1', channelId: 'C1' },
      text: 'x',
      mode: 'sparse',
      limit: 5,
    });
    port1.close();
    await assert.rejects(pending, /the index thread stopped/);
    await assert.rejects(remote.indexVersion('W1'), /closed/);
    assert.equal(await remote.ping(), false);
  });
});
