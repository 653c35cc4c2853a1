import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  detectLanguage,
  extractByRules,
  findCustomerName,
  findDeadline,
  findEmails,
  findOrderIds,
} from '../../src/capabilities/tickets/rule-based-extractor.ts';
import { defaultTicketCategories } from '../../src/capabilities/tickets/ticket-schema.ts';
import { tsOf } from './tickets-fakes.ts';

const base = { categories: defaultTicketCategories, teamLanguage: 'en', timeZone: 'Europe/Berlin' };

describe('rule-based extractor: identifiers', () => {
  test('finds order ids in common formats, as written and without duplicates', () => {
    assert.deepEqual(findOrderIds('My order #48213 is late, order #48213 again'), ['#48213']);
    assert.deepEqual(findOrderIds('Refund ORD-2291-X and INV-5531 please'), ['ORD-2291-X', 'INV-5531']);
    assert.deepEqual(findOrderIds('order number 7781-AB never came'), ['7781-AB']);
    assert.deepEqual(findOrderIds('Bestellnummer: 55120 ist nicht da'), ['55120']);
    assert.deepEqual(findOrderIds('I ordered 3 items on 2026-11-02 for 45 euros'), []);
  });

  test('finds emails, including Slack-decoded ones, and ignores trailing dots', () => {
    assert.deepEqual(findEmails('write to Jo.Doe+shop@example.co.uk. Thanks'), ['Jo.Doe+shop@example.co.uk']);
    assert.deepEqual(findEmails('no address here @someone'), []);
  });

  test('finds a signed or introduced name, not a capitalised word after "I am"', () => {
    assert.equal(findCustomerName('Card still missing.\nThanks, Priya Nair'), 'Priya Nair');
    assert.equal(findCustomerName('Hi, my name is Lukas Weber and my PIN is blocked'), 'Lukas Weber');
    assert.equal(findCustomerName('I am still waiting on my card'), null);
  });
});

describe('rule-based extractor: deadlines', () => {
  test('resolves "by Friday" against the message time in the workspace zone', () => {
    // Tuesday 2026-11-24 10:00 in Berlin.
    assert.equal(
      findDeadline('please sort it out by Friday', tsOf('2026-11-24T09:00:00Z'), 'Europe/Berlin'),
      '2026-11-27',
    );
  });

  test('"by tomorrow" depends on the zone: the same instant is Friday in Tokyo and Thursday in New York', () => {
    const ts = tsOf('2026-11-26T23:30:00Z');
    assert.equal(findDeadline('I need it by tomorrow', ts, 'Asia/Tokyo'), '2026-11-28');
    assert.equal(findDeadline('I need it by tomorrow', ts, 'America/New_York'), '2026-11-27');
  });

  test('understands other languages and ignores dates of past events', () => {
    const ts = tsOf('2026-11-24T09:00:00Z');
    assert.equal(findDeadline('Bitte bis Freitag erledigen', ts, 'Europe/Berlin'), '2026-11-27');
    assert.equal(findDeadline('I ordered it on 3 November and paid on Monday', ts, 'Europe/Berlin'), null);
  });
});

describe('rule-based extractor: whole tickets', () => {
  test('fills what the text supports and leaves the rest null', () => {
    const ticket = extractByRules({
      ...base,
      text: 'Hi, my order #48213 still hasn’t arrived. I need it by Friday! — Dana Whitfield, dana.w@example.org',
      messageTs: tsOf('2026-11-24T09:00:00Z'),
    });
    assert.equal(ticket.category, 'missing_delivery');
    assert.deepEqual(ticket.orderIds, ['#48213']);
    assert.equal(ticket.customerEmail, 'dana.w@example.org');
    assert.equal(ticket.customerName, 'Dana Whitfield');
    assert.equal(ticket.deadline, '2026-11-27');
    assert.equal(ticket.urgency, 'high');
    assert.equal(ticket.product, null);
    assert.equal(ticket.language, 'en');
  });

  test('detects urgency words, frequency and language in German', () => {
    const ticket = extractByRules({
      ...base,
      text: 'Die App stürzt jedes Mal ab, wenn ich eine Überweisung starte. Bitte dringend prüfen.',
      messageTs: tsOf('2026-11-24T09:00:00Z'),
    });
    assert.equal(ticket.category, 'app_crash');
    assert.equal(ticket.urgency, 'high');
    assert.equal(ticket.urgencyReason, 'dringend');
    assert.equal(ticket.frequency, 'always');
    assert.equal(ticket.language, 'de');
  });

  test('detects the language of a full sentence but leaves a one-word greeting to the team language', () => {
    assert.equal(detectLanguage('O aplicativo trava de vez em quando ao abrir o extrato.', 'en'), 'pt');
    assert.equal(detectLanguage('Mi tarjeta no funciona desde ayer', 'en'), 'es');
    assert.equal(detectLanguage('hello?', 'de'), 'de');
  });

  test('marks fraud as critical', () => {
    const ticket = extractByRules({
      ...base,
      text: 'There is a payment I did not make, I think my card was stolen',
      messageTs: tsOf('2026-11-24T09:00:00Z'),
    });
    assert.equal(ticket.urgency, 'critical');
  });

  test('invents nothing for a message without facts', () => {
    const ticket = extractByRules({ ...base, text: 'hello?', messageTs: tsOf('2026-11-24T09:00:00Z') });
    assert.deepEqual(
      [ticket.orderIds, ticket.customerName, ticket.customerEmail, ticket.deadline, ticket.frequency, ticket.product],
      [[], null, null, null, null, null],
    );
  });

  test('only uses categories the workspace configured', () => {
    const ticket = extractByRules({
      ...base,
      categories: ['billing', 'general'],
      text: 'My parcel has not arrived yet',
      messageTs: tsOf('2026-11-24T09:00:00Z'),
    });
    assert.equal(ticket.category, 'general');
  });
});
