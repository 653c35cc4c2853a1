/**
 * The hand-over ticket and card: prefilled by rules from the question (no model), every untrusted text escaped,
 * only http(s) links kept, and the triage message with the hand-over blocks within Block Kit's limits at the
 * largest record the store keeps. The answer's final message carries the "Get a human" button on every outcome
 * that has one to offer, and the agent's summary on a run a human declined.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderProgress } from '../../src/capabilities/agent/progress.ts';
import { needsHandOver } from '../../src/capabilities/agent/run-hand-over.ts';
import { newRunState } from '../../src/capabilities/agent/run-state.ts';
import { buildAnswerMessage } from '../../src/capabilities/answers/answer-blocks.ts';
import type { AnswerOutcome } from '../../src/capabilities/answers/answer-outcome.ts';
import { handOverBlocks, handOverDetails, handOverTicket } from '../../src/capabilities/tickets/hand-over-card.ts';
import { boundedRecord } from '../../src/capabilities/tickets/hand-over-store.ts';
import { buildTriageMessage } from '../../src/capabilities/tickets/ticket-card.ts';
import { defaultTicketCategories } from '../../src/capabilities/tickets/ticket-schema.ts';
import type { HandOverRecord } from '../../src/ports/hand-over.ts';
import { handOverActionId } from '../../src/slack-kit/hand-over-ids.ts';
import { checkMessage } from '../fakes/slack-limits.ts';

const options = { categories: defaultTicketCategories, teamLanguage: 'en', timeZone: 'UTC', now: new Date() };

function record(overrides: Partial<HandOverRecord> = {}): HandOverRecord {
  return {
    id: 'answer-1',
    kind: 'answer',
    workspaceId: 'T111',
    channelId: 'C111',
    askerId: 'U0ASKER',
    question: 'My order 4411 never arrived, where is it?',
    answer: 'Deliveries take 3 days [1].',
    outcome: 'answered',
    sources: [{ title: 'Delivery policy', location: 'Timing', link: 'https://wiki.example.com/delivery' }],
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

test('the ticket is prefilled from the question by rules: summary, category, order id, and what to look at', () => {
  const ticket = handOverTicket(record(), options);
  assert.equal(ticket.summary, 'My order 4411 never arrived, where is it?');
  assert.equal(ticket.category, 'missing_delivery');
  assert.deepEqual(ticket.orderIds, ['4411']);
  assert.match(ticket.questionsToAsk[0] ?? '', /Was the answer Deskhand gave right/);
  const fallback = handOverTicket(record({ question: 'hm' }), options);
  assert.ok(defaultTicketCategories.includes(fallback.category as never));
});

test('untrusted text is escaped and only http(s) links become links', () => {
  const blocks = handOverBlocks(
    handOverDetails(
      record({
        question: 'Hi <!channel> <@U0BOSS> & <https://evil.example|click>',
        answer: 'See <!here>',
        sources: [
          { title: 'Evil|<title>', link: 'javascript:alert(1)' },
          { title: 'Good', link: 'https://wiki.example.com/a|b>c' },
        ],
      }),
      'https://fake.slack.com/archives/C111/p1',
    ),
  );
  const json = JSON.stringify(blocks);
  assert.doesNotMatch(json, /<!channel>|<!here>|<@U0BOSS>|<https:\/\/evil/);
  assert.match(json, /&lt;!channel&gt;/);
  assert.doesNotMatch(json, /javascript:/);
  assert.match(json, /<https:\/\/wiki\.example\.com\/a%7Cb%3Ec\|Good>/);
  assert.match(json, /<https:\/\/fake\.slack\.com\/archives\/C111\/p1\|Open the conversation in Slack>/);
});

test('the triage message with the largest stored record stays within Block Kit limits', () => {
  const huge = boundedRecord(
    record({
      question: `${'<&>'.repeat(20_000)}\n`.repeat(3),
      answer: 'line & <b>\n'.repeat(10_000),
      sources: Array.from({ length: 50 }, (_, index) => ({
        title: `${'&'.repeat(300)}${index}`,
        location: '›'.repeat(500),
        link: `https://e.example/${'x'.repeat(900)}`,
      })),
    }),
  );
  const ticket = handOverTicket(huge, options);
  const message = buildTriageMessage({ ticketId: 'DH-1', ticket, filedBy: 'U0X', mode: 'rules' });
  const blocks = [...message.blocks, ...handOverBlocks(handOverDetails(huge, 'https://fake.slack.com/x'))];
  assert.equal(checkMessage(message.text, blocks), undefined);
  assert.ok(blocks.length <= 11);
});

const usage = { modelCalls: 0, cacheHits: 0, inputTokens: 0, outputTokens: 0, costMicroUsd: 0, savedMicroUsd: 0 };
const base = { answerId: 'a1', question: 'q?', standaloneQuestion: 'q?', rewritten: false, usage };

function handOverValue(blocks: unknown[]): string | undefined {
  for (const block of blocks as { elements?: { action_id?: string; value?: string }[] }[]) {
    for (const element of block.elements ?? []) if (element.action_id === handOverActionId) return element.value;
  }
  return undefined;
}

test('every answer outcome but an invalid question carries the button when a hand-over was stored, and none without', () => {
  const outcomes: AnswerOutcome[] = [
    { ...base, kind: 'no_sources', closest: [], indexVersion: 1, userMessage: 'Nothing found.' },
    { ...base, kind: 'failed', code: 'internal', userMessage: 'Something broke.' },
    { ...base, kind: 'over_budget', code: 'over_budget', userMessage: 'Budget used up.' },
    {
      ...base,
      kind: 'answered',
      markdown: 'A',
      mrkdwn: 'A',
      cited: [],
      sources: [],
      grounded: false,
      truncated: false,
      fromCache: false,
      model: 'm',
      indexVersion: 1,
    },
  ];
  for (const outcome of outcomes) {
    const withButton = buildAnswerMessage(outcome, { handOverId: 'a1' });
    assert.equal(handOverValue(withButton.blocks), 'a1', outcome.kind);
    assert.equal(checkMessage(withButton.text, withButton.blocks), undefined, outcome.kind);
    assert.equal(handOverValue(buildAnswerMessage(outcome).blocks), undefined, outcome.kind);
  }
});

test('an agent run a human declined needs a hand-over and its summary shows the button; a clean finish does not', () => {
  const state = newRunState({
    workspaceId: 'T1',
    channelId: 'C1',
    threadTs: undefined,
    requesterId: 'U1',
    goal: 'g',
    now: 0,
  });
  state.status = 'ended';
  state.outcome = { kind: 'finished', message: 'Done.' };
  assert.equal(needsHandOver(state), false);
  state.steps.push({ title: 'Refund', state: 'error', detail: 'not run: rejected by <@U2>' });
  assert.equal(needsHandOver(state), true);
  state.outcome = { kind: 'time_limit', message: 'Out of time.' };
  state.steps = [];
  assert.equal(needsHandOver(state), true);
  const limits = { maxSteps: 5, maxToolCalls: 5, maxRunMicroUsd: 1 };
  assert.equal(handOverValue(renderProgress(state, limits).blocks ?? []), undefined);
  state.handOver = true;
  assert.equal(handOverValue(renderProgress(state, limits).blocks ?? []), state.runId);
});
