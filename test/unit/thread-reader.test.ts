/**
 * The Messenger's thread reads as "Save to Deskhand docs" uses them: a `fresh` read goes to Slack even while a
 * cached copy is young (and replaces it), and each message carries its author's display name when Slack sends
 * the message with a `user_profile` (display name, else real name, cut to 80 characters).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SlackApiCaller } from '../../src/slack/outbound/slack-api-caller.ts';
import { ThreadReader } from '../../src/slack/outbound/thread-reader.ts';

function readerOver(pages: () => Record<string, unknown>[]) {
  const calls: string[] = [];
  const caller = {
    call: async (method: string) => {
      calls.push(method);
      return { ok: true, messages: pages() };
    },
  } as unknown as SlackApiCaller;
  const reader = new ThreadReader({
    caller,
    clock: { now: () => 0, sleep: async () => {} },
    threadCacheTtlMs: 60_000,
    maxThreadMessages: 1000,
  });
  return { reader, calls };
}

test('a fresh read skips the young cached thread and replaces it', async () => {
  let replies = 1;
  const { reader, calls } = readerOver(() =>
    Array.from({ length: replies }, (_, index) => ({
      ts: `1.${index}`,
      thread_ts: '1.0',
      user: 'W1',
      text: `m${index}`,
    })),
  );
  assert.equal((await reader.threadMessages('C1', '1.0')).length, 1);
  replies = 2;
  assert.equal((await reader.threadMessages('C1', '1.0')).length, 1, 'cached');
  assert.equal((await reader.threadMessages('C1', '1.0', { fresh: true })).length, 2, 'read now');
  assert.equal((await reader.threadMessages('C1', '1.0')).length, 2, 'the fresh read replaced the cached one');
  assert.deepEqual(calls, ['conversations.replies', 'conversations.replies']);
});

test('the author’s display name (else real name) comes from user_profile, bounded; none without one', async () => {
  const { reader } = readerOver(() => [
    { ts: '1.0', user: 'W1', text: 'a', user_profile: { display_name: ' Dana ', real_name: 'Dana Scully' } },
    { ts: '1.1', thread_ts: '1.0', user: 'W2', text: 'b', user_profile: { display_name: '', real_name: 'Sam Lee' } },
    { ts: '1.2', thread_ts: '1.0', user: 'W3', text: 'c', user_profile: { display_name: 'x'.repeat(200) } },
    { ts: '1.3', thread_ts: '1.0', user: 'W4', text: 'd', user_profile: 'not an object' },
    { ts: '1.4', thread_ts: '1.0', user: 'W5', text: 'e' },
  ]);
  const names = (await reader.threadMessages('C1', '1.0')).map((message) => message.authorName);
  assert.deepEqual(names, ['Dana', 'Sam Lee', 'x'.repeat(80), undefined, undefined]);
});
