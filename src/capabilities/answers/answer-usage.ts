/**
 * Model usage of one answer, summed over its steps (rewrite, query embedding, answer). A cache hit counts as a
 * hit, never as a model call, and adds only its cost and what it saved.
 */
import type { ChatResult } from '../../ports/language-model.ts';
import type { RetrievedContext } from './answer-source.ts';

/** Model usage of one answer, all steps included (rewrite, query embedding, answer). */
export interface AnswerUsage {
  /** Calls that reached the model provider (cache hits are not counted). */
  modelCalls: number;
  /** Calls answered from the gateway's cache. */
  cacheHits: number;
  inputTokens: number;
  outputTokens: number;
  /** Integer micro-dollars actually spent. */
  costMicroUsd: number;
  /** Micro-dollars a cache hit saved. */
  savedMicroUsd: number;
}

export function emptyUsage(): AnswerUsage {
  return { modelCalls: 0, cacheHits: 0, inputTokens: 0, outputTokens: 0, costMicroUsd: 0, savedMicroUsd: 0 };
}

export function addChatUsage(usage: AnswerUsage, result: ChatResult): void {
  if (result.fromCache) usage.cacheHits += 1;
  else {
    usage.modelCalls += 1;
    usage.inputTokens += result.usage.inputTokens;
    usage.outputTokens += result.usage.outputTokens;
  }
  usage.costMicroUsd += result.costMicroUsd;
  usage.savedMicroUsd += result.savedMicroUsd;
}

export function addRetrievalUsage(usage: AnswerUsage, context: RetrievedContext): void {
  if (!context.usage) return;
  usage.modelCalls += context.usage.modelCalls;
  usage.inputTokens += context.usage.inputTokens;
  usage.costMicroUsd += context.usage.costMicroUsd;
}
