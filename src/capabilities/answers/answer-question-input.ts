/**
 * What `answerQuestion` takes: the question with the asker's document access and call scope (which must agree
 * on workspace and channel), and its dependencies. With `withoutModel` the gateway is never called.
 */
import type { DeskhandError } from '../../errors.ts';
import type { CallScope, LanguageModelGateway } from '../../ports/language-model.ts';
import type { AccessScope } from '../../ports/vector-index.ts';
import type { Retriever } from './answer-source.ts';
import type { ConversationTurn, RewriteOptions } from './rewrite-question.ts';

export interface AnswerQuestionInput {
  question: string;
  access: AccessScope;
  /** Budget and cache scope of the asker; its workspace and channel must match `access`. */
  callScope: CallScope;
  /** Earlier turns of the thread, oldest first; triggers the follow-up rewrite. */
  history?: readonly ConversationTurn[];
  /** Receives the answer while it is generated: sanitised, citations renumbered, only stable text. */
  streaming?: { onTextDelta: (delta: string, textSoFar: string) => void };
  /** Id for feedback buttons and logs; generated when absent. */
  answerId?: string;
  /** Absolute deadline (ms since epoch) for the model calls. */
  deadline?: number;
  signal?: AbortSignal;
}

export interface AnswerQuestionDependencies {
  gateway: LanguageModelGateway;
  retrieve: Retriever;
  /** Chat model for answers; defaults to the gateway's configured model. */
  model?: string;
  /** Output tokens the answer may use (the budget reserves this much; default 700). */
  maxOutputTokens?: number;
  /** Questions longer than this are refused with a clear message (default 4000 characters). */
  maxQuestionCharacters?: number;
  rewrite?: RewriteOptions;
  /** Receives problems that were handled by degrading (e.g. a failed rewrite); wire to the logger. */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
  /** Receives the error behind a `failed` outcome (with its cause), so it is logged where the user sees only a reason. */
  onError?: (error: DeskhandError, details: Record<string, unknown>) => void;
  /**
   * No language model is configured: retrieval runs sparse-only and the answer is the quoted passages
   * (`without_model`); the gateway is never called, not even to rewrite a follow-up.
   */
  withoutModel?: boolean;
}

/** Deadline and abort signal the model calls of one answer share. */
export type AnswerTiming = Pick<AnswerQuestionInput, 'deadline' | 'signal'>;
