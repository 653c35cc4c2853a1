import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { documentScopeForViewedChannel } from '../../src/capabilities/assistant/viewed-channel-scope.ts';
import { routeMentionByRules } from '../../src/router/route-rules.ts';
import {
  assistantSuggestedPrompts,
  assistantThreadTitle,
  maxTitleCharacters,
  noDocumentsMessage,
} from '../../src/slack-kit/assistant-text.ts';

describe('assistant suggested prompts', () => {
  test('at most four, and each is routed by the rules (a click needs no classification call)', () => {
    assert.ok(assistantSuggestedPrompts.length >= 3 && assistantSuggestedPrompts.length <= 4);
    const routes = assistantSuggestedPrompts.map((prompt) => routeMentionByRules(prompt.message));
    assert.deepEqual(routes, ['question', 'ticket', 'task', 'help']);
  });
});

describe('assistantThreadTitle', () => {
  test('one line, control characters and runs of space collapsed, markup escaped', () => {
    assert.equal(
      assistantThreadTitle('  How do\nI\treset\u0000 <@U1> & <!channel>?  '),
      'How do I reset &lt;@U1&gt; &amp; &lt;!channel&gt;?',
    );
  });

  test('bounded to the maximum with an ellipsis, never cutting an entity', () => {
    const title = assistantThreadTitle(`${'a'.repeat(maxTitleCharacters - 3)}&&&&`);
    assert.ok(title.length <= maxTitleCharacters);
    assert.ok(title.endsWith('…'));
    assert.doesNotMatch(title, /&a?m?p?…$/);
    assert.ok(assistantThreadTitle('x'.repeat(100_000)).length <= maxTitleCharacters);
  });

  test('an empty or blank question still gets a title', () => {
    assert.equal(assistantThreadTitle(' \n\t '), 'Question for Deskhand');
  });
});

describe('documentScopeForViewedChannel', () => {
  const member = { isMember: async () => true };
  const context = { channelId: 'C1AAA', teamId: 'T111' };

  test('the viewed channel of this workspace, when the user is in it and channel control admits it', async () => {
    assert.deepEqual(await documentScopeForViewedChannel('T111', 'W1', context, member), {
      kind: 'channel',
      channelId: 'C1AAA',
    });
    // An org-wide install is the enterprise.
    assert.deepEqual(
      await documentScopeForViewedChannel(
        'E111',
        'W1',
        { channelId: 'C1AAA', teamId: 'T222', enterpriseId: 'E111' },
        member,
      ),
      { kind: 'channel', channelId: 'C1AAA' },
    );
  });

  test('fails closed: no channel, another workspace, not a member, unknown membership, not admitted', async () => {
    const reason = async (...args: Parameters<typeof documentScopeForViewedChannel>) => {
      const scope = await documentScopeForViewedChannel(...args);
      return scope.kind === 'none' ? scope.reason : `channel ${scope.channelId}`;
    };
    assert.equal(await reason('T111', 'W1', { teamId: 'T111' }, member), 'no_viewed_channel');
    assert.equal(await reason('T111', 'W1', { channelId: 'C1AAA', teamId: 'T999' }, member), 'other_workspace');
    assert.equal(await reason('T111', 'W1', { channelId: 'C1AAA' }, member), 'other_workspace');
    assert.equal(await reason('T111', 'W1', context, { isMember: async () => false }), 'not_a_member');
    assert.equal(await reason('T111', 'W1', context, { isMember: async () => undefined }), 'membership_unknown');
    const failing = { isMember: async () => Promise.reject(new Error('slack down')) };
    assert.equal(await reason('T111', 'W1', context, failing), 'membership_unknown');
    assert.equal(
      await reason('T111', 'W1', context, { ...member, channelAdmitted: async () => false }),
      'channel_not_allowed',
    );
    const broken = { ...member, channelAdmitted: async () => Promise.reject(new Error('settings down')) };
    assert.equal(await reason('T111', 'W1', context, broken), 'channel_not_allowed');
  });

  test('every reason has a message that names no id', () => {
    for (const reason of [
      'no_viewed_channel',
      'other_workspace',
      'not_a_member',
      'membership_unknown',
      'channel_not_allowed',
      'context_unavailable',
    ]) {
      const message = noDocumentsMessage(reason);
      assert.ok(message.length > 20);
      assert.doesNotMatch(message, /[CDGTWUE][A-Z0-9]{4,}/);
    }
  });
});
