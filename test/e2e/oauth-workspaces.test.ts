/**
 * OAuth distribution end to end, through the production composition (createApp + buildWorkSide, no model key)
 * against the fake Slack and a real Redis: two workspaces install Deskhand through the OAuth flow
 * (GET /slack/install → Slack's authorize URL with a signed state cookie → GET /slack/oauth_redirect?code&state →
 * oauth.v2.access), each one's `/ask` is answered with its own bot token, a document of one is invisible to the
 * other, and uninstalling one deletes its installation and data (audited) while the other keeps answering.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { eventFor, eventually, installThroughOAuth, type OAuthApp, startOAuthApp } from './oauth-support.ts';

const teamA = 'T0AAAOAUTH';
const teamB = 'T0BBBOAUTH';
const channelA = 'C0AAA';
const channelB = 'C0BBB';
const question = 'When does the loading dock in Bremen open?';

let harness: OAuthApp;

before(async () => {
  harness = await startOAuthApp({
    documents: [
      {
        workspaceId: teamA,
        text: '# Loading dock\n\nThe loading dock in Bremen opens at 6:15 on weekdays for parcel returns.',
      },
    ],
  });
});

after(async () => {
  await harness.close();
});

/**
 * Asks in a channel of a workspace — `/ask`, or a mention of Deskhand — and returns the answer and the tokens of
 * every call that addressed the channel meanwhile.
 */
async function askIn(
  teamId: string,
  channel: string,
  how: 'command' | 'mention' = 'command',
): Promise<{ answer: string; tokens: Set<string | undefined> }> {
  const { slack, driver } = harness;
  const before = slack.calls.length;
  if (how === 'command') {
    await driver.send(slackPayloads.slashCommand({ command: '/ask', text: question, channel, teamId }));
  } else {
    const text = `<@U0BOT> ask: ${question}`;
    const asked = slack.addMessage({ channel, user: 'W222', text });
    await driver.send(slackPayloads.appMention({ text, ts: asked.ts, channel, teamId }));
  }
  const answer = await eventually(
    () =>
      slack.calls
        .slice(before)
        .filter(
          (call) => call.params.channel === channel && /chat\.(update|postMessage|postEphemeral)/.test(call.method),
        )
        .map((call) => JSON.stringify([call.params.text, call.params.blocks]))
        .find((text) =>
          /Answered without a language model|found no|no documents|couldn.t find|could not find/i.test(text),
        ),
    `the /ask answer in ${channel}`,
  );
  const tokens = new Set(
    slack.calls
      .slice(before)
      .filter((call) => call.params.channel === channel)
      .map((call) => call.token),
  );
  return { answer, tokens };
}

describe('OAuth distribution: two workspaces', () => {
  test('install both, answer each with its own token, keep their documents apart, uninstall one', async () => {
    const { slack, redis, driver, keyPrefix, logLines } = harness;
    const tokenA = await installThroughOAuth(harness, teamA);
    const tokenB = await installThroughOAuth(harness, teamB);
    assert.notEqual(tokenA, tokenB);
    const stored = await redis.keys(`${keyPrefix}installation:*`);
    assert.deepEqual(stored.sort(), [
      `${keyPrefix}installation:team:${teamA}`,
      `${keyPrefix}installation:team:${teamB}`,
    ]);
    for (const key of stored) {
      const raw = (await redis.get(key)) ?? '';
      assert.ok(!raw.includes(tokenA) && !raw.includes(tokenB) && !raw.includes('xoxb-'), 'tokens are encrypted');
    }

    const inA = await askIn(teamA, channelA);
    assert.match(inA.answer, /opens at 6:15 on weekdays/, "workspace A's own document answers");
    assert.deepEqual([...inA.tokens], [tokenA], "every call for workspace A used A's token");

    const inB = await askIn(teamB, channelB);
    assert.doesNotMatch(inB.answer, /6:15/, "workspace A's document is invisible from workspace B");
    assert.deepEqual([...inB.tokens], [tokenB], "every call for workspace B used B's token");
    const mentionA = await askIn(teamA, channelA, 'mention');
    assert.match(mentionA.answer, /6:15/);
    assert.deepEqual([...mentionA.tokens], [tokenA], "a mention in A is answered with A's token");
    const mentionB = await askIn(teamB, channelB, 'mention');
    assert.doesNotMatch(mentionB.answer, /6:15/);
    assert.deepEqual([...mentionB.tokens], [tokenB], "a mention in B is answered with B's token");
    slack.expectNoViolations();

    // A uninstalls: its installation goes at once, its data shortly after (the work side's purger), audited.
    const keysOfA = async () => (await redis.keys(`${keyPrefix}*`)).filter((key) => key.includes(teamA));
    assert.ok((await keysOfA()).length > 0, 'workspace A has data to delete');
    await driver.send(eventFor(teamA, { type: 'app_uninstalled' }));
    const audit = await eventually(
      () => logLines.find((line) => line.audit === 'workspace_data_deleted' && line.workspaceId === teamA),
      'the audit entry of the deletion',
    );
    assert.equal((audit.deleted as Record<string, number>).documents, 1);
    assert.deepEqual(await keysOfA(), [], "none of workspace A's keys remain");
    assert.ok(await redis.exists(`${keyPrefix}installation:team:${teamB}`), "B's installation stays");

    // B revokes only a user token: nothing of B's is deleted.
    await driver.send(eventFor(teamB, { type: 'tokens_revoked', tokens: { oauth: ['W222'], bot: [] } }));
    const again = await askIn(teamB, channelB, 'mention');
    assert.deepEqual([...again.tokens], [tokenB], 'workspace B still answers with its own token');
    assert.ok(
      await redis.exists(`${keyPrefix}installation:team:${teamB}`),
      "B's installation survives a user-token revocation",
    );
    slack.expectNoViolations();
  });
});
