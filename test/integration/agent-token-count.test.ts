/**
 * Each agent turn is tokenized once: the run counts the request for its cost-cap check and hands the count to the
 * gateway (`ChatRequest.inputTokens`), which reserves and settles with it instead of counting again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CallScope, ChatRequest, ChatResult, LanguageModelGateway } from '../../src/ports/language-model.ts';
import { call, harnessPerTest } from './agent-harness.ts';

const withHarness = harnessPerTest();

test('each model turn is counted once and the gateway uses that count', async () => {
  const h = await withHarness();
  const real = h.runtime.gateway;
  const counts: number[] = [];
  const given: (number | undefined)[] = [];
  const counting: LanguageModelGateway = {
    countChatTokens: (request: ChatRequest) => {
      const counted = real.countChatTokens(request);
      counts.push(counted);
      return counted;
    },
    chat: (request: ChatRequest, scope: CallScope): Promise<ChatResult> => {
      given.push(request.inputTokens);
      return real.chat(request, scope);
    },
    structured: (request, scope) => real.structured(request, scope),
    embed: (texts, scope, options) => real.embed(texts, scope, options),
  };
  h.runtime.gateway = counting;
  h.fake.enqueueChat({ toolCalls: [call('update_plan', { steps: ['Answer'] })] });
  h.fake.enqueueChat({ content: 'Refunds take five days.' });
  const runId = await h.startRun('How long do refunds take?');
  const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
  assert.equal(ended.outcome?.kind, 'finished');
  assert.equal(given.length, 2, 'two model turns');
  assert.deepEqual(given, counts, 'every turn reached the gateway with the one count made for its cost check');
  // The provider's reported prompt tokens equal the count the gateway was given: no drift, nothing recounted.
  const drift = await h.gateway.metrics.getSingleMetricAsString('deskhand_llm_token_count_drift_last');
  assert.match(drift, /model="gpt-4o-mini"} 0/);
});
