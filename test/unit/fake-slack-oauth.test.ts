import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebClient } from '@slack/web-api';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

let slack: FakeSlackWebApi;

before(async () => {
  slack = await FakeSlackWebApi.start();
});
after(async () => {
  await slack.close();
});

const client = () => new WebClient(undefined, { slackApiUrl: slack.url, retryConfig: { retries: 0 } });
const credentials = { client_id: 'fake-client-id', client_secret: 'fake-client-secret' };

describe('fake Slack: oauth.v2.access', () => {
  test('exchanges a one-time code for a bot token distinct per team, usable for later calls', async () => {
    const codeOne = slack.issueInstallCode({ teamId: 'T1OA', botUserId: 'U1OA' });
    const codeTwo = slack.issueInstallCode({ teamId: 'T2OA', botUserId: 'U2OA' });
    const one = await client().oauth.v2.access({ ...credentials, code: codeOne });
    const two = await client().oauth.v2.access({ ...credentials, code: codeTwo });
    assert.equal(one.team?.id, 'T1OA');
    assert.equal(one.token_type, 'bot');
    assert.equal(one.bot_user_id, 'U1OA');
    assert.ok(one.access_token?.startsWith('xoxb-'));
    assert.notEqual(one.access_token, two.access_token);
    const identity = await new WebClient(two.access_token, { slackApiUrl: slack.url }).auth.test();
    assert.equal(identity.team_id, 'T2OA');
    assert.equal(identity.user_id, 'U2OA');
    assert.equal(slack.callsTo('auth.test').at(-1)?.token, two.access_token);
    await assert.rejects(client().oauth.v2.access({ ...credentials, code: codeOne }), /invalid_code/);
    slack.expectNoViolations();
  });

  test('refuses wrong client credentials and, after revocation, the token', async () => {
    const code = slack.issueInstallCode({ teamId: 'T3OA' });
    await assert.rejects(
      client().oauth.v2.access({ ...credentials, client_secret: 'nope', code }),
      /bad_client_secret/,
    );
    const granted = await client().oauth.v2.access({ ...credentials, code });
    slack.revokeToken(granted.access_token as string);
    await assert.rejects(
      new WebClient(granted.access_token, { slackApiUrl: slack.url, retryConfig: { retries: 0 } }).auth.test(),
      /invalid_auth/,
    );
  });
});
