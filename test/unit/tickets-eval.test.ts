/**
 * The evaluation script as users run it: rules mode over the labelled set, and model mode against an
 * OpenAI-compatible endpoint (the spec-validating fake) with the real gateway.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { Ticket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';

const run = promisify(execFile);
const labelled = 'eval/tickets/labelled.jsonl';

interface EvalSummary {
  mode: string;
  examples: number;
  outcomes: Record<string, number>;
  fieldAccuracy: Record<string, number>;
  hallucinationRate: number;
  groundingRemoved: number;
}

async function evaluate(
  args: string[],
  environment: Record<string, string> = {},
): Promise<{ summary: EvalSummary; stdout: string }> {
  const { stdout } = await run(process.execPath, ['scripts/eval-tickets.ts', labelled, ...args], {
    env: { ...process.env, ...environment },
    timeout: 90_000,
  });
  const lastLine = stdout.trim().split('\n').at(-1) ?? '';
  return { summary: JSON.parse(lastLine) as EvalSummary, stdout };
}

describe('eval:tickets', () => {
  let fake: FakeOpenAIServer;
  let dataDir: string;
  const keyPrefix = `test:${randomUUID()}:`;
  before(async () => {
    fake = await FakeOpenAIServer.start({ whenEmpty: 'error' });
    dataDir = await mkdtemp(join(tmpdir(), 'deskhand-eval-'));
  });
  after(async () => {
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
    const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  test('the labelled set has at least 60 messages with every ticket field labelled', async () => {
    const lines = (await readFile(labelled, 'utf8')).trim().split('\n');
    assert.ok(lines.length >= 60, `${lines.length} messages`);
    const fields = [
      'summary',
      'category',
      'urgency',
      'urgencyReason',
      'orderIds',
      'customerName',
      'customerEmail',
      'product',
      'deadline',
      'frequency',
      'language',
      'questionsToAsk',
      'confidence',
    ];
    for (const line of lines) {
      const example = JSON.parse(line) as {
        text: string;
        messageTs: string;
        timeZone: string;
        expected: Record<string, unknown>;
      };
      assert.deepEqual(Object.keys(example.expected).sort(), [...fields].sort());
      assert.match(example.messageTs, /^\d+\.\d{6}$/);
      for (const orderId of example.expected.orderIds as string[]) assert.ok(example.text.includes(orderId), orderId);
    }
  });

  test('rules mode prints per-field accuracy and the hallucination rate, last line JSON', async () => {
    const { summary, stdout } = await evaluate(['--mode', 'rules', '--limit', '12']);
    assert.equal(summary.mode, 'rules');
    assert.equal(summary.examples, 12);
    assert.equal(summary.outcomes.degraded, 12);
    assert.deepEqual(Object.keys(summary.fieldAccuracy).sort(), [
      'category',
      'customerEmail',
      'customerName',
      'deadline',
      'frequency',
      'language',
      'orderIds',
      'product',
      'urgency',
    ]);
    assert.equal(summary.hallucinationRate, 0);
    assert.match(stdout, /hallucination rate: 0 %/);
  });

  test('model mode runs through the real gateway against an OpenAI-compatible endpoint and scores grounded output', async () => {
    const lines = (await readFile(labelled, 'utf8')).trim().split('\n').slice(0, 3);
    const expected = lines.map((line) => (JSON.parse(line) as { expected: Ticket }).expected);
    // Reply with the labels, except that the first reply invents an extra order id.
    expected.forEach((ticket, index) => {
      const reply = index === 0 ? { ...ticket, orderIds: [...ticket.orderIds, 'ORD-00000001'] } : ticket;
      fake.enqueueChat({ content: JSON.stringify(reply) });
    });
    const { summary } = await evaluate(['--mode', 'model', '--limit', '3'], {
      OPENAI_BASE_URL: fake.baseURL,
      OPENAI_API_KEY: 'sk-test-eval',
      DATA_DIR: dataDir,
      REDIS_KEY_PREFIX: keyPrefix,
      LOG_LEVEL: 'silent',
    });
    assert.equal(summary.mode, 'model');
    assert.equal(summary.outcomes.extracted, 3);
    assert.equal(summary.groundingRemoved, 1, 'the invented order id was removed by grounding');
    assert.equal(summary.fieldAccuracy.orderIds, 100);
    assert.equal(summary.fieldAccuracy.category, 100);
    assert.equal(summary.hallucinationRate, 0);
    assert.equal(fake.chatCalls().length, 3);
    assert.deepEqual(fake.violations, []);
  });
});
