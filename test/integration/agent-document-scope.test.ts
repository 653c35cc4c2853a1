/**
 * A run started from Slack's assistant view reads the documents of the channel the person is viewing (the
 * request's `documentScope`, verified on the work side), not the DM's; with scope `none` its search tool reads
 * nothing and the model is told why. Real Redis, the real gateway against the fake model, the real run loop.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTaskHandler } from '../../src/capabilities/agent/agent-handlers.ts';
import type { SearchDocuments } from '../../src/capabilities/agent/tools/search-documents.ts';
import type { CapabilityRequest, DocumentScopeOverride } from '../../src/ports/capability.ts';
import { RequestReply } from '../../src/router/request-reply.ts';
import { call, harnessPerTest, workspaceId } from './agent-harness.ts';

const withHarness = harnessPerTest();
const dmChannel = 'D0ASSISTANT';
const viewedChannel = 'C0VIEWED';

type SentBody = { messages: { role: string; content: string | null }[] };

async function runFromAssistantThread(documentScope: DocumentScopeOverride | undefined) {
  const searched: Parameters<SearchDocuments>[0][] = [];
  const h = await withHarness({
    search: async (request) => {
      searched.push(request);
      return [{ title: 'Refunds', source: 'refunds.md', text: 'Refunds take 5 days.' }];
    },
  });
  h.fake.enqueueChat({ toolCalls: [call('search_documents', { query: 'refund policy' })] });
  h.fake.enqueueChat({ content: 'Done.' });
  const request: CapabilityRequest = {
    origin: 'mention',
    route: 'task',
    workspaceId,
    channelId: dmChannel,
    userId: 'U0REQUESTER',
    text: 'Find our refund policy',
    messageTs: '1700000000.000300',
    threadTs: '1700000000.000100',
    requestId: 'assistant-req-1',
    threadContext: [],
    ...(documentScope ? { documentScope } : {}),
  };
  const reply = await createTaskHandler(h.service)(request, new RequestReply(request, h.messenger));
  assert.equal(reply.kind, 'reply');
  await h.waitForIdleQueue();
  const runId = (await h.runs.recentRuns(workspaceId, 'U0REQUESTER', 1)).runs[0]?.runId ?? '';
  const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
  const bodies = h.fake.chatCalls() as SentBody[];
  const observation = bodies[1]?.messages.at(-1)?.content ?? '';
  return { ended, searched, observation };
}

test('a run from the assistant view searches the viewed channel, not the DM, and keeps that scope in its checkpoint', async () => {
  const { ended, searched, observation } = await runFromAssistantThread({ kind: 'channel', channelId: viewedChannel });
  assert.deepEqual(ended.documentScope, { kind: 'channel', channelId: viewedChannel });
  assert.equal(ended.channelId, dmChannel, 'the run still reports in the assistant thread');
  assert.deepEqual(
    searched.map((request) => request.access),
    [{ workspaceId, channelId: viewedChannel }],
  );
  assert.match(observation, /Refunds take 5 days/);
});

test('a run whose scope is none searches nothing and the model is told why', async () => {
  const { ended, searched, observation } = await runFromAssistantThread({
    kind: 'none',
    reason: 'not_a_member',
  });
  assert.equal(ended.outcome?.kind, 'finished');
  assert.deepEqual(searched, [], 'the search was never called');
  assert.match(observation, /No documents were searched: .*not_a_member/);
  assert.doesNotMatch(observation, /Refunds take 5 days/);
});

test('a run without a document scope searches its own channel as before', async () => {
  const { ended, searched } = await runFromAssistantThread(undefined);
  assert.equal(ended.documentScope, undefined);
  assert.deepEqual(
    searched.map((request) => request.access),
    [{ workspaceId, channelId: dmChannel }],
  );
});
