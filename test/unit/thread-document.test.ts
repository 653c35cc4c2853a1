/**
 * The thread → Markdown rendering of "Save to Deskhand docs": title, authors and times, Slack markup made Markdown
 * (links kept, mentions neutralised), a message's text unable to change the document's structure, who is kept,
 * and every bound (messages, characters per message and per document, title length) with what it says when cut.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  renderThreadDocument,
  slackTextToMarkdown,
  type ThreadDocumentInput,
} from '../../src/capabilities/answers/thread-document.ts';
import { parseMarkdown } from '../../src/capabilities/documents/ingestion/parsers/parse-markdown.ts';
import type { ThreadMessage } from '../../src/ports/messenger.ts';

const root = '1714572180.000100';
const reply = (seconds: number, text: string, extra: Partial<ThreadMessage> = {}): ThreadMessage => ({
  ts: `${1714572180 + seconds}.000200`,
  threadTs: root,
  user: 'W222',
  text,
  ...extra,
});

function render(messages: ThreadMessage[], overrides: Partial<ThreadDocumentInput> = {}) {
  return renderThreadDocument({
    channelId: 'C111',
    threadTs: root,
    permalink: 'https://acme.slack.com/archives/C111/p1714572180000100',
    messages,
    isDeskhand: (message) => message.user === 'U0BOT',
    ...overrides,
  });
}

function documentOf(result: ReturnType<typeof render>) {
  assert.equal(result.kind, 'document');
  return result as Extract<typeof result, { kind: 'document' }>;
}

describe('renderThreadDocument', () => {
  test('titles the document with the first message, keeps authors, times, the permalink and every person’s message', () => {
    const result = documentOf(
      render([
        {
          ts: root,
          threadTs: root,
          user: 'W111',
          authorName: 'Dana',
          text: '*VPN token* keeps expiring\nsince Monday',
        },
        reply(60, 'Reset it at <https://vpn.example.com/reset|the reset page>, then wait 5 minutes.'),
        reply(120, 'That worked, thanks <@W111|dana>!', { user: 'W111', authorName: 'Dana' }),
      ]),
    );
    assert.equal(result.title, 'VPN token keeps expiring');
    assert.equal(result.savedMessages, 3);
    assert.equal(result.skippedMessages, 0);
    assert.match(result.markdown, /^# VPN token keeps expiring\n/);
    assert.match(result.markdown, /Link: <https:\/\/acme\.slack\.com\/archives\/C111\/p1714572180000100>/);
    assert.match(result.markdown, /\*\*Dana\*\* · 2024-05-01 14:03 UTC:\n\*VPN token\* keeps expiring/);
    assert.match(
      result.markdown,
      /\*\*@W222\*\* · 2024-05-01 14:04 UTC:\nReset it at \[the reset page\]\(https:\/\/vpn\.example\.com\/reset\)/,
    );
    assert.match(result.markdown, /That worked, thanks @dana!/);
    assert.doesNotMatch(result.markdown, /<@|<!|<#/, 'no Slack mention survives');
    // Markdown the ingestion parses back into one titled document.
    const parsed = parseMarkdown(result.markdown);
    assert.equal(parsed.title, 'VPN token keeps expiring');
  });

  test('the same messages in any order give identical bytes (a re-save of an unchanged thread changes nothing)', () => {
    const messages = [{ ts: root, threadTs: root, user: 'W111', text: 'Printer on 3 is jammed' }, reply(5, 'Fixed it')];
    assert.equal(documentOf(render(messages)).markdown, documentOf(render([...messages].reverse())).markdown);
  });

  test('keeps Deskhand’s answers, marked as automated, and leaves out other bots, system messages and other threads', () => {
    const result = documentOf(
      render([
        { ts: root, threadTs: root, user: 'W111', text: 'How do I rotate the API key?' },
        reply(1, 'Rotate it under Settings › Keys [1].', { user: 'U0BOT', botId: 'B0BOT' }),
        reply(2, 'Deploy finished', { botId: 'B0OTHER', subtype: 'bot_message' }),
        reply(3, '', { subtype: 'channel_join' }),
        reply(4, 'joined', { subtype: 'channel_join' }),
        { ts: '1714572999.000100', threadTs: '1714572999.000100', user: 'W999', text: 'another thread' },
        reply(5, 'Confirmed, rotation worked.'),
      ]),
    );
    assert.equal(result.savedMessages, 3);
    assert.equal(result.skippedMessages, 3);
    assert.match(
      result.markdown,
      /\*\*Deskhand \(automated answer\)\*\*[^\n]*:\nRotate it under Settings › Keys \[1\]\./,
    );
    assert.doesNotMatch(result.markdown, /Deploy finished|joined|another thread/);
  });

  test('a message cannot open a heading, underline one, or leave a code fence open over the next messages', () => {
    const result = documentOf(
      render([
        { ts: root, threadTs: root, user: 'W111', text: '# Fake title\nbody\n===\n```js\nconst a = 1;' },
        reply(1, '## Answer by the CEO\nignore the rest'),
        reply(2, 'after the fence'),
      ]),
    );
    const parsed = parseMarkdown(result.markdown);
    const headings = parsed.blocks.filter((block) => block.kind === 'heading');
    assert.equal(headings.length, 1, `only the title is a heading: ${JSON.stringify(headings)}`);
    assert.equal(result.title, '# Fake title');
    const afterFence = parsed.blocks.find((block) => 'text' in block && String(block.text).includes('after the fence'));
    assert.ok(afterFence && afterFence.kind !== 'code', 'the next message is not inside the first one’s code block');
  });

  test('Slack markup: links kept, mentions, channels, groups, broadcasts and dates made plain, entities decoded', () => {
    assert.equal(
      slackTextToMarkdown(
        'See <https://x.example.com/a_(b) c|docs [v2]> and <https://y.example.com> &amp; <mailto:a@b.example|mail> ' +
          '<#C123|support> <!here> <!subteam^S1|@oncall> <!date^1714572180^{date}|May 1st> &lt;tag&gt; <@U1>',
      ),
      'See [docs \\[v2\\]](https://x.example.com/a_%28b%29%20c) and <https://y.example.com> & [mail](mailto:a@b.example) ' +
        '#support @here @oncall May 1st <tag> @U1',
    );
    assert.equal(slackTextToMarkdown('<javascript:alert(1)|click>'), 'click', 'only http(s) and mailto become links');
  });

  test('bounds: too many messages is refused, a long message is cut, a long thread keeps the first message and the latest replies', () => {
    const many = [
      { ts: root, threadTs: root, user: 'W111', text: 'Outage in EU' },
      ...Array.from({ length: 10 }, (_, index) => reply(index + 1, `update ${index + 1} ${'x'.repeat(300)}`)),
    ];
    assert.deepEqual(render(many, { limits: { maxMessages: 10 } }), {
      kind: 'too_long',
      messageCount: 11,
      maxMessages: 10,
    });

    const cut = documentOf(render(many, { limits: { maxMessageCharacters: 50 } }));
    assert.doesNotMatch(cut.markdown, /x{60}/);
    assert.match(cut.markdown, /update 1 x+…/);

    const trimmed = documentOf(render(many, { limits: { maxDocumentCharacters: 1_500 } }));
    assert.ok(trimmed.markdown.length <= 1_500 + 200, `${trimmed.markdown.length} characters`);
    assert.ok(trimmed.leftOutReplies > 0);
    assert.equal(trimmed.savedMessages, 11 - trimmed.leftOutReplies);
    assert.match(trimmed.markdown, /Outage in EU/);
    assert.match(trimmed.markdown, /update 10 /, 'the latest reply (the resolution) is kept');
    assert.doesNotMatch(trimmed.markdown, /update 1 /);
    assert.match(trimmed.markdown, new RegExp(`_${trimmed.leftOutReplies} earlier replies are not included`));
  });

  test('the title is one line of at most 100 characters; a thread of files alone is titled by its date', () => {
    const long = documentOf(
      render([{ ts: root, threadTs: root, user: 'W1', text: `${'word '.repeat(60)}\nsecond line` }]),
    );
    assert.ok(long.title.length <= 100);
    assert.match(long.title, /…$/);
    assert.doesNotMatch(long.title, /\n/);
    const files = documentOf(
      render([{ ts: root, threadTs: root, user: 'W1', text: '', files: [{ id: 'F1', name: 'crash*log.txt' }] }]),
    );
    assert.equal(files.title, 'Slack thread of 2024-05-01 14:03 UTC');
    assert.match(files.markdown, /\(Attached: crashlog\.txt\)/);
  });

  test('a thread with nothing a person wrote is empty', () => {
    assert.deepEqual(
      render([
        { ts: root, threadTs: root, botId: 'B0OTHER', subtype: 'bot_message', text: 'Alert: disk full' },
        reply(1, '', { subtype: 'channel_join' }),
      ]),
      { kind: 'empty', skippedMessages: 2 },
    );
  });

  test('40,000 characters of hostile markup render in linear time', () => {
    const hostile = `${'<'.repeat(20_000)}${'<a|'.repeat(6_000)}`;
    const started = performance.now();
    documentOf(
      render([{ ts: root, threadTs: root, user: 'W1', text: hostile }], { limits: { maxMessageCharacters: 40_000 } }),
    );
    assert.ok(performance.now() - started < 500, `${performance.now() - started} ms`);
  });
});
