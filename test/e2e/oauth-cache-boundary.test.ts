/**
 * OAuth distribution, with a model: the response cache never crosses workspaces. Both workspaces hold the same
 * document and ask the same question in the same channel id (a Slack Connect channel has one id in both), so the
 * model request is the same byte for byte — only the workspace in the cache key keeps B from being served A's
 * cached answer. A asking again is served from the cache, which shows the
 * cache was there to be probed. A's feedback button clicked from B (same channel id) is refused; from A, counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { eventually, installThroughOAuth, type OAuthApp, startOAuthApp } from './oauth-support.ts';

const teamA = 'T0CACHEA';
const teamB = 'T0CACHEB';
const document = '# Loading dock\n\nThe loading dock in Bremen opens at 6:15 on weekdays for parcel returns.';
const question = 'When does the loading dock in Bremen open?';
const sharedChannel = 'C0SHARED';

let openai: FakeOpenAIServer;
let harness: OAuthApp;

before(async () => {
  openai = await FakeOpenAIServer.start({ whenEmpty: 'error' });
  harness = await startOAuthApp({
    documents: [
      { workspaceId: teamA, text: document },
      { workspaceId: teamB, text: document },
    ],
    environment: { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: openai.baseURL, RETRIEVAL_MODE: 'sparse' },
  });
});

after(async () => {
  await harness.close();
  await openai.close();
});

/** Sends `/ask` in a workspace's channel and waits until a call to that channel carries `expected`. */
async function ask(teamId: string, channel: string, expected: RegExp): Promise<Set<string | undefined>> {
  const { slack, driver } = harness;
  const before = slack.calls.length;
  await driver.send(slackPayloads.slashCommand({ command: '/ask', text: question, channel, teamId }));
  await eventually(
    () =>
      slack.calls
        .slice(before)
        .find((call) => call.params.channel === channel && expected.test(JSON.stringify(call.params))),
    `an answer matching ${expected} in ${channel}`,
  );
  // The reply may still be finishing (a stream's last call): wait until Slack hears nothing more for 2 s (edits of one message are paced 1.5 s apart).
  let seen = -1;
  while (seen !== slack.calls.length) {
    seen = slack.calls.length;
    await sleep(2_000);
  }
  return new Set(
    slack.calls
      .slice(before)
      .filter((call) => call.params.channel === channel)
      .map((call) => call.token),
  );
}

/** The answer id on the "helpful" button of the answers these calls posted. */
function feedbackValueOf(calls: { params: Record<string, unknown> }[]): string {
  const values: string[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      const element = node as Record<string, unknown>;
      if (element.action_id === 'answer_helpful' && typeof element.value === 'string') values.push(element.value);
      Object.values(element).forEach(visit);
    }
  };
  for (const call of calls) visit(call.params);
  const value = values.at(-1);
  assert.ok(value, 'the answer carries feedback buttons');
  return value;
}

describe('OAuth distribution: the response cache and feedback buttons per workspace', () => {
  test("the same question over the same document in another workspace is not served the first one's cached answer", async () => {
    const tokenA = await installThroughOAuth(harness, teamA);
    const tokenB = await installThroughOAuth(harness, teamB);

    openai.enqueueChat({ content: 'Workspace A hears: it opens at 6:15 [1].' });
    assert.deepEqual([...(await ask(teamA, sharedChannel, /Workspace A hears/))], [tokenA]);
    assert.equal(openai.chatCalls().length, 1);

    openai.enqueueChat({ content: 'Workspace B hears: it opens at 6:15 [1].' });
    assert.deepEqual([...(await ask(teamB, sharedChannel, /Workspace B hears/))], [tokenB]);
    assert.equal(
      openai.chatCalls().length,
      2,
      "B's identical request reached the model: no cache hit across workspaces",
    );
    const [first, second] = openai.chatCalls();
    assert.deepEqual(second?.messages, first?.messages, 'the two model requests were the same');

    assert.deepEqual([...(await ask(teamA, sharedChannel, /Workspace A hears/))], [tokenA]);
    assert.equal(openai.chatCalls().length, 2, 'A asking again is served from its own cache');

    // A button click across the boundary: B's user clicks A's feedback button in the shared channel.
    const answerId = feedbackValueOf(harness.slack.calls.filter((call) => call.token === tokenA));
    const replyTo = async (teamId: string) => {
      const before = harness.slack.ephemeralMessages.length;
      await harness.driver.send(
        slackPayloads.blockActions({ actionId: 'answer_helpful', value: answerId, channel: sharedChannel, teamId }),
      );
      return eventually(() => harness.slack.ephemeralMessages.slice(before)[0], `the vote reply in ${teamId}`);
    };
    // Feedback is kept per workspace, so B finds no such answer at all (A's answer id is unknown to B).
    assert.match((await replyTo(teamB)).text, /belongs to no answer of this workspace/);
    assert.equal(harness.slack.callsTo('chat.postEphemeral').at(-1)?.token, tokenB);
    assert.match((await replyTo(teamA)).text, /noted as helpful/);
    assert.equal(harness.slack.callsTo('chat.postEphemeral').at(-1)?.token, tokenA);
    harness.slack.expectNoViolations();
  });
});
