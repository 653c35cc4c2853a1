/**
 * Learning from corrections, the pure parts: the nearest-example index, the weighted vote, how rule mode applies it,
 * and how model mode fits learned examples into the prompt's token budget.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { extractTicket } from '../../src/capabilities/tickets/extract-ticket.ts';
import { applyExampleVote } from '../../src/capabilities/tickets/learning/apply-example-vote.ts';
import { maxExampleTextCharacters } from '../../src/capabilities/tickets/learning/example-features.ts';
import { fewExamplesPolicy, voteOnExamples } from '../../src/capabilities/tickets/learning/example-vote.ts';
import {
  type IndexedExample,
  maxNeighbours,
  NearestExampleIndex,
  type Neighbour,
} from '../../src/capabilities/tickets/learning/nearest-example-index.ts';
import type { NearestExamples, TicketExample } from '../../src/capabilities/tickets/learning/ticket-example.ts';
import { parseTicketExample, ticketExampleOf } from '../../src/capabilities/tickets/learning/ticket-example.ts';
import { extractByRules } from '../../src/capabilities/tickets/rule-based-extractor.ts';
import { buildTicketPrompt, type LearnedPromptExample } from '../../src/capabilities/tickets/ticket-prompt.ts';
import { defaultTicketCategories, emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { DeskhandError } from '../../src/errors.ts';
import { countTokens } from '../../src/llm/tokenizer.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';

const neighbour = (category: string, score: number, urgency = 'medium', id = `${category}-${score}`): Neighbour => ({
  example: { id, text: id, category, urgency },
  score,
  similarity: 0.5,
});

/** Neighbours found in a workspace holding 100 examples (every neighbour votes). */
const many = (neighbours: Neighbour[]) => ({ neighbours, examples: 100 });

const ruleInput = (text: string) => ({
  text,
  messageTs: '1795510800.000000',
  timeZone: 'UTC',
  categories: defaultTicketCategories,
  teamLanguage: 'en',
});

describe('the weighted vote of the nearest examples', () => {
  test('the label with most weight wins with its share; one vote each when power is 0', () => {
    const vote = voteOnExamples([neighbour('billing', 3), neighbour('bug', 2), neighbour('billing', 1)], {
      k: 3,
      power: 0,
      agreement: 0.5,
    });
    assert.equal(vote.category?.value, 'billing');
    assert.ok(Math.abs((vote.category?.share ?? 0) - 2 / 3) < 1e-9);
    assert.equal(vote.voters, 3);
  });

  test('a higher power lets the nearest example outweigh several far ones', () => {
    const neighbours = [neighbour('bug', 10), neighbour('billing', 5), neighbour('billing', 5)];
    assert.equal(voteOnExamples(neighbours, { k: 3, power: 0, agreement: 0 }).category?.value, 'billing');
    assert.equal(voteOnExamples(neighbours, { k: 3, power: 4, agreement: 0 }).category?.value, 'bug');
  });

  test('abstains below the agreement threshold and without neighbours; only the k nearest vote', () => {
    const split = [neighbour('bug', 1), neighbour('billing', 1), neighbour('question', 1)];
    assert.equal(voteOnExamples(split, { k: 3, power: 1, agreement: 0.4 }).category, undefined);
    assert.deepEqual(voteOnExamples([], { k: 3, power: 1, agreement: 0 }), { voters: 0 });
    assert.equal(voteOnExamples(split, { k: 1, power: 1, agreement: 0.4 }).category?.value, 'bug');
  });
});

describe('rule mode with learned examples', () => {
  test('the vote sets category and urgency and the rules keep ids, emails and dates', () => {
    const rules = extractByRules(ruleInput('The ATM kept my card, order #48213, write to dana@example.org by Friday'));
    const voted = applyExampleVote(
      rules,
      many([neighbour('other', 5, 'high'), neighbour('other', 4, 'high')]),
      defaultTicketCategories,
    );
    assert.equal(voted.ticket.category, 'other');
    assert.deepEqual(voted.ticket.orderIds, rules.orderIds);
    assert.equal(voted.ticket.customerEmail, 'dana@example.org');
    assert.equal(voted.ticket.deadline, rules.deadline);
    assert.ok(rules.deadline, 'the rules found the deadline');
  });

  test('never sets a category the workspace no longer has', () => {
    const rules = extractByRules(ruleInput('I was charged twice'));
    const voted = applyExampleVote(rules, many([neighbour('refunds', 9)]), defaultTicketCategories);
    assert.equal(voted.ticket.category, rules.category);
    assert.deepEqual(voted.changed, []);
  });

  test('urgency the words justify is not lowered, but can be raised', () => {
    const stolen = extractByRules(ruleInput('My card was stolen, please help'));
    assert.equal(stolen.urgency, 'critical');
    assert.equal(
      applyExampleVote(stolen, many([neighbour('other', 3, 'low')]), defaultTicketCategories).ticket.urgency,
      'critical',
    );
    const plain = extractByRules(ruleInput('How do I change my address?'));
    assert.equal(plain.urgencyReason, null);
    const raised = applyExampleVote(plain, many([neighbour('account_access', 3, 'high')]), defaultTicketCategories);
    assert.equal(raised.ticket.urgency, 'high');
    assert.deepEqual(raised.changed, ['category', 'urgency']);
  });
});

describe('a workspace with few examples', () => {
  test('only close neighbours vote until it holds fewExamplesPolicy.below examples', () => {
    const rules = extractByRules(ruleInput('How do I change my address?'));
    const far = { ...neighbour('billing', 5), similarity: fewExamplesPolicy.minSimilarity / 2 };
    const close = { ...neighbour('account_access', 5), similarity: fewExamplesPolicy.minSimilarity + 0.1 };
    const few = fewExamplesPolicy.below - 1;
    assert.equal(
      applyExampleVote(rules, { neighbours: [far], examples: few }, defaultTicketCategories).ticket.category,
      rules.category,
    );
    assert.equal(
      applyExampleVote(rules, { neighbours: [far], examples: fewExamplesPolicy.below }, defaultTicketCategories).ticket
        .category,
      'billing',
    );
    assert.equal(
      applyExampleVote(rules, { neighbours: [close], examples: 1 }, defaultTicketCategories).ticket.category,
      'account_access',
    );
  });

  test('a near-duplicate of the one corrected message is close enough; an unrelated message is not', () => {
    const index = new NearestExampleIndex();
    index.add({ id: 'x', text: 'The ATM swallowed my card this morning', category: 'bug', urgency: 'high' });
    const [duplicate] = index.nearest('The ATM swallowed my card again', 1);
    assert.ok((duplicate?.similarity ?? 0) >= fewExamplesPolicy.minSimilarity, String(duplicate?.similarity));
    const [unrelated] = index.nearest('How can I change the name on my account?', 1);
    assert.ok((unrelated?.similarity ?? 0) < fewExamplesPolicy.minSimilarity, String(unrelated?.similarity));
  });
});

describe('the nearest-example index', () => {
  const examples: IndexedExample[] = [
    { id: 'a', text: 'My card has not arrived yet', category: 'missing_delivery', urgency: 'medium' },
    { id: 'b', text: 'I was charged twice for one payment', category: 'billing', urgency: 'medium' },
    { id: 'c', text: 'The app crashes when I open it', category: 'app_crash', urgency: 'high' },
  ];

  test('finds the example that shares the words (and inflections) of the query first', () => {
    const index = new NearestExampleIndex();
    for (const example of examples) index.add(example);
    assert.equal(index.nearest('they charge me two times for a payment', 3)[0]?.example.id, 'b');
    assert.equal(index.nearest('still waiting, the card never arrives', 3)[0]?.example.id, 'a');
    assert.deepEqual(index.nearest('zzz qqq', 3), []);
  });

  test('re-adding an id replaces its labels; removing it takes it out', () => {
    const index = new NearestExampleIndex();
    for (const example of examples) index.add(example);
    index.add({ ...examples[1], category: 'bug' } as IndexedExample);
    assert.equal(index.size, 3);
    assert.equal(index.nearest('charged twice', 1)[0]?.example.category, 'bug');
    index.remove('b');
    assert.notEqual(index.nearest('charged twice', 1)[0]?.example.id, 'b');
  });

  test('answers at most maxNeighbours and reads a bounded part of a huge query quickly', () => {
    const index = new NearestExampleIndex();
    for (let number = 0; number < 200; number += 1)
      index.add({ id: `n${number}`, text: `card payment number ${number}`, category: 'billing', urgency: 'low' });
    assert.equal(index.nearest('card payment', 1_000).length, maxNeighbours);
    const started = performance.now();
    index.nearest('card payment declined '.repeat(50_000), 10);
    assert.ok(performance.now() - started < 1_000, 'a 1 MB query is cut before analysis');
  });
});

describe('labelled examples as stored', () => {
  test('an example is its ticket with a bounded text; damaged JSON is refused', () => {
    const example = ticketExampleOf({
      id: 'DH-1',
      text: 'x'.repeat(maxExampleTextCharacters + 500),
      ticket: emptyTicket({ summary: 'x', category: 'billing', urgency: 'high' }),
      messageTs: '1795510800.000000',
      timeZone: 'UTC',
      origin: 'corrected',
      recordedBy: 'W1',
      recordedAt: '2026-12-05T00:00:00.000Z',
    });
    assert.equal(example.text.length, maxExampleTextCharacters);
    assert.equal(example.category, 'billing');
    assert.deepEqual(parseTicketExample(JSON.stringify(example)), example);
    assert.equal(parseTicketExample('{not json'), undefined);
    assert.equal(parseTicketExample(JSON.stringify({ ...example, ticket: { category: 'billing' } })), undefined);
    assert.equal(parseTicketExample(JSON.stringify({ ...example, origin: 'guessed' })), undefined);
  });
});

describe('learned examples in the model prompt', () => {
  const learned = (text: string, category = 'billing'): LearnedPromptExample => ({
    text,
    messageTs: '1795510800.000000',
    timeZone: 'UTC',
    ticket: emptyTicket({ summary: text, category, urgency: 'high' }),
  });
  const base = {
    messageTs: '1795510800.000000',
    timeZone: 'UTC',
    categories: defaultTicketCategories,
    teamLanguage: 'en',
  };

  test('the nearest come after the fixed examples, nearest first, at most four, as user/assistant pairs', () => {
    const without = buildTicketPrompt({ ...base, text: 'charged twice' });
    const prompt = buildTicketPrompt({
      ...base,
      text: 'charged twice',
      learnedExamples: ['one', 'two', 'three', 'four', 'five'].map((word) => learned(`charged ${word}`)),
    });
    assert.equal(prompt.learnedExamples, 4);
    assert.equal(prompt.messages.length, without.messages.length + 8);
    const added = prompt.messages.slice(without.messages.length - 1, -1);
    assert.match(added[0]?.content ?? '', /charged one/);
    assert.equal(added[1]?.role, 'assistant');
    assert.match(added[6]?.content ?? '', /charged four/);
    assert.doesNotMatch(JSON.stringify(prompt.messages), /charged five/);
    assert.match(prompt.messages.at(-1)?.content ?? '', /charged twice/);
  });

  test('shares the input budget with the customer text: an example that does not fit is dropped, never cut', () => {
    const text = 'charged twice for my order';
    const big = learned('refund '.repeat(300));
    const small = learned('charged double');
    const textTokens = countTokens(text);
    const smallCost = buildTicketPrompt({
      ...base,
      text,
      learnedExamples: [small],
      maxInputTokens: 10_000,
    }).learnedExampleTokens;
    const prompt = buildTicketPrompt({
      ...base,
      text,
      learnedExamples: [big, small],
      maxInputTokens: textTokens + smallCost,
    });
    assert.equal(prompt.learnedExamples, 1);
    assert.equal(prompt.learnedExampleTokens, smallCost);
    assert.ok(prompt.textTokens + prompt.learnedExampleTokens <= textTokens + smallCost);
    assert.doesNotMatch(JSON.stringify(prompt.messages), /refund refund/);
    const none = buildTicketPrompt({ ...base, text, learnedExamples: [small], maxInputTokens: textTokens });
    assert.equal(none.learnedExamples, 0);
  });

  test('skips examples of categories the workspace no longer has', () => {
    const prompt = buildTicketPrompt({ ...base, text: 'x', learnedExamples: [learned('old one', 'refunds')] });
    assert.equal(prompt.learnedExamples, 0);
  });
});

describe('extractTicket with a workspace’s examples', () => {
  const stored: TicketExample = ticketExampleOf({
    id: 'DH-7',
    text: 'The cash machine swallowed my card this morning',
    ticket: emptyTicket({ summary: 'ATM kept the card', category: 'bug', urgency: 'high' }),
    messageTs: '1795510800.000000',
    timeZone: 'UTC',
    origin: 'corrected',
    recordedBy: 'W1',
    recordedAt: '2026-12-05T00:00:00.000Z',
  });
  const asked: string[] = [];
  const examples = {
    nearest: async (workspaceId: string, text: string): Promise<NearestExamples> => {
      asked.push(workspaceId);
      const index = new NearestExampleIndex<TicketExample>();
      index.add(stored);
      return { neighbours: index.nearest(text, 5), examples: 1 };
    },
  };
  const input = {
    text: 'The cash machine swallowed my card again',
    messageTs: '1795510800.000000',
    timeZone: 'UTC',
    workspaceId: 'T0SCOPE',
    channelId: 'C1',
    userId: 'W1',
  };
  const configuration = { categories: defaultTicketCategories, teamLanguage: 'en' };

  test('model mode shows the nearest correction to the model as a few-shot example of the asking workspace', async () => {
    const gateway = new ScriptedModel().enqueue({ value: emptyTicket({ summary: 'x', category: 'bug' }) });
    const outcome = await extractTicket(input, { gateway, configuration, examples });
    assert.equal(outcome.kind, 'extracted');
    const messages = gateway.calls[0]?.request.messages ?? [];
    const shown = messages.findIndex((message) => (message.content ?? '').includes('swallowed my card this morning'));
    assert.ok(shown > 0, 'the stored text is in the prompt');
    assert.equal(messages[shown + 1]?.role, 'assistant');
    assert.match(messages[shown + 1]?.content ?? '', /"category":"bug"/);
    assert.equal(asked.at(-1), 'T0SCOPE');
  });

  test('rule mode takes the correction’s category; a failing example source leaves the rules alone', async () => {
    const down = new ScriptedModel().enqueue({ error: new DeskhandError('upstream_unavailable', 'down') });
    const voted = await extractTicket(input, { gateway: down, configuration, examples });
    assert.equal(voted.kind, 'degraded');
    assert.equal(voted.kind === 'degraded' ? voted.ticket.category : '', 'bug');
    const broken = { nearest: async (): Promise<NearestExamples> => Promise.reject(new Error('redis down')) };
    const plain = await extractTicket(input, {
      gateway: down,
      configuration,
      examples: broken,
      modelConfigured: false,
    });
    assert.equal(
      plain.kind === 'degraded' ? plain.ticket.category : '',
      extractByRules({ ...input, ...configuration }).category,
    );
  });
});
