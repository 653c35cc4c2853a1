/**
 * Issue 14, linear-time text handling: `stripMentions` runs on every incoming message; a mention opener repeated
 * over 40k characters (`<@UU|` …) made its pattern rescan the rest of the text from every opener.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stripMentions } from '../../src/router/route-rules.ts';

describe('stripMentions on hostile input (ReDoS)', () => {
  it('is linear on repeated mention openers', () => {
    const start = performance.now();
    stripMentions('<@UU|'.repeat(8_000));
    const ms = performance.now() - start;
    assert.ok(ms < 200, `${ms.toFixed(0)} ms`);
  });

  it('still removes mentions', () => {
    assert.equal(stripMentions('<@U123> hello <@W9|bot> there'), 'hello there');
  });
});
