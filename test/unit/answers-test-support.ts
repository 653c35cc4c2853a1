/**
 * Support for the answers tests: passage builders and a budget error. The scripted model is the shared
 * `ScriptedModel` (test/fakes/scripted-model.ts), with its response cache on where cache behaviour is observed.
 */
import type { AnswerSource } from '../../src/capabilities/answers/answer-source.ts';
import { DeskhandError } from '../../src/errors.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';

/**
 * Still importable for `answers-handlers`, `answers-streamed-handler` and `no-model` tests, which another change is
 * editing now: the shared `ScriptedModel` with the response cache the answers tests observe. New tests use
 * `new ScriptedModel({ responseCache: true })` (test/fakes/scripted-model.ts).
 */
export class FakeGateway extends ScriptedModel {
  constructor() {
    super({ responseCache: true });
  }
}

export function passage(overrides: Partial<AnswerSource> & Pick<AnswerSource, 'documentId' | 'text'>): AnswerSource {
  return {
    title: `Title of ${overrides.documentId}`,
    sectionPath: [],
    source: `https://docs.example.com/${overrides.documentId}`,
    chunkIndexes: [0],
    tokenCount: Math.ceil(overrides.text.length / 4),
    score: 1,
    ...overrides,
  };
}

export const budgetError = () =>
  new DeskhandError('over_budget', 'channel daily cap reached', {
    userMessage: 'This channel has used its $5.00 daily model budget; it resets at midnight UTC.',
  });
