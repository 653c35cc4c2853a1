import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebClient } from '@slack/web-api';
import { DeskhandError } from '../../src/errors.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { withWorkspace } from '../../src/ports/workspace-scope.ts';
import { InstallationTokens } from '../../src/slack/installations/installation-tokens.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { WorkspaceMessenger } from '../../src/slack/outbound/workspace-messenger.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

let slack: FakeSlackWebApi;
const logger = createSilentLogger();
const tokens = new Map<string, string>();

before(async () => {
  slack = await FakeSlackWebApi.start();
  const oauth = new WebClient(undefined, { slackApiUrl: slack.url });
  for (const teamId of ['T1WM', 'T2WM']) {
    const code = slack.issueInstallCode({ teamId });
    const granted = await oauth.oauth.v2.access({
      client_id: 'fake-client-id',
      client_secret: 'fake-client-secret',
      code,
    });
    tokens.set(teamId, granted.access_token as string);
  }
});
after(async () => {
  await slack.close();
});

function messenger(): WorkspaceMessenger {
  const installations = new InstallationTokens({
    store: {
      installationOf: async (tenantId) => {
        const token = tokens.get(tenantId);
        return token
          ? {
              team: { id: tenantId },
              enterprise: undefined,
              user: { id: 'U1', token: undefined, scopes: undefined },
              bot: { token, id: 'B1', userId: 'U0BOT', scopes: [] },
            }
          : undefined;
      },
    },
  });
  return new WorkspaceMessenger({
    tokenOf: async (workspaceId) => (await installations.botOf(workspaceId)).token,
    client: (token) => createSlackWebClient({ token, apiUrl: slack.url, timeoutMs: 2_000 }),
    create: (client) => new SlackMessenger({ client, logger, postIntervalMs: 0 }),
    logger,
  });
}

describe('WorkspaceMessenger', () => {
  test("each workspace's calls go out with that workspace's own token", async () => {
    const shared = messenger();
    await Promise.all([
      withWorkspace('T1WM', () => shared.post({ channel: 'C1', text: 'for one' })),
      withWorkspace('T2WM', () => shared.post({ channel: 'C2', text: 'for two' })),
    ]);
    const byChannel = Object.fromEntries(
      slack.callsTo('chat.postMessage').map((call) => [call.params.channel, call.token]),
    );
    assert.equal(byChannel.C1, tokens.get('T1WM'));
    assert.equal(byChannel.C2, tokens.get('T2WM'));
    assert.notEqual(byChannel.C1, byChannel.C2);
    slack.expectNoViolations();
  });

  test('a call outside any workspace, or for a workspace without an installation, is refused and sends nothing', async () => {
    const shared = messenger();
    const before = slack.calls.length;
    await assert.rejects(shared.post({ channel: 'C1', text: 'whose?' }), (error: unknown) => {
      return error instanceof DeskhandError && error.code === 'internal';
    });
    await assert.rejects(
      withWorkspace('T9GONE', () => shared.post({ channel: 'C1', text: 'uninstalled' })),
      (error: unknown) => error instanceof DeskhandError && error.code === 'not_authorised',
    );
    assert.equal(slack.calls.length, before);
  });

  test('the bot ids of a workspace are known once its installation was read, without the token, until forgotten', async () => {
    const tokensOf = new InstallationTokens({
      store: {
        installationOf: async (tenantId) => ({
          team: { id: tenantId },
          enterprise: undefined,
          user: { id: 'U1', token: undefined, scopes: undefined },
          bot: { token: 'xoxb-secret', id: `B${tenantId}`, userId: `U${tenantId}`, scopes: [] },
        }),
      },
    });
    assert.equal(tokensOf.botIdsOf('T1ID'), undefined);
    await tokensOf.botOf('T1ID');
    assert.deepEqual(tokensOf.botIdsOf('T1ID'), { botUserId: 'UT1ID', botId: 'BT1ID' });
    assert.equal(tokensOf.botIdsOf('T2ID'), undefined, 'another workspace gets nothing of it');
    tokensOf.forget('T1ID');
    assert.equal(tokensOf.botIdsOf('T1ID'), undefined);
  });
});
