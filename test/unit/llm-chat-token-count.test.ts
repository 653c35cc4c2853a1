import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countChatRequestTokens } from '../../src/llm/chat-token-count.ts';
import { countTokens } from '../../src/llm/tokenizer.ts';

describe('countChatRequestTokens', () => {
  test('counts 3 framing tokens per message, the role, the content and 3 to prime the reply', () => {
    const content = 'Hello world';
    const expected = 3 + countTokens('user') + countTokens(content) + 3;
    assert.equal(countChatRequestTokens({ messages: [{ role: 'user', content }] }, 'o200k_base'), expected);
  });

  test('adds 1 plus the name for a named message', () => {
    const plain = countChatRequestTokens({ messages: [{ role: 'user', content: 'Hi' }] }, 'o200k_base');
    const named = countChatRequestTokens({ messages: [{ role: 'user', content: 'Hi', name: 'alice' }] }, 'o200k_base');
    assert.equal(named - plain, 1 + countTokens('alice'));
  });

  test('counts tool definitions with the cookbook constants', () => {
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    const tool = {
      name: 'lookup',
      description: 'Finds an order.',
      parameters: { type: 'object', properties: { id: { type: 'string', description: 'Order id.' } } },
    };
    const withTool = countChatRequestTokens({ messages, tools: [tool] }, 'o200k_base');
    const without = countChatRequestTokens({ messages }, 'o200k_base');
    const expected = 7 + countTokens('lookup:Finds an order') + 3 + 3 + countTokens('id:string:Order id') + 12;
    assert.equal(withTool - without, expected);
  });

  test('gives the same exact count for a long text whether or not it was counted before', () => {
    const long = 'The parcel left the depot on Monday and should arrive within three working days. '.repeat(50);
    const expected = 3 + countTokens('system') + countTokens(long) + 3;
    for (let round = 0; round < 3; round += 1) {
      assert.equal(countChatRequestTokens({ messages: [{ role: 'system', content: long }] }, 'o200k_base'), expected);
    }
    const otherEncoding = 3 + countTokens('system', 'cl100k_base') + countTokens(long, 'cl100k_base') + 3;
    assert.equal(
      countChatRequestTokens({ messages: [{ role: 'system', content: long }] }, 'cl100k_base'),
      otherEncoding,
    );
  });
});
