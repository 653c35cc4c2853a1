/**
 * The redaction detectors (issue 16, item 5): what each finds, what it must leave alone (the usual look-alikes:
 * order ids, dates, IP addresses, hex ids, UUIDs, camelCase names, prose), Luhn and IBAN check digits, overlaps
 * between detectors, the REDACT list, and linear time on 40k-character hostile inputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCardNumbers, findIbans, ibanValid, luhnValid } from '../../src/llm/detect-account-numbers.ts';
import { findEmails, findPhones } from '../../src/llm/detect-contact.ts';
import { findSecrets, looksRandom } from '../../src/llm/detect-secrets.ts';
import { parseRedactList, policyFrom, type SensitiveSpan } from '../../src/llm/redaction-policy.ts';
import { findSensitiveSpans } from '../../src/llm/sensitive-span.ts';

const texts = (text: string, spans: SensitiveSpan[]) => spans.map((span) => text.slice(span.start, span.end));

describe('email detector', () => {
  it('finds addresses with plus tags, subdomains and in Slack mailto links', () => {
    const text = 'Mail Alice.Smith+tag@example.co.uk, or <mailto:bob@x.io|bob@x.io>; (carol@mail.example.org).';
    assert.deepEqual(texts(text, findEmails(text)), [
      'Alice.Smith+tag@example.co.uk',
      'bob@x.io',
      'bob@x.io',
      'carol@mail.example.org',
    ]);
    assert.equal(findEmails('Same: BOB@X.IO')[0]?.key, 'bob@x.io', 'the key ignores case');
  });

  it('leaves handles, version pins and addresses without a top-level domain alone', () => {
    const text = 'ping @alice, npm i foo@1.2.3, user@localhost, a@b.c, @@, trailing@';
    assert.deepEqual(texts(text, findEmails(text)), []);
  });
});

describe('phone detector', () => {
  it('finds international, North American, national and cued numbers', () => {
    const text =
      'Call +1 (555) 010-2345 or 555-123-4567 or (555) 987 6543, +49 30 1234567, 0049 30 12345678, ' +
      '0151 1234 5678, 06 12 34 56 78; phone: 5551234567';
    assert.deepEqual(texts(text, findPhones(text)), [
      '+1 (555) 010-2345',
      '555-123-4567',
      '(555) 987 6543',
      '+49 30 1234567',
      '0049 30 12345678',
      '0151 1234 5678',
      '06 12 34 56 78',
      '5551234567',
    ]);
    assert.equal(findPhones('+1 555-010-2345')[0]?.key, '15550102345', 'the key is the digits');
  });

  it('leaves order ids, dates, times, IP addresses, amounts and versions alone', () => {
    const text =
      'Order 12345678901, #555-123-4567, ORD-2024-88812, on 2024-01-15 10:30 or 01.02.2024 10, ip 192.168.1.100, ' +
      '$1,234,567.89, v10.2.3, ts 1700000000.123456, phone 555 then order 12345678901';
    assert.deepEqual(texts(text, findPhones(text)), []);
  });
});

describe('card detector', () => {
  it('checks Luhn', () => {
    assert.equal(luhnValid('4111111111111111'), true);
    assert.equal(luhnValid('4111111111111112'), false);
    assert.equal(luhnValid('378282246310005'), true);
    assert.equal(luhnValid(''), false);
  });

  it('finds 13–19 digit Luhn-valid numbers, grouped by spaces or dashes, and inside longer runs of groups', () => {
    const text =
      'Cards 4111 1111 1111 1111, 5500-0000-0000-0004, 378282246310005, 6011000990139424 and ' +
      '4111 1111 1111 1111 2 times';
    assert.deepEqual(texts(text, findCardNumbers(text)), [
      '4111 1111 1111 1111',
      '5500-0000-0000-0004',
      '378282246310005',
      '6011000990139424',
      '4111 1111 1111 1111',
    ]);
    assert.equal(findCardNumbers('4111-1111-1111-1111')[0]?.key, '4111111111111111');
  });

  it('leaves Luhn-invalid numbers, too short or too long runs, numbers glued to letters and + numbers alone', () => {
    const text =
      '4111111111111112, 411111111111 (12), 41111111111111111111111 (23), SKU4111111111111111, ' +
      '4111111111111111x, +4111111111111111';
    assert.deepEqual(texts(text, findCardNumbers(text)), []);
  });
});

describe('IBAN detector', () => {
  it('checks mod 97', () => {
    assert.equal(ibanValid('DE89370400440532013000'), true);
    assert.equal(ibanValid('DE89370400440532013001'), false);
    assert.equal(ibanValid('GB82WEST12345698765432'), true);
  });

  it('finds IBANs grouped or not, in any case, and stops before a following word', () => {
    const text = 'IBAN DE89 3704 0044 0532 0130 00 EUR, gb82west12345698765432 and FR1420041010050500013M02606.';
    assert.deepEqual(texts(text, findIbans(text)), [
      'DE89 3704 0044 0532 0130 00',
      'gb82west12345698765432',
      'FR1420041010050500013M02606',
    ]);
  });

  it('leaves look-alikes with wrong check digits alone', () => {
    assert.deepEqual(findIbans('DE89 3704 0044 0532 0130 01 and AB12 CDEF GHIJ KLMN OP'), []);
  });
});

describe('secret detector', () => {
  it('finds known key shapes', () => {
    const keys = [
      'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z',
      'sk-ant-api03-abcdefghijklmnopqrstuvwx',
      'sk_live_51HxYzAbCdEfGhIjKlMn',
      'xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp',
      'xapp-1-A0123-456789-abcdef',
      'AKIAIOSFODNN7EXAMPLE',
      'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
      'github_pat_11ABCDEFG0123456789_abcdefghij',
      'glpat-abcdefghij0123456789',
      'AIzaSyA1234567890abcdefghijklmnopqrstu',
      'hf_abcdefghijklmnopqrstuvwxyz01234567',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    ];
    for (const key of keys) {
      const text = `my key is ${key}, thanks`;
      assert.deepEqual(texts(text, findSecrets(text)), [key], key);
    }
  });

  it('finds credential values, Bearer tokens, PEM private keys and random high-entropy tokens', () => {
    const text =
      'password: hunter2! api_key="abc123def456" Authorization: Bearer abcdefghijklmnop1234 ' +
      'and Zx8Qw2Lp9Rt4Ks7Vb3Nm6Yh1\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nbye';
    assert.deepEqual(texts(text, findSecrets(text)), [
      'hunter2!',
      'abc123def456',
      'abcdefghijklmnop1234',
      'Zx8Qw2Lp9Rt4Ks7Vb3Nm6Yh1',
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----',
    ]);
  });

  it('leaves words, identifiers, slugs, hex ids, UUIDs, short keys and plain credential words alone', () => {
    const text =
      'password: reset, my token expired, sk-short, getUserAccountByEmailAddress2, ' +
      'how-to-configure-Single-Sign-On-2024, 9fceb02d0ae598e95dc970b74767f19372d61af8, ' +
      '123e4567-e89b-12d3-a456-426614174000, Internationalization, https://docs.example.com/Guides/Setup-2FA-Properly';
    assert.deepEqual(texts(text, findSecrets(text)), []);
    assert.equal(looksRandom('Zx8Qw2Lp9Rt4Ks7Vb3Nm6Yh1'), true);
    assert.equal(looksRandom('ThisIsACamelCaseName12345'), false);
  });
});

describe('findSensitiveSpans', () => {
  it('applies the policy: cards and secrets always, the rest only when listed', () => {
    const text = 'bob@x.io +1 555 010 2345 4111 1111 1111 1111 DE89370400440532013000 sk-abcdefghijklmnopqrstuvwx';
    const always = findSensitiveSpans(text, policyFrom([]));
    assert.deepEqual(
      always.map((span) => span.kind),
      ['card', 'secret'],
    );
    const everything = findSensitiveSpans(text, policyFrom(['email', 'phone', 'iban']));
    assert.deepEqual(
      everything.map((span) => span.kind),
      ['email', 'phone', 'card', 'iban', 'secret'],
    );
  });

  it('lets a card win over a phone reading of the same digits, and returns spans in text order without overlap', () => {
    const text = 'call 4111 1111 1111 1111 now';
    const spans = findSensitiveSpans(text, policyFrom(['phone']));
    assert.deepEqual(
      spans.map((span) => [span.kind, text.slice(span.start, span.end)]),
      [['card', '4111 1111 1111 1111']],
    );
  });
});

describe('REDACT list', () => {
  it('accepts names in any case with spaces, none and empty', () => {
    assert.deepEqual(parseRedactList(' Emails, phones ,IBANS'), { ok: true, kinds: ['email', 'phone', 'iban'] });
    assert.deepEqual(parseRedactList('none'), { ok: true, kinds: [] });
    assert.deepEqual(parseRedactList(undefined), { ok: true, kinds: [] });
  });

  it('refuses unknown names, naming them and the accepted ones', () => {
    const parsed = parseRedactList('emails,adresses,ssn');
    assert.equal(parsed.ok, false);
    assert.match(parsed.ok ? '' : parsed.problem, /unknown names "adresses", "ssn"; use any of emails, phones/);
  });
});

describe('linear time on hostile input (40k characters)', () => {
  const hostile: Record<string, string> = {
    'at signs and dots': 'a.'.repeat(10_000) + '@'.repeat(10_000) + '.a'.repeat(5_000),
    'local parts without domains': 'abcdefgh@'.repeat(4_500),
    'a long domain': `a@${'b'.repeat(39_000)}`,
    digits: '1'.repeat(40_000),
    'digit groups': '1 '.repeat(20_000),
    'dashed digits': '4111-'.repeat(8_000),
    'phone-like': '(555) '.repeat(7_000),
    'plus signs': '+1 '.repeat(13_000),
    'IBAN starts': 'AB12 '.repeat(8_000),
    'one token': 'aB3'.repeat(13_000),
    'credential words': 'password: '.repeat(4_000),
    'private key headers': '-----BEGIN '.repeat(3_600),
    'angle brackets': '<EMAIL_'.repeat(5_700),
  };
  for (const [name, text] of Object.entries(hostile)) {
    it(`${name}`, () => {
      const started = performance.now();
      findSensitiveSpans(text, policyFrom(['email', 'phone', 'iban']));
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 1_000, `${name}: ${elapsed.toFixed(0)} ms`);
    });
  }
});
