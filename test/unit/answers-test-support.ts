/**
 * Support for the answers tests: passage builders and a budget error. The scripted model is the shared
 * `ScriptedModel` (test/fakes/scripted-model.ts), with its response cache on where cache behaviour is observed.
 */
import type { AnswerSource } from '../../src/capabilities/answers/answer-source.ts';
import { DeskhandError } from '../../src/errors.ts';

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
