/**
 * The fake Slack's `conversations.info`: every answer is a conversation object the official spec accepts
 * (`objs_conversation`), and `shareChannel` / `unshareChannel` switch the Slack Connect flags the app reads.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FakeSlackWebApi, slackWebApiSpecPath } from '../fakes/slack-web-api.ts';
import { OpenApiValidator } from '../fakes/spec-validator.ts';

let slack: FakeSlackWebApi;
// Slack's spec writes "one of these shapes" as an `items` list on `objs_conversation` (a channel, an IM), which a
// JSON Schema validator ignores on an object; it is checked here as the `anyOf` it means.
const slackSpec = OpenApiValidator.fromFile(slackWebApiSpecPath).document;
const definitions = slackSpec.definitions as Record<string, { items?: unknown[] }>;
const spec = new OpenApiValidator({
  swagger: '2.0',
  paths: {},
  definitions: { ...definitions, objs_conversation: { anyOf: definitions.objs_conversation?.items ?? [] } },
});

before(async () => {
  slack = await FakeSlackWebApi.start();
});
after(async () => {
  await slack.close();
});

async function info(channel: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${slack.url}conversations.info`, {
    method: 'POST',
    headers: { authorization: `Bearer ${slack.token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ channel }).toString(),
  });
  return (await response.json()) as Record<string, unknown>;
}

test('conversations.info answers spec-valid conversation objects with the sharing a test set', async () => {
  slack.shareChannel('C0CONNECT');
  slack.shareChannel('C0PENDING', { pending: true });
  slack.shareChannel('C0GRIDORG1', { orgOnly: true });
  const flags = (channel: Record<string, unknown>) =>
    [channel.is_shared, channel.is_ext_shared, channel.is_org_shared, channel.is_pending_ext_shared ?? false].join();
  const expected: Record<string, string> = {
    C0INTERNAL: 'false,false,false,false',
    C0CONNECT: 'true,true,false,false',
    C0PENDING: 'false,false,false,true',
    C0GRIDORG1: 'true,false,true,false',
    G0PRIVATE: 'false,false,false,false',
    D0DIRECT1: 'false,false,false,false',
  };
  for (const [id, sharing] of Object.entries(expected)) {
    const body = await info(id);
    assert.equal(body.ok, true, id);
    const channel = body.channel as Record<string, unknown>;
    assert.deepEqual(spec.validateSchema('objs_conversation', channel), { valid: true }, id);
    assert.equal(channel.id, id);
    assert.equal(flags(channel), sharing, id);
  }
  // The schema check is real: a malformed flag is refused.
  const broken = { ...((await info('C0CONNECT')).channel as Record<string, unknown>), is_ext_shared: 'yes' };
  assert.equal(spec.validateSchema('objs_conversation', broken).valid, false);
  slack.unshareChannel('C0CONNECT');
  assert.equal(flags((await info('C0CONNECT')).channel as Record<string, unknown>), 'false,false,false,false');
  assert.deepEqual(await info('not-a-channel'), { ok: false, error: 'channel_not_found' });
  slack.expectNoViolations();
});
