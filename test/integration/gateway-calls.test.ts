import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { DeskhandError } from '../../src/errors.ts';
import { GatewayEmbedder } from '../../src/llm/gateway.ts';
import type { ChatRequest } from '../../src/ports/language-model.ts';
import { fakeEmbedding } from '../fakes/openai-server.ts';
import { createHarness, type Harness, scope, userMessage } from './gateway-harness.ts';

const tools = [
  {
    name: 'get_order_status',
    description: 'Looks up the delivery status of an order.',
    parameters: {
      type: 'object',
      properties: {
        orderId: { type: 'string', description: 'The order number, e.g. A-1234.' },
        detail: { type: 'string', enum: ['summary', 'full'], description: 'How much to return' },
      },
      required: ['orderId', 'detail'],
    },
  },
];

describe('chat calls against the fake provider', () => {
  let harness: Harness;
  before(async () => {
    harness = await createHarness({ gateway: { embeddingLimits: { maxInputs: 3, maxTokensPerRequest: 40 } } });
  });
  after(async () => harness.cleanup());

  const cases: Array<[string, Partial<ChatRequest>]> = [
    ['a single user message', {}],
    [
      'a conversation with a system prompt, names and an assistant turn',
      {
        messages: [
          { role: 'system', content: 'You are Deskhand, a support assistant. Answer briefly.' },
          { role: 'user', content: 'Where is my parcel?', name: 'alice' },
          { role: 'assistant', content: 'Which order number?' },
          { role: 'user', content: 'A-1234 — ordered on 3 March 🚚', name: 'alice' },
        ],
      },
    ],
    ['tool definitions', { tools, cache: { enabled: false } }],
    [
      'tool calls and tool results in the history',
      {
        tools,
        messages: [
          { role: 'user', content: 'Status of A-1234?' },
          {
            role: 'assistant',
            content: null,
            toolCalls: [
              { id: 'call_1', name: 'get_order_status', argumentsJson: '{"orderId":"A-1234","detail":"full"}' },
            ],
          },
          { role: 'tool', content: '{"status":"in transit","eta":"2026-03-05"}', toolCallId: 'call_1' },
        ],
      },
    ],
  ];
  for (const [name, extra] of cases) {
    test(`our input token count matches the provider's reported usage for ${name}`, async () => {
      harness.fake?.reset();
      const request: ChatRequest = {
        purpose: 'count',
        promptVersion: '1',
        messages: userMessage('How many tokens is this?'),
        maxOutputTokens: 30,
        cache: { enabled: false },
        ...extra,
      };
      const counted = harness.gateway.countChatTokens(request);
      const result = await harness.gateway.chat(request, scope());
      assert.equal(result.usage.inputTokens, counted);
      assert.equal(harness.fake?.violations.length, 0, JSON.stringify(harness.fake?.violations));
      const drift = await harness.metrics.getSingleMetricAsString('deskhand_llm_token_count_drift_last');
      assert.match(drift, /model="gpt-4o-mini"} 0/);
    });
  }

  test('a count the caller already made is used as given, not counted again (drift shows which count was used)', async () => {
    harness.fake?.reset();
    const request: ChatRequest = {
      purpose: 'count',
      promptVersion: '1',
      messages: userMessage('How many tokens is this, counted once?'),
      maxOutputTokens: 30,
      cache: { enabled: false },
    };
    const counted = harness.gateway.countChatTokens(request);
    // Five more than the real count: had the gateway counted again, the drift would be 0.
    const result = await harness.gateway.chat({ ...request, inputTokens: counted + 5 }, scope());
    assert.equal(result.usage.inputTokens, counted, 'the provider reports the real count');
    const drift = await harness.metrics.getSingleMetricAsString('deskhand_llm_token_count_drift_last');
    assert.match(drift, /model="gpt-4o-mini"} -5/);
    assert.equal(harness.fake?.chatCalls()[0]?.inputTokens, undefined, 'the count is not sent to the provider');
  });

  test('refuses a given input-token count that is not a non-negative integer', async () => {
    const error = await harness.gateway
      .chat(
        { purpose: 'count', promptVersion: '1', messages: userMessage('hi'), maxOutputTokens: 5, inputTokens: -1 },
        scope(),
      )
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof DeskhandError);
    assert.equal(error.code, 'invalid_input');
  });

  test('returns tool calls the model asked for', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({
      toolCalls: [{ name: 'get_order_status', arguments: '{"orderId":"A-1","detail":"summary"}' }],
    });
    const result = await harness.gateway.chat(
      {
        purpose: 'agent',
        promptVersion: '1',
        messages: userMessage('Status?'),
        maxOutputTokens: 50,
        tools,
        toolChoice: 'auto',
      },
      scope(),
    );
    assert.equal(result.finishReason, 'tool_calls');
    assert.deepEqual(
      result.toolCalls.map((call) => [call.name, call.argumentsJson]),
      [['get_order_status', '{"orderId":"A-1","detail":"summary"}']],
    );
    assert.deepEqual(harness.fake?.chatCalls()[0]?.tool_choice, 'auto');
  });

  test('streams deltas and records the usage from the final chunk', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ content: 'Streaming works in pieces.' });
    const deltas: string[] = [];
    const result = await harness.gateway.chat(
      {
        purpose: 'stream',
        promptVersion: '1',
        messages: userMessage('Stream please'),
        maxOutputTokens: 40,
        cache: { enabled: false },
        onTextDelta: (delta) => deltas.push(delta),
      },
      scope(),
    );
    assert.ok(deltas.length > 1);
    assert.equal(deltas.join(''), 'Streaming works in pieces.');
    assert.equal(result.text, 'Streaming works in pieces.');
    assert.deepEqual(harness.fake?.chatCalls()[0]?.stream_options, { include_usage: true });
    assert.ok(result.usage.outputTokens > 0 && result.costMicroUsd > 0);
  });

  const Ticket = z.object({
    title: z.string().min(3),
    priority: z.enum(['low', 'normal', 'urgent']),
    orderId: z.string().optional(),
  });

  test('sends the zod schema as a strict json_schema whose root is an object with the expected properties', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat({ content: '{"title":"Parcel missing","priority":"urgent","orderId":null}' });
    const result = await harness.gateway.structured(
      {
        purpose: 'ticket',
        promptVersion: '1',
        messages: userMessage('My parcel never came'),
        maxOutputTokens: 100,
        schema: Ticket,
        schemaName: 'ticket',
      },
      scope(),
    );
    assert.deepEqual(result.value, { title: 'Parcel missing', priority: 'urgent' });
    assert.equal(result.repaired, false);
    const format = harness.fake?.chatCalls()[0]?.response_format as {
      type: string;
      json_schema: {
        name: string;
        strict: boolean;
        schema: {
          type: string;
          properties: Record<string, unknown>;
          required: string[];
          additionalProperties: boolean;
        };
      };
    };
    assert.equal(format.type, 'json_schema');
    assert.equal(format.json_schema.strict, true);
    assert.equal(format.json_schema.schema.type, 'object');
    assert.deepEqual(Object.keys(format.json_schema.schema.properties), ['title', 'priority', 'orderId']);
    assert.deepEqual(format.json_schema.schema.required, ['title', 'priority', 'orderId']);
    assert.equal(format.json_schema.schema.additionalProperties, false);
    assert.equal(harness.fake?.chatCalls()[0]?.temperature, 0);
  });

  test('makes one repair call with the validation errors and returns the repaired value', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat(
      { content: '{"title":"x","priority":"high"}' },
      { content: '{"title":"Refund request","priority":"normal"}' },
    );
    const result = await harness.gateway.structured(
      {
        purpose: 'ticket',
        promptVersion: '2',
        messages: userMessage('Refund please'),
        maxOutputTokens: 100,
        schema: Ticket,
        schemaName: 'ticket',
      },
      scope(),
    );
    assert.equal(result.repaired, true);
    assert.deepEqual(result.value, { title: 'Refund request', priority: 'normal' });
    const repairMessages = harness.fake?.chatCalls()[1]?.messages as Array<{ role: string; content: string }>;
    assert.match(repairMessages.at(-1)?.content ?? '', /title: .*priority: /s);
  });

  test('fails with upstream_invalid_response when the repair is invalid too, and never caches the bad reply', async () => {
    harness.fake?.reset();
    harness.fake?.enqueueChat(
      { content: 'not json' },
      { content: '{"title":"no"}' },
      { content: '{"title":"Valid now","priority":"low"}' },
    );
    const structuredRequest = {
      purpose: 'ticket',
      promptVersion: '3',
      messages: userMessage('Broken'),
      maxOutputTokens: 100,
      schema: Ticket,
      schemaName: 'ticket',
    };
    const error = await harness.gateway.structured(structuredRequest, scope()).catch((caught: unknown) => caught);
    assert.ok(error instanceof DeskhandError);
    assert.equal(error.code, 'upstream_invalid_response');
    assert.equal(harness.fake?.chatCalls().length, 2);
    const retry = await harness.gateway.structured(structuredRequest, scope());
    assert.equal(retry.result.fromCache, false);
    assert.equal(retry.value.title, 'Valid now');
  });

  test('embeds in batches within the limits, in order, and charges the budget', async () => {
    harness.fake?.reset();
    // Limits here: 3 inputs and 40 tokens per request. The last text is 40 tokens, so it cannot join 'delta'.
    const long = Array.from({ length: 40 }, () => 'word').join(' ');
    const texts = ['alpha', 'beta', 'gamma', 'delta', long];
    const result = await harness.gateway.embed(texts, scope('C0EMBED'));
    assert.equal(result.vectors.length, 5);
    texts.forEach((text, index) => {
      assert.deepEqual(Array.from(result.vectors[index] ?? []), Array.from(fakeEmbedding(text, 64)));
    });
    const batches = harness.fake?.embeddingCalls().map((body) => (body.input as string[]).length);
    assert.deepEqual(batches, [3, 1, 1]);
    assert.ok(harness.fake?.embeddingCalls().every((body) => body.dimensions === 64));
    const daily = (await harness.budgets.status('T0TEST', 'C0EMBED')).windows[0];
    assert.equal(daily?.spentMicroUsd, result.costMicroUsd);
    assert.ok(result.costMicroUsd > 0);
  });

  test('refuses to embed a text longer than the per-input limit', async () => {
    const error = await harness.gateway.embed(['word '.repeat(9000)], scope()).catch((caught: unknown) => caught);
    assert.ok(error instanceof DeskhandError);
    assert.equal(error.code, 'input_too_large');
  });

  test('GatewayEmbedder implements the Embedder port through the gateway', async () => {
    harness.fake?.reset();
    const embedder = new GatewayEmbedder(harness.gateway, 'text-embedding-3-small', 64);
    const { vectors, inputTokens, costMicroUsd } = await embedder.embed(['hello'], scope());
    assert.equal(vectors[0]?.length, 64);
    assert.equal(harness.fake?.embeddingCalls().length, 1);
    // The usage the gateway settled comes back with the vectors: 'hello' is one token.
    assert.equal(inputTokens, 1);
    assert.ok(costMicroUsd > 0);
  });
});
