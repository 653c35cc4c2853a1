import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Block } from '../../src/ports/messenger.ts';
import {
  openFenceAtEnd,
  slackMessageLimits,
  splitMessage,
  splitText,
  truncateText,
} from '../../src/slack/outbound/split-message.ts';
import { checkMessage } from '../fakes/slack-limits.ts';

function paragraph(index: number, words = 60): string {
  return `${Array.from({ length: words }, (_, word) => `word${index}_${word}`).join(' ')}.`;
}

function sectionTexts(blocks: Block[] | undefined): string[] {
  return (blocks ?? []).map((block) => (block.text as { text: string }).text);
}

const squash = (text: string) => text.replace(/\s+/g, ' ').trim();

describe('splitText', () => {
  test('returns short text unchanged', () => {
    assert.deepEqual(splitText('hello world', 100), ['hello world']);
  });

  test('cuts between paragraphs when it can, and keeps every word', () => {
    const text = Array.from({ length: 30 }, (_, index) => paragraph(index)).join('\n\n');
    const pieces = splitText(text, 3000);
    assert.ok(pieces.length > 1);
    for (const piece of pieces) {
      assert.ok(piece.length <= 3000, `piece of ${piece.length}`);
      assert.match(piece, /\.$/, 'each piece ends at the end of a paragraph');
      assert.match(piece, /^word\d+_0 /, 'each piece starts at the start of a paragraph');
    }
    assert.equal(squash(pieces.join('\n\n')), squash(text));
  });

  test('falls back to sentence boundaries in a single long paragraph', () => {
    const text = Array.from({ length: 200 }, (_, index) => `Sentence number ${index} is here.`).join(' ');
    const pieces = splitText(text, 500);
    for (const piece of pieces) {
      assert.ok(piece.length <= 500);
      assert.match(piece, /^Sentence number \d+ is here\./);
      assert.match(piece, /is here\.$/);
    }
    assert.equal(squash(pieces.join(' ')), squash(text));
  });

  test('hard-cuts a word longer than the limit and loses nothing', () => {
    const text = 'x'.repeat(1050);
    const pieces = splitText(text, 500);
    assert.deepEqual(
      pieces.map((piece) => piece.length),
      [500, 500, 50],
    );
  });

  test('closes a code fence at a cut and reopens it with the same info string', () => {
    const code = Array.from({ length: 300 }, (_, line) => `  const value${line} = compute(${line}); // step`).join(
      '\n',
    );
    const text = `Here is the script:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nThat is all.`;
    const pieces = splitText(text, 3000);
    assert.ok(pieces.length >= 4);
    for (const [index, piece] of pieces.entries()) {
      assert.ok(piece.length <= 3000, `piece ${index} has ${piece.length} characters`);
      assert.equal(openFenceAtEnd(piece), undefined, `piece ${index} leaves no fence open`);
      if (index > 0 && index < pieces.length - 1) assert.ok(piece.startsWith('```ts\n'), `piece ${index} reopens`);
    }
    const codeLines = pieces
      .join('\n')
      .split('\n')
      .filter((line) => line.includes('compute('));
    assert.equal(codeLines.length, 300, 'no code line lost or cut');
    assert.ok(
      codeLines.every((line) => line.startsWith('  const value')),
      'indentation kept',
    );
  });
});

describe('splitMessage', () => {
  test('leaves a message within limits exactly as it is', () => {
    const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }];
    assert.deepEqual(splitMessage({ text: 'hi', blocks }), [{ text: 'hi', blocks }]);
    assert.deepEqual(splitMessage({ text: 'short' }), [{ text: 'short' }]);
  });

  test('turns a 30,000-character answer into messages Slack accepts, in order, with a fallback each', () => {
    const text = Array.from({ length: 70 }, (_, index) => paragraph(index)).join('\n\n');
    assert.ok(text.length > 30_000);
    const parts = splitMessage({ text });
    assert.ok(parts.length >= 3, `${parts.length} parts`);
    for (const part of parts) {
      assert.equal(checkMessage(part.text, part.blocks), undefined);
      assert.ok(part.text.length > 0);
      assert.ok((part.blocks ?? []).length <= slackMessageLimits.maxBlocks);
    }
    for (const part of parts) {
      assert.ok(part.text === sectionTexts(part.blocks).join('\n'), "each part's fallback is its own text");
    }
    const rebuilt = parts.flatMap((part) => sectionTexts(part.blocks)).join('\n\n');
    assert.equal(squash(rebuilt), squash(text));
  });

  test('splits an over-long section inside blocks and regroups more than 50 blocks', () => {
    const blocks: Block[] = [
      { type: 'header', text: { type: 'plain_text', text: 'Answer' } },
      { type: 'section', text: { type: 'mrkdwn', text: paragraph(1, 900) } },
      ...Array.from({ length: 60 }, (): Block => ({ type: 'divider' })),
    ];
    const parts = splitMessage({ text: 'Answer', blocks });
    assert.ok(parts.length >= 2);
    for (const part of parts) assert.equal(checkMessage(part.text, part.blocks), undefined);
    const all = parts.flatMap((part) => part.blocks ?? []);
    assert.equal(all.filter((block) => block.type === 'divider').length, 60);
    assert.equal(all[0]?.type, 'header');
    assert.equal(parts[0]?.text, 'Answer');
  });

  test('splits an over-long markdown block too', () => {
    const blocks: Block[] = [{ type: 'markdown', text: paragraph(2, 2000) }];
    const parts = splitMessage({ text: 'Answer', blocks });
    const all = parts.flatMap((part) => part.blocks ?? []);
    assert.ok(all.length > 1);
    assert.ok(all.every((block) => block.type === 'markdown' && (block.text as string).length <= 3000));
    for (const part of parts) assert.equal(checkMessage(part.text, part.blocks), undefined);
  });

  test('shortens a fallback over 40,000 characters', () => {
    const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: 'see text' } }];
    const [part] = splitMessage({ text: `${'word '.repeat(9000)}`, blocks });
    assert.ok(part!.text.length <= 40_000);
    assert.ok(part!.text.endsWith('…'));
    assert.equal(truncateText('short', 10), 'short');
  });
});
