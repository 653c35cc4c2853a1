/**
 * Issue 14, linear-time text handling: the patterns that were on the regex-safety debt list outside answers,
 * rewritten as linear patterns or small scans. Each hostile case runs the real function on ~40k characters (the old
 * patterns took seconds on these, some far longer) and must finish far below that; each rewrite is compared with
 * the pattern it replaced on ordinary input. The build check (test/architecture/regex-safety.test.ts) fails if any
 * of them comes back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Root } from 'mdast';
import { neutraliseOpeningTags, wrapUntrusted } from '../../src/capabilities/agent/untrusted.ts';
import {
  blocksFromMdast,
  blocksFromPlainText,
  cleanHeadingText,
} from '../../src/capabilities/documents/ingestion/parsers/document-blocks.ts';
import { isBareTicketRequest } from '../../src/capabilities/tickets/handle-routed-request.ts';
import { extractByRules } from '../../src/capabilities/tickets/rule-based-extractor.ts';
import { parseEditSubmission, type ViewStateValues } from '../../src/capabilities/tickets/ticket-edit-modal.ts';
import { defaultTicketCategories, emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { countTokens, truncateToTokens } from '../../src/llm/tokenizer.ts';
import { maskSecrets } from '../../src/observability/logger.ts';
import { openFenceAtEnd, splitText } from '../../src/slack/outbound/split-message.ts';
import { ticketEditBlockIds, ticketEditInputActionId } from '../../src/slack-kit/ticket-ids.ts';

const size = 40_000;
const bound = 200;

function assertFast(run: () => unknown, limit = bound): void {
  const start = performance.now();
  run();
  const ms = performance.now() - start;
  assert.ok(ms < limit, `${ms.toFixed(0)} ms`);
}

/** One markdown node covering all of `source`, as the markdown parser gives it (offsets into the source). */
function singleNode(type: 'html' | 'paragraph', source: string): Root {
  const position = { start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: source.length } };
  const node =
    type === 'html'
      ? { type, value: source, position }
      : { type, children: [{ type: 'text', value: source }], position };
  return { type: 'root', children: [node] } as Root;
}

function emailAccepted(email: string): boolean {
  const values: ViewStateValues = {
    [ticketEditBlockIds.customerEmail]: { [ticketEditInputActionId]: { type: 'plain_text_input', value: email } },
  };
  const result = parseEditSubmission(values, emptyTicket({ summary: 'x' }), defaultTicketCategories);
  return result.ok || !(ticketEditBlockIds.customerEmail in result.response.errors);
}

describe('agent: untrusted-data tags', () => {
  it('neutralises opening tags in linear time', () => {
    // Many openers without a `>`: each rescanned the rest of the text.
    assertFast(() => wrapUntrusted('tool', '<untrusted_data'.repeat(size / 15)), 100);
  });

  it('replaces what `<\\s*untrusted_data\\b[^>]*>` replaced', () => {
    const old = /<\s*untrusted_data\b[^>]*>/gi;
    for (const text of [
      'a <untrusted_data source="x"> b < UNTRUSTED_DATA\n> c',
      '<untrusted_data><untrusted_data x>',
      '<untrusted_data2> <untrusted_data no close',
      '<untrusted_data a <untrusted_data b> tail',
    ]) {
      assert.equal(neutraliseOpeningTags(text), text.replace(old, '<untrusted-data>'));
    }
  });
});

describe('ingestion: heading ids, data images, html noise, plain text', () => {
  it('is linear on hostile headings, images, comments and blank runs', () => {
    assertFast(() => cleanHeadingText(`${' '.repeat(size)}x`));
    assertFast(() => cleanHeadingText(`${'{#'.repeat(size / 2)}}x`));
    assertFast(() => blocksFromMdast(singleNode('paragraph', '!['.repeat(size / 2)), '!['.repeat(size / 2)));
    const comments = `${'<!---->'.repeat(size / 7)}x`;
    assertFast(() => blocksFromMdast(singleNode('html', comments), comments));
    assertFast(() => blocksFromPlainText(`a${' '.repeat(size)}b`));
  });

  it('cleans heading text as before', () => {
    const old = (text: string) =>
      text
        .replace(/\s*\{#[^}]*\}\s*$/, '')
        .replace(/\s+/g, ' ')
        .trim();
    for (const text of [
      'Install {#install}',
      'A {#x} b {#y}  ',
      'Braces {a} {#id}',
      'No id {x}',
      '{#only}',
      'x {#a{#b}',
    ]) {
      assert.equal(cleanHeadingText(text), old(text));
    }
  });

  it('drops data images and noise html as before', () => {
    const image = 'See ![logo](data:image/png;base64,iVBORw0KGgo=) and ![](  <data:image/gif;base64,R0l>) end';
    assert.deepEqual(blocksFromMdast(singleNode('paragraph', image), image), [
      { kind: 'prose', text: 'See [image: logo] and  end' },
    ]);
    for (const [html, noise] of [
      ['<!-- comment -->', true],
      ['  <a name="top"></a>\n<!-- x -->  ', true],
      ['<A href="#x" > </a>', true],
      ['<!-- open', false],
      ['<a name="x">text</a>', false],
      ['<div>text</div>', false],
    ] as const) {
      assert.equal(blocksFromMdast(singleNode('html', html), html).length, noise ? 0 : 1, html);
    }
  });

  it('trims line ends in plain text as before', () => {
    const text = 'one  \t\ntwo \r\nthree\u2028 four \n\n  five  ';
    const old = text
      .split(/\n[ \t]*\n+/)
      .map((paragraph) => paragraph.replace(/[ \t]+$/gm, '').trim())
      .filter(Boolean);
    assert.deepEqual(
      blocksFromPlainText(text).map((block) => (block.kind === 'prose' ? block.text : '')),
      old,
    );
  });
});

describe('tickets: bare requests, question cues, email shape', () => {
  it('is linear on hostile requests and emails', () => {
    assertFast(() => isBareTicketRequest(`ticket${' '.repeat(size)}x`));
    assertFast(() => isBareTicketRequest(`please ${'. '.repeat(size / 2)}`));
    assertFast(() => emailAccepted(`a@${'.'.repeat(size)}<`));
  });

  it('knows a bare request as the old pattern did', () => {
    const old =
      /^\s*(?:please\s+)?(?:make\s+|create\s+|file\s+|open\s+)?(?:a\s+)?(?:ticket\s*)?(?:this|that|it|of this|of it|from this|for this)?[\s.!]*$/i;
    for (const text of [
      'ticket this',
      'Please make a ticket of it!',
      '  create   a ticket\n\tfrom this . ! ',
      'please ',
      'please.',
      'ticketthis',
      'ticket',
      '',
      'ticket this: the app crashes',
      'open a ticket for this order #123',
      'make ticket that!!',
    ]) {
      assert.equal(isBareTicketRequest(text), old.test(text), JSON.stringify(text));
    }
  });

  it('still files questions under "question"', () => {
    const ticket = (text: string) =>
      extractByRules({
        text,
        messageTs: '1700000000.000000',
        timeZone: 'UTC',
        categories: defaultTicketCategories,
        teamLanguage: 'en',
      });
    assert.equal(ticket('Where is the export button?  ').category, 'question');
    assert.equal(ticket('How do I export my data').category, 'question');
  });

  it('accepts the email shapes it accepted before', () => {
    const old = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]{2,}$/u;
    for (const email of [
      'ann@example.com',
      'a@b.co',
      'a@b.c',
      'a@.co',
      'a@b.😀',
      'a@b.😀😀',
      'a b@c.de',
      'a@b@c.de',
      'x@y.z.',
      'jo@sub.domain.org',
    ]) {
      assert.equal(emailAccepted(email), old.test(email), email);
    }
  });
});

describe('llm, logs and Slack text: replacement characters, secrets, fences', () => {
  it('is linear on hostile input', () => {
    // (No 40k run of U+FFFD for truncateToTokens: the tokenizer itself takes seconds on one 40k-character word.)
    assertFast(() => openFenceAtEnd(`${'`'.repeat(size)}\r`));
    assertFast(() => splitText(`${'`'.repeat(size)}\r\n${'x '.repeat(size / 2)}`, 3000), 1000);
  });

  it('cuts replacement characters only at the end', () => {
    const text = 'a\uFFFD\uFFFDb';
    assert.equal(truncateToTokens(`${text} and a much longer tail of words`, countTokens(text)).text, text);
  });

  it('masks the same secrets as before', () => {
    const old = /\b(xox[abposr]-[\w-]+|xapp-[\w-]+|sk-[\w-]{8,})/g;
    for (const text of [
      'token xoxb-123-abc end',
      'xapp-1-A',
      'sk-1234567 sk-12345678',
      'sk-xoxb-12345678',
      'ask-12345678',
    ]) {
      assert.equal(
        maskSecrets(text),
        text.replace(old, (match) => `${match.slice(0, 5)}…redacted`),
      );
    }
  });

  it('finds an open fence as before', () => {
    assert.equal(openFenceAtEnd('text\n```ts\ncode'), '```ts');
    assert.equal(openFenceAtEnd('~~~~\ncode\n~~~~'), undefined);
    assert.equal(openFenceAtEnd('````md\n```\nstill open'), '````md');
  });
});
