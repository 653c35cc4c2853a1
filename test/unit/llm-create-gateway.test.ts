import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createGateway } from '../../src/composition/create-gateway.ts';
import { DeskhandError } from '../../src/errors.ts';
import { createLogger, createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';

const environment = {
  SLACK_BOT_TOKEN: 'xoxb-test',
  SLACK_SIGNING_SECRET: 'signing-secret-123',
  OPENAI_API_KEY: 'sk-test-create',
  BUDGET_CHANNEL_DAILY_USD: '2.5',
  ADMIN_USER_IDS: 'U0ADMIN',
};

function configurationFor(extra: Record<string, string>) {
  const loaded = loadConfiguration({ ...environment, ...extra });
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.join('\n'));
  return loaded.configuration;
}

const dependencies = () => ({
  openai: new OpenAI({ apiKey: 'sk-test-create', baseURL: 'http://127.0.0.1:9/v1' }),
  // Never connects: these tests only build the parts.
  redis: new Redis({ lazyConnect: true }),
  metrics: createMetricsRegistry(),
  logger: createSilentLogger(),
});

describe('createGateway', () => {
  test('builds the gateway with budget defaults converted to micro-dollars', () => {
    const parts = createGateway(configurationFor({}), dependencies());
    assert.equal(parts.budgets.defaults.channelDailyMicroUsd, 2_500_000);
    assert.deepEqual(parts.budgets.adminUserIds, ['U0ADMIN']);
    assert.equal(parts.embedder.model, 'text-embedding-3-small');
  });

  test('refuses to start with a model that has no price', () => {
    assert.throws(
      () => createGateway(configurationFor({ OPENAI_MODEL: 'house-model-7b' }), dependencies()),
      (error: unknown) => error instanceof DeskhandError && error.code === 'configuration',
    );
  });

  test('starts with an unlisted model once MODEL_PRICES_JSON prices it', () => {
    const parts = createGateway(
      configurationFor({
        OPENAI_MODEL: 'house-model-7b',
        MODEL_PRICES_JSON: '{"house-model-7b":{"inputPerMillionUsd":0.1}}',
      }),
      dependencies(),
    );
    assert.equal(parts.prices.priceOf('house-model-7b').inputPerMillion, 100_000);
  });

  test('starts with an unpriced model on a local server and warns that its spend shows $0', () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ destination: { write: (line: string) => lines.push(JSON.parse(line)) } });
    const parts = createGateway(
      configurationFor({
        OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
        OPENAI_MODEL: 'llama3.1:8b',
        OPENAI_EMBEDDING_MODEL: 'nomic-embed-text',
      }),
      { ...dependencies(), logger },
    );
    assert.equal(parts.prices.unpricedReason('llama3.1:8b'), 'local server');
    const warnings = lines.filter((line) => line.level === 'warn' && line.pricing === 'unpriced');
    assert.deepEqual(
      warnings.map((line) => line.model),
      ['llama3.1:8b', 'nomic-embed-text'],
    );
    assert.match(String(warnings[0]?.msg), /model llama3\.1:8b is unpriced \(local server\): its spend shows \$0/);
  });
});
