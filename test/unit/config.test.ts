import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { configurationSchema, loadConfiguration } from '../../src/composition/config.ts';

const minimal = { SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'secret-123456' };

describe('loadConfiguration', () => {
  test('a minimal environment gets the documented defaults', () => {
    const result = loadConfiguration(minimal);
    assert.ok(result.ok);
    const { configuration } = result;
    assert.equal(configuration.port, 3000);
    assert.equal(configuration.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(configuration.slack.apiUrl, 'https://slack.com/api/');
    assert.equal(configuration.slack.appToken, undefined, 'HTTP mode unless SLACK_APP_TOKEN is set');
    assert.equal(configuration.qdrant.url, undefined, 'embedded index unless QDRANT_URL is set');
    assert.equal(configuration.dataDir, './data');
    assert.equal(configuration.slack.maxFutureSkewSeconds, 60);
  });

  test('reports every problem at once, each naming the variable and how to fix it', () => {
    const result = loadConfiguration({
      SLACK_SIGNING_SECRET: 'short',
      SLACK_APP_TOKEN: 'xoxb-not-an-app-token',
      PORT: '70000',
      REDIS_URL: 'not a url',
      ADMIN_USER_IDS: 'U123,bob',
      TIME_ZONE: 'Mars/Olympus',
    });
    assert.equal(result.ok, false);
    if (result.ok) return;
    const expected = [
      /^SLACK_BOT_TOKEN is required but not set — set it to the Bot User OAuth Token/,
      /^SLACK_SIGNING_SECRET is invalid: looks too short — set it to the Signing Secret/,
      /^SLACK_APP_TOKEN is invalid: must start with xapp-/,
      /^PORT is invalid: .* — set it to a TCP port number between 1 and 65535/,
      /^REDIS_URL is invalid: .* — set it to a redis:\/\/ or rediss:\/\/ URL/,
      /^ADMIN_USER_IDS is invalid: must be Slack ids/,
      /^TIME_ZONE is invalid: must be an IANA time zone/,
    ];
    assert.equal(result.problems.length, expected.length, result.problems.join('\n'));
    for (const pattern of expected) {
      assert.ok(
        result.problems.some((problem) => pattern.test(problem)),
        `missing ${pattern}\n${result.problems.join('\n')}`,
      );
    }
  });

  test('empty strings count as unset', () => {
    const result = loadConfiguration({ ...minimal, PORT: '', SLACK_APP_TOKEN: '  ', QDRANT_URL: '' });
    assert.ok(result.ok);
    assert.equal(result.configuration.port, 3000);
    assert.equal(result.configuration.slack.appToken, undefined);
    assert.equal(result.configuration.qdrant.url, undefined);
  });

  test('SLACK_APP_TOKEN switches to Socket Mode and SLACK_API_URL gains a trailing slash', () => {
    const result = loadConfiguration({
      ...minimal,
      SLACK_APP_TOKEN: 'xapp-1-A1-xyz',
      SLACK_API_URL: 'http://127.0.0.1:9/api',
    });
    assert.ok(result.ok);
    assert.equal(result.configuration.slack.appToken, 'xapp-1-A1-xyz');
    assert.equal(result.configuration.slack.apiUrl, 'http://127.0.0.1:9/api/');
  });

  test('a ticket webhook without its signing secret is a problem', () => {
    const result = loadConfiguration({ ...minimal, TICKET_WEBHOOK_URL: 'https://example.com/hook' });
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.match(result.problems.join('\n'), /TICKET_WEBHOOK_SECRET is required when TICKET_WEBHOOK_URL is set/);
  });
});

describe('model prices', () => {
  const problemsFor = (environment: Record<string, string>) => {
    const result = loadConfiguration({ ...minimal, ...environment });
    return result.ok ? [] : result.problems;
  };

  test('rejects a malformed UNKNOWN_MODEL_PRICE, saying what it must be', () => {
    for (const value of ['0.2', 'free', '-1,2', '1,2,3', '0.2;0.6', '$1,$2']) {
      const problems = problemsFor({ UNKNOWN_MODEL_PRICE: value });
      assert.equal(problems.length, 1, `${value}: ${problems.join('\n')}`);
      assert.match(
        problems[0] ?? '',
        /^UNKNOWN_MODEL_PRICE is invalid: must be "input,output" in USD per million tokens, or "none" — set it to the price of models missing from the price table as input,output USD per million tokens \(e\.g\. 0\.2,0\.6/,
        value,
      );
    }
  });

  test('rejects a malformed MODEL_PRICES_JSON at start-up, naming the field', () => {
    assert.match(
      problemsFor({ MODEL_PRICES_JSON: '{not json' })[0] ?? '',
      /^MODEL_PRICES_JSON is invalid: not valid JSON — set it to a JSON object/,
    );
    assert.match(
      problemsFor({ MODEL_PRICES_JSON: '{"llama3.1:8b":{"inputPerMillionUsd":"cheap"}}' })[0] ?? '',
      /^MODEL_PRICES_JSON is invalid: llama3\.1:8b\.inputPerMillionUsd: /,
    );
  });

  test('unknown models cost $0 (unpriced) on a local server and are refused on any public host unless priced', () => {
    const policy = (environment: Record<string, string>) => {
      const result = loadConfiguration({ ...minimal, ...environment });
      assert.ok(result.ok, result.ok ? '' : result.problems.join('\n'));
      return result.configuration.openai;
    };
    assert.equal(policy({}).unknownModels.kind, 'refuse');
    assert.equal(policy({}).fallbackEncoding, undefined, 'OpenAI models have known encodings');
    const local = policy({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' });
    assert.deepEqual(local.unknownModels, {
      kind: 'charge',
      price: { inputPerMillion: 0, cachedInputPerMillion: 0, outputPerMillion: 0 },
      unpriced: 'local server',
    });
    assert.equal(local.fallbackEncoding, 'cl100k_base');
    const hosted = policy({ OPENAI_BASE_URL: 'https://openrouter.ai/api/v1' });
    assert.deepEqual(hosted.unknownModels, {
      kind: 'refuse',
      why: 'OPENAI_BASE_URL is a hosted service, not a local server',
    });
    assert.equal(hosted.fallbackEncoding, 'cl100k_base', 'its models may still be unknown to tiktoken');
    assert.deepEqual(
      policy({ OPENAI_BASE_URL: 'https://api.groq.com/openai/v1', UNKNOWN_MODEL_PRICE: '0.05,0.1' }).unknownModels,
      {
        kind: 'charge',
        price: { inputPerMillion: 50_000, cachedInputPerMillion: 50_000, outputPerMillion: 100_000 },
      },
    );
    assert.deepEqual(
      policy({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1', UNKNOWN_MODEL_PRICE: ' 0.2, 0.6 ' }).unknownModels,
      {
        kind: 'charge',
        price: { inputPerMillion: 200_000, cachedInputPerMillion: 200_000, outputPerMillion: 600_000 },
      },
    );
    assert.deepEqual(policy({ UNKNOWN_MODEL_PRICE: '1,4' }).unknownModels, {
      kind: 'charge',
      price: { inputPerMillion: 1_000_000, cachedInputPerMillion: 1_000_000, outputPerMillion: 4_000_000 },
    });
    assert.equal(
      policy({ OPENAI_BASE_URL: 'http://ollama:11434/v1', UNKNOWN_MODEL_PRICE: 'NONE' }).unknownModels.kind,
      'refuse',
    );
    assert.equal(
      policy({ OPENAI_BASE_URL: 'http://127.0.0.1:8000/v1', TOKENIZER_FALLBACK_ENCODING: 'o200k_base' })
        .fallbackEncoding,
      'o200k_base',
    );
  });
});

describe('REDACT', () => {
  test('lists the kinds masked before model calls; unset masks only cards and secrets (added by the gateway)', () => {
    const redact = (value: string | undefined) => {
      const result = loadConfiguration({ ...minimal, ...(value === undefined ? {} : { REDACT: value }) });
      assert.ok(result.ok, result.ok ? '' : result.problems.join('; '));
      return result.configuration.openai.redact;
    };
    assert.deepEqual(redact(undefined), []);
    assert.deepEqual(redact(''), []);
    assert.deepEqual(redact('emails, Phones,cards'), ['email', 'phone', 'card']);
  });

  test('refuses an unknown name, naming it and the accepted ones', () => {
    const result = loadConfiguration({ ...minimal, REDACT: 'emails,adresses' });
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.problems, [
      'REDACT is invalid: unknown name "adresses"; use any of emails, phones, ibans, cards, secrets (cards and secrets are always masked) — set it to comma-separated kinds of personal data to mask before every model call: emails, phones, ibans (cards and secrets are always masked).',
    ]);
  });
});

describe('Socket Mode heartbeat', () => {
  test('defaults to the Socket Mode client’s own timeouts: 5 s for a pong, 30 s for Slack’s ping', () => {
    const result = loadConfiguration(minimal);
    assert.ok(result.ok);
    assert.deepEqual(result.configuration.slack.socketMode, { clientPingTimeoutMs: 5000, serverPingTimeoutMs: 30000 });
  });

  test('takes both in milliseconds', () => {
    const result = loadConfiguration({
      ...minimal,
      SOCKET_MODE_CLIENT_PING_TIMEOUT_MS: '1000',
      SOCKET_MODE_SERVER_PING_TIMEOUT_MS: '600000',
    });
    assert.ok(result.ok, result.ok ? '' : result.problems.join('\n'));
    assert.deepEqual(result.configuration.slack.socketMode, { clientPingTimeoutMs: 1000, serverPingTimeoutMs: 600000 });
  });

  test('refuses values out of bounds or not whole numbers, saying what they must be', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { SOCKET_MODE_CLIENT_PING_TIMEOUT_MS: '500' },
        /^SOCKET_MODE_CLIENT_PING_TIMEOUT_MS is invalid: .* — set it to milliseconds \(1000–60000\) Socket Mode waits for the pong to its ping before it drops the connection; also the wait before reconnecting\.$/,
      ],
      [{ SOCKET_MODE_CLIENT_PING_TIMEOUT_MS: '120000' }, /^SOCKET_MODE_CLIENT_PING_TIMEOUT_MS is invalid: /],
      [{ SOCKET_MODE_CLIENT_PING_TIMEOUT_MS: '2.5' }, /^SOCKET_MODE_CLIENT_PING_TIMEOUT_MS is invalid: /],
      [
        { SOCKET_MODE_SERVER_PING_TIMEOUT_MS: 'soon' },
        /^SOCKET_MODE_SERVER_PING_TIMEOUT_MS is invalid: .* — set it to milliseconds \(1000–600000\) Socket Mode waits for Slack’s next ping/,
      ],
      [{ SOCKET_MODE_SERVER_PING_TIMEOUT_MS: '999' }, /^SOCKET_MODE_SERVER_PING_TIMEOUT_MS is invalid: /],
    ];
    for (const [environment, pattern] of cases) {
      const result = loadConfiguration({ ...minimal, ...environment });
      const problems = result.ok ? [] : result.problems;
      assert.equal(problems.length, 1, `${JSON.stringify(environment)}: ${problems.join('\n')}`);
      assert.match(problems[0] ?? '', pattern);
    }
  });
});

describe('configuration documentation', () => {
  const variables = Object.keys(configurationSchema.shape);
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');

  test('every variable is in the README configuration table', () => {
    const missing = variables.filter((name) => !readme.includes(`| \`${name}\` |`));
    assert.deepEqual(missing, []);
  });

  test('every variable is in .env.example', () => {
    const missing = variables.filter((name) => !new RegExp(`^${name}=`, 'm').test(example));
    assert.deepEqual(missing, []);
  });
});
