/**
 * Issue 14, linear-time text handling: the ticket rules on hostile input. Before the fix 40k digits took 12 s in
 * `findEmails` (the email pattern rescanned the run from every position) and a ~39k-character `/ticket` on the
 * rules path stalled every channel for 13 s. Each case runs the real function on 40k characters and must finish
 * far below those seconds (200 ms leaves room for a loaded machine).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groundTicket } from '../../src/capabilities/tickets/grounding.ts';
import {
  extractByRules,
  findCustomerName,
  findEmails,
  findOrderIds,
  ruleBasedTextBudget,
  truncateForRules,
} from '../../src/capabilities/tickets/rule-based-extractor.ts';
import { plainTextFromSlack } from '../../src/capabilities/tickets/slack-text.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';

const size = 40_000;
const bound = 200;

function timed<T>(run: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = run();
  return { value, ms: performance.now() - start };
}

describe('ticket rules on hostile input (ReDoS)', () => {
  for (const [name, text] of [
    ['digits', '1'.repeat(size)],
    ['dots', '.'.repeat(size)],
    ['letters then @ without a domain', `${'a'.repeat(size)}@`],
    ['a long domain without a top-level part', `a@${'b1.'.repeat(size / 3)}`],
  ] as const) {
    it(`findEmails is linear on ${name}`, () => {
      const { value, ms } = timed(() => findEmails(text));
      assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
      assert.ok(Array.isArray(value));
    });
  }

  it('findEmails still finds addresses as before', () => {
    assert.deepEqual(findEmails('write to Jo.Doe+shop@example.co.uk. Thanks'), ['Jo.Doe+shop@example.co.uk']);
    assert.deepEqual(findEmails('a@b@c.com, x..y@z.org and MAIL@Z.ORG'), ['b@c.com', 'x..y@z.org', 'MAIL@Z.ORG']);
    assert.deepEqual(findEmails(`${'1'.repeat(size)} then ann@example.com`), ['ann@example.com']);
  });

  it('findOrderIds is linear on a long id of dashes', () => {
    const { ms } = timed(() => findOrderIds(`#123${'-'.repeat(size)}x`));
    assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
  });

  for (const [name, text] of [
    ['a prefixed id of digits that ends in a letter', `INV000${'0'.repeat(size)}a`],
    ['a label followed by tabs', `ref${'\t'.repeat(size)}`],
  ] as const) {
    it(`findOrderIds is linear on ${name}`, () => {
      const { ms } = timed(() => findOrderIds(text));
      assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
    });
  }

  it('findOrderIds still finds prefixed and labelled ids', () => {
    assert.deepEqual(findOrderIds('INV12345 and order number: AB-9912, ref #77123'), ['INV12345', 'AB-9912', '#77123']);
  });

  it('findCustomerName is linear on alternating newlines and spaces', () => {
    const { ms } = timed(() => findCustomerName(`ü${'\n '.repeat(size / 2)}x`));
    assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
    assert.equal(findCustomerName('It broke.\n\nThanks,\nAnna Berg'), 'Anna Berg');
  });

  for (const [name, text] of [
    ['repeated mailto openers', '<mailto:o'.repeat(size / 9)],
    ['repeated link openers', '<http:<'.repeat(size / 7)],
    ['repeated mention openers', '<@UU|'.repeat(size / 5)],
    ['repeated date openers', '<!date^0^'.repeat(size / 9)],
  ] as const) {
    it(`plainTextFromSlack is linear on ${name}`, () => {
      const { ms } = timed(() => plainTextFromSlack(text));
      assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
    });
  }

  it('plainTextFromSlack still decodes entities', () => {
    assert.equal(
      plainTextFromSlack('<mailto:a@b.co|Ann> <https://x.test|site> <@U1|jo> <#C1|general> 1 &lt; 2'),
      'Ann site @jo #general 1 < 2',
    );
  });

  it('extractByRules reads only the character budget and stays fast on a 40k-character ticket', () => {
    const text = `Please help, order #12345 never arrived. Mail me at ann@example.com. ${'1'.repeat(size)}`;
    const { value, ms } = timed(() =>
      extractByRules({
        text,
        messageTs: '1767225600.000100',
        timeZone: 'Europe/Berlin',
        categories: ['missing_delivery', 'other'],
        teamLanguage: 'en',
      }),
    );
    assert.ok(ms < 2_000, `${ms.toFixed(0)} ms`);
    assert.deepEqual(value.orderIds, ['#12345']);
    assert.equal(value.customerEmail, 'ann@example.com');
    assert.equal(value.category, 'missing_delivery');
  });

  it('truncateForRules cuts at the budget and never splits a surrogate pair', () => {
    assert.deepEqual(truncateForRules('short'), { text: 'short', truncated: false });
    const cut = truncateForRules('x'.repeat(size));
    assert.equal(cut.text.length, ruleBasedTextBudget);
    assert.equal(cut.truncated, true);
    const emoji = truncateForRules(`${'x'.repeat(ruleBasedTextBudget - 1)}😀tail`);
    assert.equal(emoji.text, 'x'.repeat(ruleBasedTextBudget - 1));
  });

  it('an address after the budget is not read', () => {
    const ticket = extractByRules({
      text: `${'word '.repeat(ruleBasedTextBudget / 5)} ann@example.com`,
      messageTs: '1767225600.000100',
      timeZone: 'UTC',
      categories: ['other'],
      teamLanguage: 'en',
    });
    assert.equal(ticket.customerEmail, null);
  });

  it('grounding an email against 40k digits is fast', () => {
    const ticket = emptyTicket({ customerEmail: 'ann@example.com' });
    const { value, ms } = timed(() =>
      groundTicket(ticket, { sourceText: '1'.repeat(size), messageTs: '1767225600.000100', timeZone: 'UTC' }),
    );
    assert.ok(ms < bound, `${ms.toFixed(0)} ms`);
    assert.equal(value.ticket.customerEmail, null);
  });
});
