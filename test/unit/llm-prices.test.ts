import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeskhandError } from '../../src/errors.ts';
import { PriceTable } from '../../src/llm/prices.ts';
import { isLocalHost, isOpenAIHost, unknownModelPolicy } from '../../src/llm/unknown-models.ts';
import { formatMicroUsd } from '../../src/slack-kit/money.ts';

describe('PriceTable', () => {
  const prices = new PriceTable();

  test('computes integer micro-dollar costs, rounding up, with the cached-input discount', () => {
    // gpt-4o-mini: $0.15 input, $0.075 cached, $0.60 output per 1M tokens.
    assert.equal(prices.cost('gpt-4o-mini', { inputTokens: 1_000_000, outputTokens: 0 }), 150_000);
    assert.equal(
      prices.cost('gpt-4o-mini', { inputTokens: 1_000_000, cachedInputTokens: 1_000_000, outputTokens: 0 }),
      75_000,
    );
    assert.equal(prices.cost('gpt-4o-mini', { inputTokens: 0, outputTokens: 1000 }), 600);
    assert.equal(prices.cost('gpt-4o-mini', { inputTokens: 1, outputTokens: 0 }), 1);
    assert.ok(Number.isInteger(prices.cost('gpt-4o', { inputTokens: 333, outputTokens: 777 })));
  });

  test('prices dated snapshots and fine-tunes like their base model', () => {
    assert.deepEqual(prices.priceOf('gpt-4o-mini-2024-07-18'), prices.priceOf('gpt-4o-mini'));
    assert.deepEqual(prices.priceOf('ft:gpt-4o-mini:acme::abc123'), prices.priceOf('gpt-4o-mini'));
  });

  test('treats a model without a price as a configuration error', () => {
    assert.throws(
      () => prices.priceOf('gpt-4o-turbo-unknown'),
      (error: unknown) =>
        error instanceof DeskhandError && error.code === 'configuration' && /MODEL_PRICES_JSON/.test(error.userMessage),
    );
  });

  test('applies MODEL_PRICES_JSON overrides and adds new models', () => {
    const custom = new PriceTable(
      '{"gpt-4o-mini":{"inputPerMillionUsd":1,"outputPerMillionUsd":2},"local-llm":{"inputPerMillionUsd":0.5}}',
    );
    assert.deepEqual(custom.priceOf('gpt-4o-mini'), {
      inputPerMillion: 1_000_000,
      cachedInputPerMillion: 1_000_000,
      outputPerMillion: 2_000_000,
    });
    assert.equal(custom.cost('local-llm', { inputTokens: 2_000_000, outputTokens: 5 }), 1_000_000);
  });

  test('rejects malformed MODEL_PRICES_JSON with the offending field', () => {
    assert.throws(() => new PriceTable('{not json'), /not valid JSON/);
    assert.throws(() => new PriceTable('{"m":{"inputPerMillionUsd":-1}}'), /m\.inputPerMillionUsd/);
  });

  test('formats micro-dollars for people', () => {
    assert.equal(formatMicroUsd(1_234_567), '$1.23');
    assert.equal(formatMicroUsd(1_500), '$0.0015');
    assert.equal(formatMicroUsd(0), '$0.00');
  });
});

describe('unknown models', () => {
  test('are refused against OpenAI (any region, and Azure OpenAI) unless a price is configured', () => {
    for (const url of [
      'https://api.openai.com/v1',
      'https://eu.api.openai.com/v1',
      'https://acme.openai.azure.com/openai/v1',
    ]) {
      assert.ok(isOpenAIHost(url), url);
      assert.equal(unknownModelPolicy(url, undefined).kind, 'refuse', url);
    }
    const table = new PriceTable({ unknownModels: unknownModelPolicy('https://api.openai.com/v1', undefined) });
    assert.throws(
      () => table.priceOf('llama3.1:8b'),
      (error: unknown) =>
        error instanceof DeskhandError &&
        error.code === 'configuration' &&
        /^Deskhand has no price for the model "llama3\.1:8b".*MODEL_PRICES_JSON.*UNKNOWN_MODEL_PRICE/.test(
          error.userMessage,
        ),
    );
    assert.equal(table.label('llama3.1:8b'), 'none');
  });

  test('cost $0 against a local server and are reported as unpriced ("local server")', () => {
    for (const url of [
      'http://127.0.0.1:11434/v1',
      'http://localhost:8080/v1',
      'http://ollama:11434/v1',
      'http://[::1]:8000/v1',
      'http://10.1.2.3/v1',
      'http://172.20.0.5:8000/v1',
      'http://192.168.1.20:11434/v1',
      'http://169.254.10.20/v1',
      'http://[fd12:3456::1]:8000/v1',
      'http://[fe80::1]/v1',
      'http://gpu.internal/v1',
      'http://llm-box.local:8080/v1',
    ]) {
      assert.ok(isLocalHost(url), url);
      const local = new PriceTable({ unknownModels: unknownModelPolicy(url, undefined) });
      assert.deepEqual(
        local.resolve('llama3.1:8b'),
        {
          price: { inputPerMillion: 0, cachedInputPerMillion: 0, outputPerMillion: 0 },
          source: 'fallback',
          unpriced: 'local server',
        },
        url,
      );
      assert.equal(local.cost('llama3.1:8b', { inputTokens: 1_000_000, outputTokens: 1_000_000 }), 0);
      assert.equal(local.label('llama3.1:8b'), 'unpriced');
      // Models the table knows keep their price on any server.
      assert.equal(local.label('gpt-4o-mini'), 'table');
      assert.equal(local.unpricedReason('gpt-4o-mini'), undefined);
      assert.equal(local.cost('gpt-4o-mini', { inputTokens: 1_000_000, outputTokens: 0 }), 150_000);
    }
  });

  test('are refused against a hosted compatible service (a public host) unless UNKNOWN_MODEL_PRICE is set', () => {
    for (const url of [
      'https://openrouter.ai/api/v1',
      'https://api.groq.com/openai/v1',
      'https://api.together.xyz/v1',
      'https://llm.example.com/v1',
      'http://203.0.113.7:8000/v1',
      'http://172.32.0.1/v1',
    ]) {
      assert.equal(isLocalHost(url), false, url);
      assert.equal(isOpenAIHost(url), false, url);
      assert.equal(unknownModelPolicy(url, undefined).kind, 'refuse', url);
      const hosted = new PriceTable({ unknownModels: unknownModelPolicy(url, undefined) });
      assert.throws(
        () => hosted.priceOf('llama3.1:8b'),
        (error: unknown) =>
          error instanceof DeskhandError &&
          error.code === 'configuration' &&
          /^Deskhand has no price for the model "llama3\.1:8b".*MODEL_PRICES_JSON.*UNKNOWN_MODEL_PRICE/.test(
            error.userMessage,
          ),
        url,
      );
      assert.equal(hosted.label('llama3.1:8b'), 'none');
      assert.equal(hosted.label('gpt-4o-mini'), 'table', 'models the table knows keep their price');
      const priced = new PriceTable({
        unknownModels: unknownModelPolicy(url, { inputPerMillionUsd: 0.2, outputPerMillionUsd: 0.6 }),
      });
      assert.equal(priced.cost('llama3.1:8b', { inputTokens: 1_000_000, outputTokens: 1_000_000 }), 800_000, url);
      assert.equal(priced.label('llama3.1:8b'), 'fallback');
      assert.equal(priced.unpricedReason('llama3.1:8b'), undefined);
    }
  });

  test('are charged a configured UNKNOWN_MODEL_PRICE, on any server; a configured 0,0 still counts as unpriced', () => {
    const priced = new PriceTable({
      unknownModels: unknownModelPolicy('http://127.0.0.1:11434/v1', {
        inputPerMillionUsd: 0.2,
        outputPerMillionUsd: 0.6,
      }),
    });
    assert.equal(priced.cost('llama3.1:8b', { inputTokens: 1_000_000, outputTokens: 1_000_000 }), 800_000);
    assert.equal(priced.label('llama3.1:8b'), 'fallback');
    assert.equal(priced.unpricedReason('llama3.1:8b'), undefined);
    const onOpenAI = new PriceTable({
      unknownModels: unknownModelPolicy('https://api.openai.com/v1', { inputPerMillionUsd: 1, outputPerMillionUsd: 2 }),
    });
    assert.equal(onOpenAI.cost('house-model', { inputTokens: 1000, outputTokens: 1000 }), 3_000);
    const free = new PriceTable({
      unknownModels: unknownModelPolicy('https://api.openai.com/v1', { inputPerMillionUsd: 0, outputPerMillionUsd: 0 }),
    });
    assert.equal(free.unpricedReason('house-model'), 'UNKNOWN_MODEL_PRICE is 0');
    assert.equal(unknownModelPolicy('http://127.0.0.1:11434/v1', 'none').kind, 'refuse');
  });

  test('MODEL_PRICES_JSON entries win over the unknown-model policy', () => {
    const table = new PriceTable({
      overridesJson: '{"llama3.1:8b":{"inputPerMillionUsd":0,"outputPerMillionUsd":0}}',
      unknownModels: unknownModelPolicy('http://127.0.0.1:11434/v1', undefined),
    });
    assert.equal(table.label('llama3.1:8b'), 'table', 'an explicit $0 price is a price');
    assert.equal(table.label('mistral:7b'), 'unpriced');
  });
});
