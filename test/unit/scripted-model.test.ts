/** The shared scripted model behaves as its header promises, so tests built on it can trust what they observe. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { DeskhandError } from '../../src/errors.ts';
import type { CallScope, ChatRequest } from '../../src/ports/language-model.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';

const scope: CallScope = { workspaceId: 'T1', channelId: 'C1' };
const request = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  purpose: 'test',
  promptVersion: 'v1',
  messages: [{ role: 'user', content }],
  maxOutputTokens: 50,
  ...extra,
});
const schema = z.strictObject({ route: z.enum(['ticket', 'question']) });

describe('ScriptedModel', () => {
  test('serves text, structured values, tool calls and errors in order, recording every call', async () => {
    const toolCall = { id: 'call_1', name: 'search', argumentsJson: '{"q":"refunds"}' };
    const model = new ScriptedModel().enqueue(
      { text: 'Five days.' },
      { value: { route: 'ticket' }, repaired: true },
      { toolCalls: [toolCall] },
      { error: new DeskhandError('over_budget', 'cap reached') },
    );
    const chat = await model.chat(request('How long?'), scope);
    assert.equal(chat.text, 'Five days.');
    assert.equal(chat.finishReason, 'stop');
    const structured = await model.structured({ ...request('Route it'), schema, schemaName: 'route' }, scope);
    assert.deepEqual(structured.value, { route: 'ticket' });
    assert.equal(structured.repaired, true);
    const tools = await model.chat(request('Search', { tools: [] }), scope);
    assert.deepEqual(tools.toolCalls, [toolCall]);
    assert.equal(tools.finishReason, 'tool_calls');
    await assert.rejects(model.chat(request('Again'), scope), (error: unknown) => {
      return error instanceof DeskhandError && error.code === 'over_budget';
    });
    assert.deepEqual(
      model.calls.map((call) => [call.kind, call.request.messages[0]?.content]),
      [
        ['chat', 'How long?'],
        ['structured', 'Route it'],
        ['chat', 'Search'],
        ['chat', 'Again'],
      ],
    );
    assert.equal(model.pending(), 0);
  });

  test('an unscripted call throws a clear error and is still recorded', async () => {
    const model = new ScriptedModel();
    await assert.rejects(model.chat(request('Hello'), scope), /ScriptedModel: unscripted chat call \(purpose test/);
    await assert.rejects(model.embed(['text'], scope), /ScriptedModel: unscripted embed call/);
    assert.equal(model.calls.length, 1);
    assert.equal(model.embedCalls.length, 1);
  });

  test('a structured reply that breaks the schema fails like the gateway, with upstream_invalid_response', async () => {
    const model = new ScriptedModel().enqueue({ value: { route: 'weather' } }, { text: 'not json' });
    for (let attempt = 0; attempt < 2; attempt += 1) {
      await assert.rejects(
        model.structured({ ...request('Route it'), schema, schemaName: 'route' }, scope),
        (error: unknown) => error instanceof DeskhandError && error.code === 'upstream_invalid_response',
      );
    }
  });

  test('with the response cache, a repeated deterministic call is served again without taking a step', async () => {
    const model = new ScriptedModel({ responseCache: true }).enqueue({ text: 'Five days.' }, { text: 'Other' });
    const first = await model.chat(request('How long?'), scope);
    const second = await model.chat(request('How long?'), scope);
    assert.equal(second.text, 'Five days.');
    assert.equal(second.fromCache, true);
    assert.equal(second.savedMicroUsd, first.costMicroUsd);
    const elsewhere = await model.chat(request('How long?'), { ...scope, cacheScope: 'other' });
    assert.equal(elsewhere.text, 'Other', 'another cache scope is another key');
    assert.equal(model.modelCalls().length, 2);
  });

  test('streams text in deltas, embeds and counts tokens when configured', async () => {
    const model = new ScriptedModel({
      embed: (texts) => texts.map(() => new Float32Array([1, 0])),
      countChatTokens: () => 7,
    }).enqueue({ text: 'Refunds take five days.' });
    const deltas: string[] = [];
    const result = await model.chat(request('How long?', { onTextDelta: (delta) => deltas.push(delta) }), scope);
    assert.equal(deltas.join(''), result.text);
    assert.ok(deltas.length > 1);
    assert.equal(result.usage.inputTokens, 7);
    assert.equal((await model.embed(['a', 'b'], scope)).vectors.length, 2);
    assert.equal(model.countChatTokens(request('x')), 7);
  });
});
