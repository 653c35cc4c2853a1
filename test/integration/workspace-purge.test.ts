import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { AnswerOutcome } from '../../src/capabilities/answers/answer-outcome.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { RecentFileShares } from '../../src/capabilities/answers/shared-files.ts';
import { UploaderStore } from '../../src/capabilities/answers/uploader-store.ts';
import { DeskhandError } from '../../src/errors.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { RedisThreadMemory } from '../../src/router/thread-memory.ts';
import { requestPurge, WorkspacePurger } from '../../src/slack/installations/workspace-purge.ts';
import { makeChunks } from '../contract/vector-index.contract.ts';
import { MemoryVectorIndex } from '../fakes/memory-vector-index.ts';

const prefix = `test:${randomUUID()}:`;
const gone = 'T1GONE';
const kept = 'T2KEPT';
let redis: Redis;
const lines: Record<string, unknown>[] = [];
const logger = createLogger({
  level: 'info',
  destination: new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  }),
});

function answer(answerId: string): AnswerOutcome {
  return {
    kind: 'answered',
    answerId,
    question: 'Refunds?',
    standaloneQuestion: 'Refunds?',
    rewritten: false,
    usage: { modelCalls: 1, cacheHits: 0, inputTokens: 1, outputTokens: 1, costMicroUsd: 1, savedMicroUsd: 0 },
    markdown: 'Five days.',
    mrkdwn: 'Five days.',
    cited: [],
    sources: [],
    grounded: true,
    truncated: false,
    fromCache: false,
    model: 'gpt-4o-mini',
    indexVersion: 1,
  };
}

/** Writes one of each kind of per-workspace data through the stores (or their documented key formats). */
async function seed(workspaceId: string, index: MemoryVectorIndex, feedback: FeedbackStore): Promise<string> {
  await new RedisThreadMemory({ redis, keyPrefix: prefix }).remember(
    { workspaceId, channelId: 'C1', threadTs: '1.000' },
    'question',
  );
  await new RecentFileShares(redis, { keyPrefix: prefix }).record(workspaceId, 'C1', 'U1', 'F1');
  await new UploaderStore(redis, { keyPrefix: prefix }).recordFirst(workspaceId, 'doc', 'U1');
  await redis.set(`${prefix}{${workspaceId}}:cache:abc`, 'cached answer');
  await redis.hset(`${prefix}{${workspaceId}}:budget:reserved`, 'ws:d:2026-12-04', '5');
  await redis.hset(`${prefix}{${workspaceId}}:settings`, 'json', '{"approvers":["U1"]}', 'version', '1');
  await redis.lpush(`${prefix}{${workspaceId}}:settings:audit`, '{}');
  await redis.set(`${prefix}agent:{${workspaceId}}:approval:R1`, '{}');
  await redis.zadd(`${prefix}agent:approvals:expiring`, Date.now() + 60_000, `${workspaceId}|R1`);
  await redis.set(`${prefix}ticket:{${workspaceId}}:draft:D1`, '{}');
  await redis.set(`${prefix}embedding:${workspaceId}:model:1536:hash`, 'vector');
  await redis.set(`${prefix}index-version:${workspaceId}`, '3');
  const answerId = randomUUID();
  await feedback.recordAnswer(answer(answerId), { workspaceId, channelId: 'C1' });
  await feedback.vote({ answerId, workspaceId, channelId: 'C1', userId: 'U1', helpful: true });
  await index.replaceDocument(
    workspaceId,
    'private',
    makeChunks({ workspaceId, documentId: 'private', scope: 'channel:C1', texts: ['secret'] }, 8),
  );
  return answerId;
}

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('WorkspacePurger', () => {
  test("a requested purge deletes every kind of the workspace's data, audits it, and leaves the other workspace", async () => {
    const index = new MemoryVectorIndex();
    const feedback = new FeedbackStore(redis, { keyPrefix: prefix });
    await seed(gone, index, feedback);
    const keptAnswer = await seed(kept, index, feedback);
    const keptKeys = (await redis.keys(`${prefix}*`)).filter((key) => key.includes(kept)).sort();
    const installations = new Set([gone, kept]);
    const forgotten: string[] = [];
    const purger = new WorkspacePurger({
      redis,
      keyPrefix: prefix,
      vectorIndex: index,
      logger,
      deleteInstallation: async (workspaceId) => installations.delete(workspaceId),
      forgetInMemory: async (workspaceId) => {
        forgotten.push(workspaceId);
      },
    });

    await requestPurge(redis, prefix, gone, 'app_uninstalled');
    assert.deepEqual(await purger.runDue(), [gone]);
    assert.deepEqual(await purger.runDue(), [], 'done once, then no longer pending');

    const left = (await redis.keys(`${prefix}*`)).filter((key) => key.includes(gone));
    assert.deepEqual(left, [], `keys of the uninstalled workspace remain: ${left.join(', ')}`);
    assert.deepEqual(await redis.zrange(`${prefix}agent:approvals:expiring`, '0', '-1'), [`${kept}|R1`]);
    assert.deepEqual(index.chunksOf(gone), []);
    assert.equal(index.chunksOf(kept).length, 1);
    assert.deepEqual([...installations], [kept]);
    assert.deepEqual(forgotten, [gone]);
    assert.ok(await feedback.answer(keptAnswer, kept), "the other workspace's feedback stays");
    const keptAfter = (await redis.keys(`${prefix}*`)).filter((key) => key.includes(kept)).sort();
    assert.deepEqual(keptAfter, keptKeys);

    const audit = lines.find((line) => line.audit === 'workspace_data_deleted');
    assert.ok(audit, 'an audit log entry is written');
    assert.equal(audit.workspaceId, gone);
    assert.equal(audit.reason, 'app_uninstalled');
    const deleted = audit.deleted as Record<string, number>;
    assert.equal(deleted.documents, 1);
    assert.equal(deleted.installation, 1);
    // The answer, its votes, the workspace's voted index and tally: all under the workspace's hash tag now; the
    // scan for feedback in the older untagged layout finds none.
    assert.equal(deleted.answer_feedback, 4);
    assert.equal(deleted.feedback, 0);
    for (const kind of ['response_cache', 'budgets', 'thread_memory', 'recent_file_shares', 'tickets']) {
      assert.equal(deleted[kind], 1, kind);
    }
    assert.equal(deleted.approvals_and_agent_runs, 1);
    assert.equal(deleted.settings, 2, 'the settings and their audit list');
    assert.equal(deleted.approvalsExpiring, 1);
  });

  test('a workspace id that could widen the key pattern is refused before anything is deleted', async () => {
    await assert.rejects(requestPurge(redis, prefix, '*', 'app_uninstalled'), DeskhandError);
    const purger = new WorkspacePurger({
      redis,
      keyPrefix: prefix,
      vectorIndex: new MemoryVectorIndex(),
      logger,
      deleteInstallation: async () => false,
    });
    await assert.rejects(purger.purge('T1*', 'tokens_revoked'), DeskhandError);
  });
});
