import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatSourceLine,
  formatSourcePlain,
  processAnswerText,
  renumberCitations,
  sanitizeModelText,
  toSlackMrkdwn,
} from '../../src/capabilities/answers/citations.ts';
import { passage } from './answers-test-support.ts';

const sources = [
  passage({ documentId: 'a', text: 'Alpha text.' }),
  passage({ documentId: 'b', text: 'Bravo text.' }),
  passage({ documentId: 'c', text: 'Charlie text.' }),
];

describe('renumberCitations', () => {
  test('renumbers densely in order of first use and keeps repeated citations consistent', () => {
    const result = renumberCitations('First [3]. Then [1]. Again [3] and [1].', 3);
    assert.equal(result.text, 'First [1]. Then [2]. Again [1] and [2].');
    assert.deepEqual(result.order, [3, 1]);
    assert.deepEqual(result.invalid, []);
  });

  test('drops numbers of sources that were never given and reports them', () => {
    const result = renumberCitations('Claim [2][7]. Other [0]. Last [9].', 3);
    assert.equal(result.text, 'Claim [1]. Other. Last.');
    assert.deepEqual(result.order, [2]);
    assert.deepEqual(result.invalid.sort(), [0, 7, 9]);
  });

  test('understands grouped, ranged, labelled and full-width citations', () => {
    const result = renumberCitations('A [2, 3]. B [1-2]. C [Source 3]. D 【1】. E [^2].', 3);
    assert.equal(result.text, 'A [1][2]. B [3][1]. C [2]. D [3]. E [1].');
    assert.deepEqual(result.order, [2, 3, 1]);
  });

  test('keeps list indentation while tidying the space a dropped citation leaves', () => {
    const result = renumberCitations('- top [1]\n  - nested [9] .\n    - deeper', 1);
    assert.equal(result.text, '- top [1]\n  - nested.\n    - deeper');
  });

  test('leaves brackets inside code untouched', () => {
    const result = renumberCitations('Use `items[1]` as shown [2].\n```\nx = list[3]\n```', 3);
    assert.equal(result.text, 'Use `items[1]` as shown [1].\n```\nx = list[3]\n```');
    assert.deepEqual(result.order, [2]);
  });
});

describe('sanitizeModelText', () => {
  test('removes broadcasts, user, group and channel mentions, even when entity-encoded', () => {
    const text = sanitizeModelText(
      'Hi <!channel> and <!here|here> <@U123ABC> <!subteam^S1|@team> <#C999|general> &lt;!everyone&gt; done',
    );
    assert.doesNotMatch(text, /<[!@#]/);
    assert.doesNotMatch(text, /everyone>/);
    assert.match(text, /^Hi\s+and\s+.*done$/);
  });

  test('keeps link labels but never the model-made link target', () => {
    const text = sanitizeModelText('See <https://evil.example/x?d=secret|the docs> or [click](https://evil.example/y)');
    assert.equal(text, 'See the docs or click');
  });

  test('shows bare URLs not present in the sources as code so Slack does not link them', () => {
    const allowed = new Set(['https://docs.example.com/a']);
    const text = sanitizeModelText('Read https://docs.example.com/a and https://evil.example/?q=1', {
      allowedUrls: allowed,
    });
    assert.equal(text, 'Read https://docs.example.com/a and `https://evil.example/?q=1`');
  });

  test('defuses plain @here, @channel and @everyone words', () => {
    const text = sanitizeModelText('Tell @here and @Channel');
    assert.doesNotMatch(text, /@here|@channel/i);
    assert.match(text, /@\u2060here/);
  });

  test('drops markdown images and reference-link definitions', () => {
    const text = sanitizeModelText('Look ![pixel](https://evil.example/p.png) now\n[1]: https://evil.example/z');
    assert.equal(text.trim(), 'Look pixel now');
  });
});

describe('toSlackMrkdwn', () => {
  test('escapes control characters and converts markdown emphasis, headings and bullets', () => {
    const mrkdwn = toSlackMrkdwn('## Steps\n**Bold** a < b & c > d\n* item\n> quoted');
    assert.equal(mrkdwn, '*Steps*\n*Bold* a &lt; b &amp; c &gt; d\n• item\n> quoted');
  });
});

describe('processAnswerText', () => {
  test('maps renumbered citations to the sources they point at', () => {
    const processed = processAnswerText('Bravo says so [2]. Charlie agrees [3]. Bravo again [2].', sources);
    assert.equal(processed.markdown, 'Bravo says so [1]. Charlie agrees [2]. Bravo again [1].');
    assert.deepEqual(
      processed.cited.map((cited) => [cited.number, cited.source.documentId]),
      [
        [1, 'b'],
        [2, 'c'],
      ],
    );
  });

  test('a mention smuggled between citations is removed before citations are parsed', () => {
    const processed = processAnswerText('Done [1]<!channel> [2]', sources);
    assert.equal(processed.markdown, 'Done [1] [2]');
    assert.doesNotMatch(processed.mrkdwn, /<!/);
  });
});

describe('source lines', () => {
  test('builds the link from our metadata and escapes a hostile title', () => {
    const line = formatSourceLine({
      number: 1,
      source: passage({
        documentId: 'x',
        text: 't',
        title: 'Guide <!channel> | *x*',
        sectionPath: ['Install', 'Linux'],
        page: 4,
        source: 'https://docs.example.com/guide',
      }),
    });
    assert.equal(line, '[1] <https://docs.example.com/guide|Guide &lt;!channel&gt; ¦ *x*> — Install › Linux, p. 4');
  });

  test('a file path source is shown as code, not as a link', () => {
    const line = formatSourceLine({
      number: 2,
      source: passage({ documentId: 'y', text: 't', source: './docs/a.md' }),
    });
    assert.equal(line, '[2] *Title of y* (`./docs/a.md`)');
    assert.equal(
      formatSourcePlain({ number: 2, source: passage({ documentId: 'y', text: 't', title: 'A <b>', source: '' }) }),
      '[2] A &lt;b&gt;',
    );
  });

  test('a javascript: source never becomes a link', () => {
    const line = formatSourceLine({
      number: 1,
      source: passage({ documentId: 'z', text: 't', source: 'javascript:alert(1)' }),
    });
    assert.doesNotMatch(line, /<javascript/);
  });
});
