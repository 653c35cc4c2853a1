/**
 * Redaction through the real gateway against the FakeOpenAIServer and the local Redis (issue 16, item 5): with
 * `REDACT=emails,phones` (cards and secrets always), no email, phone, card number or API key appears in any recorded
 * request body (the raw bytes, digits with or without their grouping) — chat, streamed chat, structured output,
 * its repair call, and embeddings; what the caller gets back is restored, streamed chunks included; the response
 * cache is keyed on the redacted request, so a second person's same question is a hit that shows their own email
 * (never the first person's), and another workspace still misses; the counts reach the metric, the values do not.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { z } from 'zod';
import type { CallScope, ChatRequest } from '../../src/ports/language-model.ts';
import { fakePromptTokens } from '../fakes/openai-server.ts';
import { createHarness, type Harness } from './gateway-harness.ts';

const email = 'dana.lee@example.com';
const otherEmail = 'sam.ortiz@example.org';
const phone = '+44 20 7946 0958';
const card = '4111 1111 1111 1111';
const apiKey = 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z';
const slackToken = 'xoxb-2024-1234567890-AbCdEfGhIjKlMnOpQrStUv';

/** Every form a value could take on the wire: as written, without grouping, JSON-escaped. */
function forms(value: string): string[] {
  const compact = value.replace(/[\s()-]/g, '');
  return [value, compact, JSON.stringify(value).slice(1, -1), value.replace(/\s/g, '-')];
}

let harness: Harness;

before(async () => {
  harness = await createHarness({ fakeOptions: { whenEmpty: 'error' }, gateway: { redact: ['email', 'phone'] } });
});

after(async () => {
  await harness?.cleanup();
});

beforeEach(() => harness.fake?.reset());

function scope(workspaceId = 'T0RED', userId = 'U0DANA'): CallScope {
  return { workspaceId, channelId: 'C0RED', userId, requestId: `redaction-${Math.random()}` };
}

function assertNothingLeaked(values: string[]): void {
  const bodies = harness.fake?.calls.map((call) => call.rawBody) ?? [];
  assert.ok(bodies.length > 0, 'some request was recorded');
  for (const body of bodies) {
    for (const value of values) {
      for (const form of forms(value)) assert.ok(!body.includes(form), `"${form}" reached the provider: ${body}`);
    }
  }
}

function question(text: string): ChatRequest {
  return {
    purpose: 'answer',
    promptVersion: 'redaction-test-1',
    messages: [
      { role: 'system', content: 'Answer the customer.' },
      { role: 'user', content: text },
    ],
    maxOutputTokens: 100,
  };
}

async function redactionsCounted(): Promise<Record<string, number>> {
  const metric = await harness.metrics.getSingleMetric('deskhand_llm_redactions_total')?.get();
  return Object.fromEntries(
    (metric?.values ?? []).map((value) => [`${value.labels.operation}:${value.labels.kind}`, value.value]),
  );
}

describe('redaction in the gateway', () => {
  test('a chat request carries placeholders only, the reply comes back restored, and the count matches the wire', async () => {
    const fake = harness.fake;
    assert.ok(fake);
    fake.enqueueChat({ content: 'We will email <EMAIL_1> and call <PHONE_1>; card <CARD_1> is blocked.' });
    const request = question(
      `I am ${email}, phone ${phone}. My card ${card} was charged twice. Our key ${apiKey} and ${slackToken} leaked.`,
    );
    const counted = harness.gateway.countChatTokens(request);
    const result = await harness.gateway.chat(request, scope());
    assertNothingLeaked([email, phone, card, apiKey, slackToken]);
    const sent = JSON.stringify(fake.chatCalls()[0]?.messages);
    assert.match(
      sent,
      /I am <EMAIL_1>, phone <PHONE_1>\. My card <CARD_1> was charged twice\. Our key <SECRET_1> and <SECRET_2>/,
    );
    assert.match(sent, /is a placeholder for personal data/);
    assert.equal(result.text, `We will email ${email} and call ${phone}; card •••• 1111 is blocked.`);
    assert.equal(counted, fakePromptTokens(fake.chatCalls()[0] ?? {}), 'countChatTokens counts what is sent');
    const counts = await redactionsCounted();
    assert.equal(counts['chat:email'], 1);
    assert.equal(counts['chat:secret'], 2);
  });

  test('a streamed reply is restored chunk by chunk, placeholders split across chunks included', async () => {
    const fake = harness.fake;
    assert.ok(fake);
    // The fake streams 12-character pieces, so both placeholders are cut in two.
    fake.enqueueChat({ content: 'Hello there <EMAIL_1>, we call <PHONE_1> today.' });
    const deltas: string[] = [];
    const result = await harness.gateway.chat(
      { ...question(`Reach me at ${email} or ${phone}`), onTextDelta: (delta) => deltas.push(delta) },
      scope(),
    );
    const expected = `Hello there ${email}, we call ${phone} today.`;
    assert.equal(deltas.join(''), expected);
    assert.ok(deltas.length > 2, 'it streamed');
    assert.ok(!deltas.some((delta) => /<[A-Z]*_?\d*$|^[A-Z_\d]*>/.test(delta)), deltas.join('|'));
    assert.equal(result.text, expected);
    assertNothingLeaked([email, phone]);
  });

  test('the cache is keyed on the redacted request: the next person with the same question gets their own email back', async () => {
    const fake = harness.fake;
    assert.ok(fake);
    const asked = (who: string) => question(`Where is my refund? My email is ${who}. Card ${card}.`);
    fake.enqueueChat({ content: 'Refunds for <EMAIL_1> take 5 days.' });
    const first = await harness.gateway.chat(asked(email), scope('T0CACHE', 'U0DANA'));
    await harness.gateway.whenSettled();
    const second = await harness.gateway.chat(asked(otherEmail), scope('T0CACHE', 'U0SAM'));
    assert.equal(first.text, `Refunds for ${email} take 5 days.`);
    assert.equal(second.fromCache, true, 'the same redacted question is a hit');
    assert.equal(second.text, `Refunds for ${otherEmail} take 5 days.`);
    assert.ok(!second.text.includes(email), 'never the first person’s email');
    assert.equal(fake.chatCalls().length, 1);
    const cached = await harness.redis.keys(`${harness.keyPrefix}*`);
    for (const key of cached) {
      const type = await harness.redis.type(key);
      const value = type === 'string' ? await harness.redis.getBuffer(key) : null;
      if (value) assert.ok(!value.toString('latin1').includes(email), `Redis key ${key} holds the email`);
    }
    fake.enqueueChat({ content: 'Refunds for <EMAIL_1> take 5 days.' });
    const otherWorkspace = await harness.gateway.chat(asked(email), scope('T0ELSEWHERE'));
    assert.equal(otherWorkspace.fromCache, false, 'another workspace never shares the entry');
    assertNothingLeaked([email, otherEmail, card]);
  });

  test('structured output (and its repair call) sees placeholders; the value comes back restored', async () => {
    const fake = harness.fake;
    assert.ok(fake);
    fake.enqueueChat(
      { content: '{"customerEmail":"<EMAIL_1>"}' },
      { content: '{"customerEmail":"<EMAIL_1>","phone":"<PHONE_1>","summary":"Card <CARD_1> charged twice"}' },
    );
    const schema = z.strictObject({ customerEmail: z.string().nullable(), phone: z.string(), summary: z.string() });
    const result = await harness.gateway.structured(
      {
        purpose: 'ticket',
        promptVersion: 'redaction-test-1',
        messages: [{ role: 'user', content: `From ${email} (${phone}): card ${card} charged twice` }],
        schema,
        schemaName: 'ticket',
        maxOutputTokens: 200,
      },
      scope(),
    );
    assert.equal(result.repaired, true);
    assert.deepEqual(result.value, { customerEmail: email, phone, summary: 'Card •••• 1111 charged twice' });
    assert.equal(fake.chatCalls().length, 2);
    assertNothingLeaked([email, phone, card]);
  });

  test('embedding inputs are redacted too', async () => {
    const result = await harness.gateway.embed(
      [`refund question from ${email}`, `card ${card} and key ${apiKey}`, 'plain text'],
      scope(),
    );
    assert.equal(result.vectors.length, 3);
    const inputs = harness.fake?.embeddingCalls()[0]?.input;
    assert.deepEqual(inputs, ['refund question from <EMAIL_1>', 'card <CARD_1> and key <SECRET_1>', 'plain text']);
    assertNothingLeaked([email, card, apiKey]);
    const counts = await redactionsCounted();
    assert.equal(counts['embed:card'], 1);
  });
});
