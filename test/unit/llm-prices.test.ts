import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeskhandError } from '../../src/errors.ts';
import { formatMicroUsd, PriceTable } from '../../src/llm/prices.ts';

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
