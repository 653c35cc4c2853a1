import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { loadConfiguration } from '../../src/composition/config.ts';

const signing = { SLACK_SIGNING_SECRET: 'a-signing-secret' };
const key = randomBytes(32).toString('base64');
const oauth = {
  SLACK_CLIENT_ID: '111.222',
  SLACK_CLIENT_SECRET: 'client-secret',
  SLACK_STATE_SECRET: 'a-long-random-state-secret',
};

function problems(environment: Record<string, string>): string[] {
  const result = loadConfiguration(environment);
  return result.ok ? [] : result.problems;
}

describe('OAuth distribution configuration', () => {
  test('single-token mode stays the default and has no OAuth settings', () => {
    const result = loadConfiguration({ ...signing, SLACK_BOT_TOKEN: 'xoxb-1' });
    assert.ok(result.ok);
    assert.equal(result.configuration.slack.oauth, undefined);
    assert.equal(result.configuration.slack.botToken, 'xoxb-1');
  });

  test('all three OAuth variables and a key: OAuth mode, no bot token needed', () => {
    const result = loadConfiguration({ ...signing, ...oauth, INSTALLATION_ENCRYPTION_KEY: key });
    assert.ok(result.ok, problems({ ...signing, ...oauth, INSTALLATION_ENCRYPTION_KEY: key }).join('\n'));
    assert.equal(result.configuration.slack.oauth?.clientId, '111.222');
    assert.equal(result.configuration.slack.oauth?.encryptionKeys, `k1:${key}`);
    assert.equal(result.configuration.slack.botToken, '');
  });

  test('some but not all of the three: says which are missing and that it is all or none', () => {
    const found = problems({ ...signing, SLACK_CLIENT_ID: '1.2', INSTALLATION_ENCRYPTION_KEY: key });
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0] ?? '', /^SLACK_CLIENT_SECRET and SLACK_STATE_SECRET must be set too: .* or none of them/);
  });

  test('OAuth mode without an encryption key is refused', () => {
    const found = problems({ ...signing, ...oauth });
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0] ?? '', /^INSTALLATION_ENCRYPTION_KEY \(or INSTALLATION_ENCRYPTION_KEYS\) is required/);
  });

  test('a key that is not 32 bytes, or a ring without key ids, is named without echoing it', () => {
    const short = problems({ ...signing, ...oauth, INSTALLATION_ENCRYPTION_KEY: 'c2hvcnQ=' });
    assert.match(short[0] ?? '', /^INSTALLATION_ENCRYPTION_KEY is invalid: key k1 must be 32 bytes/);
    assert.ok(!short[0]?.includes('c2hvcnQ'));
    const ring = problems({ ...signing, ...oauth, INSTALLATION_ENCRYPTION_KEYS: `${key},${key}` });
    assert.match(ring[0] ?? '', /^INSTALLATION_ENCRYPTION_KEYS is invalid: entry 1 needs a key id/);
    const rotated = loadConfiguration({ ...signing, ...oauth, INSTALLATION_ENCRYPTION_KEYS: `new:${key},k1:${key}` });
    assert.ok(rotated.ok);
    assert.equal(rotated.configuration.slack.oauth?.encryptionKeys, `new:${key},k1:${key}`);
  });

  test('OAuth distribution with Socket Mode is refused: the install routes are served over HTTP', () => {
    const found = problems({ ...signing, ...oauth, INSTALLATION_ENCRYPTION_KEY: key, SLACK_APP_TOKEN: 'xapp-1' });
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0] ?? '', /^SLACK_APP_TOKEN must be unset with OAuth distribution/);
  });

  test('neither a bot token nor OAuth: the bot token is reported missing with both ways out', () => {
    const found = problems({ ...signing });
    assert.equal(found.length, 1);
    assert.match(found[0] ?? '', /^SLACK_BOT_TOKEN is required but not set .* or set SLACK_CLIENT_ID/);
  });
});
