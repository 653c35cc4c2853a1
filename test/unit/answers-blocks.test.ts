import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildAnswerMessage,
  buildStatusMessage,
  buildStreamEnding,
  buildStreamingMessage,
  splitForSections,
} from '../../src/capabilities/answers/answer-blocks.ts';
import type { AnswerOutcome } from '../../src/capabilities/answers/answer-outcome.ts';
import { processAnswerText } from '../../src/capabilities/answers/citations.ts';
import { extractiveAnswer } from '../../src/capabilities/answers/extractive-answer.ts';
import { answerActionIds, answerFeedbackBlockId } from '../../src/slack-kit/answer-ids.ts';
import { formatMicroUsd } from '../../src/slack-kit/money.ts';
import { checkMessage } from '../fakes/slack-limits.ts';
import { passage } from './answers-test-support.ts';

const answerId = '6f1f8a8e-1d2b-4c3d-9e4f-0a1b2c3d4e5f';
const usage = { modelCalls: 1, cacheHits: 0, inputTokens: 900, outputTokens: 60, costMicroUsd: 1234, savedMicroUsd: 0 };
const sources = [
  passage({ documentId: 'a', text: 'Refunds are paid within 5 business days.', sectionPath: ['Refunds'] }),
  passage({ documentId: 'b', text: 'Shipping is free.', source: './docs/shipping.md' }),
];

function answered(raw: string, overrides: Partial<Extract<AnswerOutcome, { kind: 'answered' }>> = {}): AnswerOutcome {
  const processed = processAnswerText(raw, sources);
  return {
    kind: 'answered',
    answerId,
    question: 'How long do refunds take?',
    standaloneQuestion: 'How long do refunds take?',
    rewritten: false,
    usage,
    markdown: processed.markdown,
    mrkdwn: processed.mrkdwn,
    cited: processed.cited,
    sources,
    grounded: processed.cited.length > 0,
    truncated: false,
    fromCache: false,
    model: 'gpt-4o-mini',
    indexVersion: 3,
    ...overrides,
  };
}

const allText = (message: { text: string; blocks: unknown[] }) => JSON.stringify(message);

describe('answer blocks', () => {
  test('an answer has its text, a sources block, a cost footer and feedback buttons carrying the answer id', () => {
    const message = buildAnswerMessage(answered('Refunds take **5 business days** [1].'));
    assert.equal(checkMessage(message.text, message.blocks), undefined);
    const json = allText(message);
    assert.match(json, /Refunds take \*5 business days\* \[1\]/);
    assert.match(json, /\*Sources\*\\n\[1\] <https:\/\/docs\.example\.com\/a\|Title of a> — Refunds/);
    assert.match(json, /Cost of this answer: \$0\.0012/);
    const actions = message.blocks.find((block) => block.block_id === answerFeedbackBlockId) as unknown as {
      elements: { action_id: string; value: string }[];
    };
    assert.deepEqual(
      actions.elements.map((element) => [element.action_id, element.value]),
      [
        [answerActionIds.helpful, answerId],
        [answerActionIds.notHelpful, answerId],
      ],
    );
  });

  test('a cached answer says so in the footer', () => {
    const message = buildAnswerMessage(
      answered('Five days [1].', { fromCache: true, usage: { ...usage, costMicroUsd: 0, savedMicroUsd: 1500 } }),
    );
    assert.match(allText(message), /Cost of this answer: \$0\.00 · answered from cache \(saved \$0\.0015\)/);
  });

  test('a very long answer is split into sections and stays within Slack limits', () => {
    const long = Array.from({ length: 400 }, (_, index) => `Sentence ${index} about refunds & returns [1].`).join(' ');
    const message = buildAnswerMessage(answered(long));
    assert.equal(checkMessage(message.text, message.blocks), undefined);
    assert.ok(message.blocks.filter((block) => block.type === 'section').length >= 3);
    assert.ok(message.blocks.some((block) => block.block_id === answerFeedbackBlockId));
  });

  test('no_sources lists the closest documents and states that no model wrote an answer', () => {
    const message = buildAnswerMessage({
      kind: 'no_sources',
      answerId,
      question: 'CEO birthday?',
      standaloneQuestion: 'CEO birthday?',
      rewritten: false,
      usage: { ...usage, modelCalls: 0, costMicroUsd: 0 },
      closest: [{ documentId: 'x', title: 'Team <!here> page', source: 'https://wiki.example.com/team', score: 0.2 }],
      indexVersion: 1,
      userMessage: 'I found no passage that answers this.',
    });
    assert.equal(checkMessage(message.text, message.blocks), undefined);
    const json = allText(message);
    assert.match(json, /Closest documents/);
    assert.match(json, /<https:\/\/wiki\.example\.com\/team\|Team &lt;!here&gt; page>/);
    assert.match(json, /no model-written answer/);
    assert.doesNotMatch(json, new RegExp(answerFeedbackBlockId));
  });

  test('over budget shows the reason, the quoted passages with sources and feedback buttons', () => {
    const extractive = extractiveAnswer('refunds', sources);
    const message = buildAnswerMessage({
      kind: 'over_budget',
      code: 'over_budget',
      answerId,
      question: 'refunds',
      standaloneQuestion: 'refunds',
      rewritten: false,
      usage: { ...usage, modelCalls: 0, costMicroUsd: 0 },
      userMessage: 'This channel has reached its model budget.',
      extractive,
    });
    assert.equal(checkMessage(message.text, message.blocks), undefined);
    const json = allText(message);
    assert.match(json, /reached its model budget/);
    assert.match(json, /> Refunds are paid within 5 business days\. \[1\]/);
    assert.match(json, /\*Sources\*/);
    assert.match(json, /no model-written answer/);
  });

  test('an over-budget reply mentions the admins who can raise the cap, and escapes everything else', () => {
    const message = buildAnswerMessage({
      kind: 'over_budget',
      code: 'over_budget',
      answerId,
      question: 'refunds',
      standaloneQuestion: 'refunds',
      rewritten: false,
      usage: { ...usage, modelCalls: 0, costMicroUsd: 0 },
      userMessage: 'This channel has used $0.01 of its daily model budget. <@W0ADMIN>, <@U0BOSS> can raise it <!here>.',
    });
    const json = allText(message);
    assert.match(json, /<@W0ADMIN>, <@U0BOSS> can raise it/);
    assert.match(json, /&lt;!here&gt;/);
    assert.doesNotMatch(json, /&lt;@W0ADMIN&gt;/);
  });

  test('an outage reply keeps every mention-like text escaped', () => {
    const message = buildAnswerMessage({
      kind: 'upstream_unavailable',
      code: 'upstream_unavailable',
      answerId,
      question: 'refunds',
      standaloneQuestion: 'refunds',
      rewritten: false,
      usage: { ...usage, modelCalls: 0, costMicroUsd: 0 },
      userMessage: 'The model is unavailable <@U0SOMEONE>.',
    });
    assert.match(allText(message), /&lt;@U0SOMEONE&gt;/);
  });

  test('a rewritten follow-up shows how it was understood', () => {
    const message = buildAnswerMessage(
      answered('Cards take longer [1].', {
        question: 'and cards?',
        standaloneQuestion: 'How long do card refunds take?',
        rewritten: true,
      }),
    );
    assert.match(allText(message), /Understood as:_ How long do card refunds take\?/);
  });

  test('status and streaming messages stay valid and escape the question', () => {
    const status = buildStatusMessage('searching', 'Is <!channel> & co ok?');
    assert.equal(checkMessage(status.text, status.blocks), undefined);
    assert.match(allText(status), /&lt;!channel&gt; &amp; co/);
    const streaming = buildStreamingMessage('q', 'Partial answer <b> [1]');
    assert.equal(checkMessage(streaming.text, streaming.blocks), undefined);
    assert.match(allText(streaming), /Partial answer &lt;b&gt; \[1\]/);
  });
});

describe('helpers', () => {
  test('the footer renders micro-dollars like every other amount (formatMicroUsd)', () => {
    assert.equal(formatMicroUsd(0), '$0.00');
    assert.equal(formatMicroUsd(50), '< $0.0001');
    assert.equal(formatMicroUsd(1234), '$0.0012');
    assert.equal(formatMicroUsd(1_250_000), '$1.25');
  });

  test('splitForSections never exceeds the limit and never cuts an escape in half', () => {
    const text = `${'word '.repeat(500)}&amp;${'more '.repeat(500)}`;
    const parts = splitForSections(text, 300);
    for (const part of parts) {
      assert.ok(part.length <= 300);
      assert.doesNotMatch(part, /&(a|am|amp)?$/);
    }
    assert.equal(parts.join(' ').replace(/\s+/g, ' '), text.trim().replace(/\s+/g, ' '));
  });
});

describe('the end of a streamed answer', () => {
  test('appends only what was not streamed and adds sources, footer and buttons without repeating the answer', () => {
    const outcome = answered('Refunds take 5 business days [1].');
    assert.equal(outcome.kind, 'answered');
    const ending = buildStreamEnding(outcome, 'Refunds take 5');
    assert.equal(ending.markdown, ' business days [1].');
    const json = JSON.stringify(ending.blocks);
    assert.match(json, /\*Sources\*/);
    assert.match(json, new RegExp(answerActionIds.helpful));
    assert.doesNotMatch(json, /Refunds take/);
    assert.match(ending.text, /Refunds take 5 business days \[1\]/);
    assert.equal(checkMessage(ending.text, ending.blocks), undefined);
  });

  test('appends nothing when the whole answer was streamed', () => {
    const outcome = answered('Refunds take 5 business days [1].');
    assert.equal(buildStreamEnding(outcome, outcome.kind === 'answered' ? outcome.markdown : '').markdown, undefined);
  });

  test('a stream that diverged from the final answer ends with the whole final message', () => {
    const outcome = answered('Refunds take 5 business days [1].');
    const ending = buildStreamEnding(outcome, 'Refunds need');
    assert.equal(ending.markdown, undefined);
    assert.deepEqual(ending.blocks, buildAnswerMessage(outcome).blocks);
  });

  test('an outcome with nothing streamed (no sources) ends with its whole message', () => {
    const outcome: AnswerOutcome = {
      kind: 'no_sources',
      answerId,
      question: 'Why is the sky blue?',
      standaloneQuestion: 'Why is the sky blue?',
      rewritten: false,
      usage,
      closest: [],
      indexVersion: 1,
      userMessage: 'There are no documents this channel can see that answer this.',
    };
    const ending = buildStreamEnding(outcome, '');
    assert.equal(ending.markdown, undefined);
    assert.deepEqual(ending.blocks, buildAnswerMessage(outcome).blocks);
  });
});
