import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { FakeOpenAIServer, fakeEmbedding, openAISpecValidators } from '../fakes/openai-server.ts';

describe('FakeOpenAIServer', () => {
  let fake: FakeOpenAIServer;
  let client: OpenAI;

  before(async () => {
    fake = await FakeOpenAIServer.start();
    client = new OpenAI({ apiKey: 'sk-test-fake', baseURL: fake.baseURL, maxRetries: 0, timeout: 5_000 });
  });
  after(async () => {
    await fake.close();
  });

  test('answers a scripted chat completion whose body matches the spec response schema', async () => {
    fake.reset();
    fake.enqueueChat({ content: 'Hello there' });
    const raw = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] })
      .asResponse();
    const body = (await raw.json()) as OpenAI.ChatCompletion;
    const validate = openAISpecValidators().chatResponse;
    assert.equal(validate(body), true, JSON.stringify(validate.errors));
    assert.equal(body.choices[0]?.message.content, 'Hello there');
    assert.ok((body.usage?.prompt_tokens ?? 0) > 0);
    assert.equal(fake.violations.length, 0);
  });

  test('streams chunks that match the spec and ends with a usage chunk when include_usage is set', async () => {
    fake.reset();
    fake.enqueueChat({ content: 'A longer reply that is split over several chunks.' });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    const validate = openAISpecValidators().chatStreamChunk;
    for await (const chunk of stream) {
      assert.equal(validate(chunk), true, JSON.stringify(validate.errors));
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'A longer reply that is split over several chunks.');
    assert.ok(usage && usage.completion_tokens > 0);
  });

  test('rejects a request body that violates the spec with 400 and records the violation', async () => {
    fake.reset();
    await assert.rejects(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'wizard', content: 'Hi' } as never],
      }),
      (error: unknown) => error instanceof OpenAI.BadRequestError,
    );
    assert.equal(fake.violations.length, 1);
  });

  test('returns deterministic normalised embeddings in base64 (the SDK default) honouring dimensions', async () => {
    fake.reset();
    const result = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
      dimensions: 8,
    });
    assert.equal(fake.embeddingCalls()[0]?.encoding_format, 'base64');
    assert.equal(result.data.length, 2);
    const first = Array.from(result.data[0]?.embedding ?? []);
    assert.equal(first.length, 8);
    assert.deepEqual(first, Array.from(fakeEmbedding('alpha', 8)));
    const norm = Math.sqrt(first.reduce((sum, value) => sum + value * value, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5);
    assert.ok(result.usage.prompt_tokens >= 2);
  });

  test('serves faults in order: insufficient_quota, then a 429 with retry-after, then a 500', async () => {
    fake.reset();
    fake.enqueueChat(
      { fault: 'insufficient_quota' },
      { fault: 'rate_limit', retryAfterSeconds: 3 },
      { fault: 'server_error' },
    );
    const request = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }] };
    const quota = await client.chat.completions.create(request).catch((error: unknown) => error);
    assert.ok(quota instanceof OpenAI.RateLimitError);
    assert.equal(quota.code, 'insufficient_quota');
    const limited = await client.chat.completions.create(request).catch((error: unknown) => error);
    assert.ok(limited instanceof OpenAI.RateLimitError);
    assert.equal(limited.headers?.get('retry-after'), '3');
    const failed = await client.chat.completions.create(request).catch((error: unknown) => error);
    assert.ok(failed instanceof OpenAI.InternalServerError);
  });

  test('answers an unscripted json_schema request with a value that has the required properties', async () => {
    fake.reset();
    const result = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Extract' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'ticket',
          strict: true,
          schema: {
            type: 'object',
            properties: { title: { type: 'string' }, priority: { type: 'string', enum: ['low', 'high'] } },
            required: ['title', 'priority'],
            additionalProperties: false,
          },
        },
      },
    });
    assert.deepEqual(JSON.parse(result.choices[0]?.message.content ?? ''), { title: '', priority: 'low' });
  });

  test('answers 500 for an unscripted call when configured with whenEmpty: error', async () => {
    const strict = await FakeOpenAIServer.start({ whenEmpty: 'error' });
    try {
      const strictClient = new OpenAI({ apiKey: 'sk-test-fake', baseURL: strict.baseURL, maxRetries: 0 });
      await assert.rejects(
        strictClient.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
        (error: unknown) => error instanceof OpenAI.InternalServerError,
      );
      assert.equal(strict.calls.length, 1);
    } finally {
      await strict.close();
    }
  });
});
