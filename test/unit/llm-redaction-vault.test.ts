/**
 * Placeholders and their way back (issue 16, item 5): stable numbering, what is shown for each kind, restoring a
 * stream whose placeholders are split across chunks at every possible point, chat requests with tool calls,
 * structured values, embedding inputs, and a typed placeholder that must never be "restored" into a value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import {
  placeholderNote,
  redactChatRequest,
  redactEmbeddingInputs,
  restoreChatResult,
  restoreStructuredValue,
  restoringTextDeltas,
} from '../../src/llm/redact-model-calls.ts';
import { policyFrom } from '../../src/llm/redaction-policy.ts';
import { RedactionVault, StreamRestorer } from '../../src/llm/redaction-vault.ts';
import type { ChatMessage } from '../../src/ports/language-model.ts';

const policy = policyFrom(['email', 'phone', 'iban']);
const email = 'dana.lee@example.com';
const phone = '+44 20 7946 0958';
const card = '4111 1111 1111 1111';
const apiKey = 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z';

describe('RedactionVault', () => {
  it('gives the same value the same placeholder, numbered by first appearance', () => {
    const vault = new RedactionVault(policy);
    const out = vault.redact(`${email} then ops@example.com then ${email.toUpperCase()} and ${phone}`);
    assert.equal(out, '<EMAIL_1> then <EMAIL_2> then <EMAIL_1> and <PHONE_1>');
    assert.deepEqual(vault.counts, { email: 3, phone: 1, card: 0, iban: 0, secret: 0 });
  });

  it('restores emails, phones and IBANs as written, a card as its last four digits and a secret never', () => {
    const vault = new RedactionVault(policy);
    const redacted = vault.redact(`${email} ${phone} ${card} DE89 3704 0044 0532 0130 00 ${apiKey}`);
    assert.equal(redacted, '<EMAIL_1> <PHONE_1> <CARD_1> <IBAN_1> <SECRET_1>');
    assert.equal(vault.restore(redacted), `${email} ${phone} •••• 1111 DE89 3704 0044 0532 0130 00 [secret removed]`);
    assert.equal(vault.restore('<EMAIL_9> and <NOTHING> stay'), '<EMAIL_9> and <NOTHING> stay');
  });

  it('never gives out the number of a placeholder someone typed, so it is never restored', () => {
    const vault = new RedactionVault(policy);
    vault.noteLiterals('please echo <EMAIL_1> back');
    assert.equal(vault.redact(`mine is ${email}`), 'mine is <EMAIL_2>');
    assert.equal(vault.restore('<EMAIL_1> / <EMAIL_2>'), `<EMAIL_1> / ${email}`);
  });
});

describe('StreamRestorer', () => {
  const vault = new RedactionVault(policy);
  const redacted = vault.redact(`Write to ${email} or call ${phone} about card ${card}.`);
  const expected = vault.restore(redacted);

  it('restores the same text whatever the chunk boundaries (every split point, and one character at a time)', () => {
    for (let split = 0; split <= redacted.length; split++) {
      for (const second of [split, Math.min(redacted.length, split + 3)]) {
        const restorer = new StreamRestorer(vault);
        const shown = [redacted.slice(0, split), redacted.slice(split, second), redacted.slice(second)]
          .map((chunk) => restorer.push(chunk))
          .join('');
        assert.equal(shown + restorer.end(), expected, `split at ${split}/${second}`);
      }
    }
    const restorer = new StreamRestorer(vault);
    const oneByOne = [...redacted].map((character) => restorer.push(character)).join('') + restorer.end();
    assert.equal(oneByOne, expected);
  });

  it('never shows part of a placeholder, and releases a "<" that turns out not to be one', () => {
    const restorer = new StreamRestorer(vault);
    assert.equal(restorer.push('Hi <EMA'), 'Hi ');
    assert.equal(restorer.push('IL_1> and a < b'), `${email} and a < b`);
    assert.equal(restorer.push(' x <PHO'), ' x ');
    assert.equal(restorer.end(), '<PHO');
  });

  it('the wrapped callback gets restored deltas and the held-back tail on end', () => {
    const seen: string[] = [];
    const stream = restoringTextDeltas((delta) => seen.push(delta), vault);
    stream.onTextDelta('Mail <EMAIL');
    stream.onTextDelta('_1');
    stream.onTextDelta('> now <');
    stream.end();
    assert.equal(seen.join(''), `Mail ${email} now <`);
    assert.ok(!seen.some((delta) => delta.includes('EMAIL')));
  });

  it('handles 40k characters of placeholder starts in linear time', () => {
    const restorer = new StreamRestorer(vault);
    const started = performance.now();
    let out = '';
    for (let index = 0; index < 5_000; index++) out += restorer.push('<EMAIL_');
    out += restorer.end();
    assert.equal(out, '<EMAIL_'.repeat(5_000));
    assert.ok(performance.now() - started < 1_000);
  });
});

describe('redactChatRequest and restoreChatResult', () => {
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'You are Deskhand.' },
    { role: 'user', content: `I am ${email}, card ${card}, key ${apiKey}` },
  ];

  it('redacts every message and tool-call argument, and tells the model what placeholders are', () => {
    const { request, vault } = redactChatRequest(
      {
        messages: [
          ...conversation,
          {
            role: 'assistant',
            content: null,
            toolCalls: [{ id: 'c1', name: 'lookup', argumentsJson: JSON.stringify({ email, note: `\n${phone}` }) }],
          },
          { role: 'tool', toolCallId: 'c1', content: `Customer ${email} has phone ${phone}` },
        ],
      },
      policy,
    );
    const sent = JSON.stringify(request.messages);
    for (const value of [email, card, apiKey, phone, '4111111111111111']) assert.ok(!sent.includes(value), value);
    assert.equal(request.messages[0]?.content, `You are Deskhand.\n\n${placeholderNote}`);
    const assistant = request.messages[2] as Extract<ChatMessage, { role: 'assistant' }>;
    assert.deepEqual(JSON.parse(assistant.toolCalls?.[0]?.argumentsJson ?? ''), {
      email: '<EMAIL_1>',
      note: '\n<PHONE_1>',
    });
    assert.equal(vault.size, 4);
  });

  it('keeps earlier placeholders when the conversation grows, even after the reply was restored', () => {
    const first = redactChatRequest({ messages: conversation }, policy);
    const reply = restoreChatResult(
      {
        text: 'Thanks <EMAIL_1>, I will not repeat <SECRET_1>.',
        toolCalls: [{ id: 't', name: 'file_ticket', argumentsJson: '{"email":"<EMAIL_1>","card":"<CARD_1>"}' }],
        finishReason: 'stop',
        usage: { inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 },
        costMicroUsd: 0,
        fromCache: false,
        savedMicroUsd: 0,
        model: 'm',
        requestId: 'r',
      },
      first.vault,
    );
    assert.equal(reply.text, `Thanks ${email}, I will not repeat [secret removed].`);
    assert.deepEqual(JSON.parse(reply.toolCalls[0]?.argumentsJson ?? ''), { email, card: '•••• 1111' });
    const second = redactChatRequest(
      {
        messages: [
          ...conversation,
          { role: 'assistant', content: reply.text },
          { role: 'user', content: `Also cc boss@example.com and ${email}` },
        ],
      },
      policy,
    );
    assert.equal(second.request.messages[1]?.content, first.request.messages[1]?.content);
    assert.equal(second.request.messages[2]?.content, `Thanks <EMAIL_1>, I will not repeat [secret removed].`);
    assert.equal(second.request.messages[3]?.content, 'Also cc <EMAIL_2> and <EMAIL_1>');
  });

  it('sends a request with nothing to mask unchanged (same object: same cache key and token count)', () => {
    const request = { messages: [{ role: 'user' as const, content: 'When does the dock open?' }] };
    assert.equal(redactChatRequest(request, policy).request, request);
  });
});

describe('restoreStructuredValue', () => {
  const schema = z.strictObject({ customerEmail: z.string().max(40).nullable(), orderIds: z.array(z.string()) });

  it('restores every string of a validated value', () => {
    const vault = new RedactionVault(policy);
    vault.redact(`${email} ${card}`);
    const restored = restoreStructuredValue(
      { customerEmail: '<EMAIL_1>', orderIds: ['<CARD_1>', 'A-1'] },
      vault,
      schema,
    );
    assert.deepEqual(restored, { value: { customerEmail: email, orderIds: ['•••• 1111', 'A-1'] }, restored: true });
  });

  it('keeps the placeholders when the restored value no longer fits the schema', () => {
    const vault = new RedactionVault(policy);
    const long = `${'x'.repeat(50)}@example.com`;
    vault.redact(long);
    const value = { customerEmail: '<EMAIL_1>', orderIds: [] };
    assert.deepEqual(restoreStructuredValue(value, vault, schema), { value, restored: false });
  });
});

describe('redactEmbeddingInputs', () => {
  it('redacts each text on its own and adds up the counts', () => {
    const { texts, counts } = redactEmbeddingInputs([`refund for ${email}`, `card ${card}`, 'plain'], policy);
    assert.deepEqual(texts, ['refund for <EMAIL_1>', 'card <CARD_1>', 'plain']);
    assert.deepEqual(counts, { email: 1, phone: 0, card: 1, iban: 0, secret: 0 });
  });

  it('masks cards and secrets even with an empty policy, and nothing else', () => {
    const { texts } = redactEmbeddingInputs([`${email} ${card} ${apiKey}`], policyFrom([]));
    assert.deepEqual(texts, [`${email} <CARD_1> <SECRET_1>`]);
  });
});
