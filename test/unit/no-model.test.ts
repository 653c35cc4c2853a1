/**
 * Deskhand with no language model configured: the no-model gateway refuses and counts every call, questions
 * get the quoted passages marked as made without a model (and never touch the gateway), the help reply lists
 * every command with an example and what works without a model, and `/agent` says it needs one and how to
 * configure it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  agentNeedsModelMessage,
  createModelRequiredAgentHandler,
} from '../../src/capabilities/agent/agent-handlers.ts';
import { buildAnswerMessage, withoutModelNote } from '../../src/capabilities/answers/answer-blocks.ts';
import { createQuestionHandler } from '../../src/capabilities/answers/answer-handlers.ts';
import { answerQuestion } from '../../src/capabilities/answers/answer-question.ts';
import type { RetrievedContext, RetrieveRequest, Retriever } from '../../src/capabilities/answers/answer-source.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { isDeskhandError } from '../../src/errors.ts';
import { createNoModelGateway, isNoModelGateway } from '../../src/llm/no-model-gateway.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { RequestReply } from '../../src/router/request-reply.ts';
import { helpMessage } from '../../src/slack-kit/help-message.ts';
import { commands } from '../../src/slack-kit/ids.ts';
import { RecordingMessenger } from '../fakes/recording-messenger.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';
import { passage } from './answers-test-support.ts';

const access = { workspaceId: 'T1', channelId: 'C1' };
const callScope = { workspaceId: 'T1', channelId: 'C1', userId: 'U1' };
const dock = passage({
  documentId: 'dock',
  title: 'Loading dock',
  text: 'The canteen serves lunch at noon. The loading dock in Bremen opens at 6:15 on weekdays for parcel returns.',
});

function retriever(context: Partial<RetrievedContext>): Retriever & { requests: RetrieveRequest[] } {
  const requests: RetrieveRequest[] = [];
  const retrieve = async (request: RetrieveRequest): Promise<RetrievedContext> => {
    requests.push(request);
    return { passages: [], closest: [], indexVersion: 3, ...context };
  };
  return Object.assign(retrieve, { requests });
}

describe('the no-model gateway', () => {
  test('refuses every call with a configuration error that says how to configure a model, and counts it', async () => {
    const registry = createMetricsRegistry();
    const gateway = createNoModelGateway({ logger: createSilentLogger(), registry });
    assert.equal(isNoModelGateway(gateway), true);
    assert.equal(isNoModelGateway(new ScriptedModel({ responseCache: true })), false);
    const attempts = [
      gateway.chat({ purpose: 'answer', promptVersion: 'v1', messages: [], maxOutputTokens: 10 }, callScope),
      gateway.embed(['text'], callScope, { purpose: 'query' }),
    ];
    for (const attempt of attempts) {
      await assert.rejects(attempt, (error: unknown) => {
        assert.ok(isDeskhandError(error));
        assert.equal(error.code, 'configuration');
        assert.match(error.userMessage, /OPENAI_API_KEY/);
        assert.match(error.userMessage, /OPENAI_BASE_URL/);
        return true;
      });
    }
    const metrics = await registry.metrics();
    assert.match(metrics, /deskhand_model_calls_refused_total\{reason="no_model",purpose="answer"\} 1/);
    assert.match(metrics, /deskhand_model_calls_refused_total\{reason="no_model",purpose="query"\} 1/);
  });
});

describe('questions without a model', () => {
  test('are answered with the matching passages, quoted with citations, from sparse retrieval only', async () => {
    const gateway = new ScriptedModel({ responseCache: true }); // unscripted: any call would throw
    const retrieve = retriever({ passages: [dock] });
    const outcome = await answerQuestion(
      {
        question: 'When does the loading dock open?',
        access,
        callScope,
        history: [{ role: 'user', text: 'earlier turn' }],
      },
      { gateway, retrieve, withoutModel: true },
    );
    assert.equal(outcome.kind, 'without_model');
    if (outcome.kind !== 'without_model') return;
    assert.equal(gateway.calls.length, 0, 'no rewrite, no answer call');
    assert.equal(retrieve.requests[0]?.sparseOnly, true);
    assert.equal(outcome.rewritten, false);
    assert.match(outcome.extractive.markdown, /^> … The loading dock in Bremen opens at 6:15 .*\[1\]$/);
    assert.equal(outcome.extractive.cited[0]?.source.documentId, 'dock');

    const message = buildAnswerMessage(outcome);
    const shown = JSON.stringify(message.blocks);
    assert.ok(shown.includes(withoutModelNote), 'marked as made without a model');
    assert.match(shown, /\*Sources\*/);
    assert.match(shown, /no model-written answer/);
    assert.match(message.text, /^Answered without a language model/);
  });

  test('with nothing relevant, say so as usual (no model involved either way)', async () => {
    const gateway = new ScriptedModel({ responseCache: true });
    const outcome = await answerQuestion(
      { question: 'What is the wifi password?', access, callScope },
      { gateway, retrieve: retriever({}), withoutModel: true },
    );
    assert.equal(outcome.kind, 'no_sources');
    assert.equal(gateway.calls.length, 0);
  });

  describe('through the question handler', () => {
    const prefix = `test:${randomUUID()}:`;
    let redis: Redis;
    before(() => {
      redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    });
    after(async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });

    test('/ask ends in the marked extractive answer, recorded for feedback', async () => {
      const messenger = new RecordingMessenger();
      const feedback = new FeedbackStore(redis, { keyPrefix: prefix, ttlSeconds: 600 });
      const registry = createMetricsRegistry();
      const gateway = createNoModelGateway({ logger: createSilentLogger(), registry });
      const handler = createQuestionHandler({
        answer: { gateway, retrieve: retriever({ passages: [dock] }), withoutModel: true },
        feedback,
      });
      const request: CapabilityRequest = {
        route: 'question',
        origin: 'command',
        command: '/ask',
        workspaceId: 'T1',
        channelId: 'C1',
        userId: 'U0ASKER1',
        text: 'When does the loading dock open?',
        requestId: 'Ev1',
        threadContext: [],
      };
      await handler(request, new RequestReply(request, messenger));
      const final = messenger.updates.at(-1);
      assert.ok(final?.blocks);
      assert.match(JSON.stringify(final.blocks), /Answered without a language model/);
      assert.match(JSON.stringify(final.blocks), /6:15/);
      const buttons = final.blocks.find((block) => block.type === 'actions') as unknown as {
        elements: { value: string }[];
      };
      const record = await feedback.answer(buttons.elements[0]?.value ?? '', 'T1');
      assert.equal(record?.kind, 'without_model');
      assert.equal(record?.cited[0]?.documentId, 'dock');
      assert.doesNotMatch(await registry.metrics(), /deskhand_model_calls_refused_total\{/, 'no call attempted');
    });
  });
});

describe('help', () => {
  test('lists every command with an example', () => {
    for (const modelConfigured of [true, false]) {
      const shown = helpMessage({ modelConfigured })
        .blocks.map((block) => JSON.stringify(block))
        .join('\n');
      for (const command of Object.values(commands)) {
        assert.match(shown, new RegExp(`${command}[^\\n]*Example: \`${command}`), `${command} with an example`);
      }
      assert.match(shown, /Create ticket/);
      assert.match(shown, /:ticket:/);
    }
  });

  test('says what works without a model only when none is configured', () => {
    const without = JSON.stringify(helpMessage({ modelConfigured: false }));
    assert.match(without, /No language model is configured/);
    assert.match(without, /`\/ask` and questions get the passages/);
    assert.match(without, /rule-based tickets/);
    assert.match(without, /`\/budget` and `\/docs` work/);
    assert.match(without, /`\/agent` needs a model/);
    assert.match(without, /OPENAI_BASE_URL/);
    assert.doesNotMatch(JSON.stringify(helpMessage({ modelConfigured: true })), /No language model/);
  });
});

describe('the agent without a model', () => {
  test('says it needs a language model and how to configure one, as a reply rather than an error', async () => {
    const outcome = await createModelRequiredAgentHandler()();
    assert.deepEqual(outcome, { kind: 'reply', text: agentNeedsModelMessage, visibility: 'ephemeral' });
    assert.match(agentNeedsModelMessage, /needs a language model/);
    assert.match(agentNeedsModelMessage, /OPENAI_API_KEY/);
    assert.match(agentNeedsModelMessage, /OPENAI_BASE_URL plus any placeholder|`OPENAI_BASE_URL` plus any placeholder/);
  });
});
